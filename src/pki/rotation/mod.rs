//! CA rotation, as the files show it (issue 16).
//!
//! The phase of a rotation is never saved: it is inferred from the files alone, so a run that
//! was interrupted resumes by running the same phase again. For a CA with files `<ca>.crt` and
//! `<ca>.key` (`ca`, `front-proxy-ca`, `etcd/ca`):
//!
//! | phase | `<ca>.crt` (what components trust) | `<ca>.key` | `<ca>.new.crt/.key` | leaves |
//! |---|---|---|---|---|
//! | `none` | one certificate | its key | absent | signed by it |
//! | `trusting-both` | old, new | old | the new CA | signed by old |
//! | `promoted` | new, old | new | the new CA | some still signed by old |
//! | `reissued` | new, old | new | the new CA | all signed by new |
//!
//! The first certificate of `<ca>.crt` is always the one `<ca>.key` belongs to (what `renew`
//! signs with). For `ca`, kube-controller-manager's `--cluster-signing-cert-file` must hold one
//! certificate, so while `ca.crt` is a bundle it reads `ca.signing.crt` (the signer alone, with
//! `--cluster-signing-key-file=ca.key`).

pub mod service_account;

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::catalog::kubeconfig_ca;
use super::catalog::{self, Profile};
use super::cert::{self, CertFacts};
use super::inventory::{Found, Inventory, Wanted};
use super::store::Layout;

/// The CAs that can be rotated, by the names `--ca` takes.
pub const ROTATABLE: [&str; 3] = ["ca", "front-proxy-ca", catalog::ETCD_CA];

/// A phase of `rotate-ca`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A new CA beside the old; every trust file trusts both.
    Start,
    /// The new CA signs; every certificate of the old one re-signed.
    Reissue,
    /// The new CA alone; refused before `Reissue`.
    Finish,
    /// Back to the old CA alone (from any phase before `finish`).
    Abort,
    /// Back to `trusting-both` (from a phase after `reissue`): the step back that keeps every
    /// peer trusting every certificate in use, before `Abort` drops the new CA.
    AbortReissue,
}

/// What one `rotate-ca` rotation is about: a CA, or the service-account key pair.
#[derive(Debug, Clone)]
pub enum Rotated {
    /// A CA and the files it signs or that trust it.
    Ca(RotationFiles),
    /// `sa.key` and `sa.pub`.
    ServiceAccount(service_account::SaFiles),
}

impl Rotated {
    /// The name `--ca` takes for it.
    pub fn name(&self) -> &'static str {
        match self {
            Rotated::Ca(f) => f.ca.name,
            Rotated::ServiceAccount(_) => service_account::NAME,
        }
    }

    /// What reading its rotation needs, besides the whole tree.
    pub fn wanted(&self) -> Vec<Wanted> {
        match self {
            Rotated::Ca(f) => f.wanted(),
            Rotated::ServiceAccount(f) => f.wanted(),
        }
    }
}

/// A CA's rotation files.
#[derive(Debug, Clone)]
pub struct RotationFiles {
    /// The CA's catalog profile.
    pub ca: &'static Profile,
    /// `<ca>.crt`: what components trust (one certificate, or old and new during a rotation).
    pub bundle: PathBuf,
    /// `<ca>.key`: the key of the first certificate of the bundle, what signs.
    pub key: PathBuf,
    /// `<ca>.new.crt`: the pending new CA, from `start` until `finish` archives it.
    pub new_cert: PathBuf,
    /// `<ca>.new.key`: its key (0600).
    pub new_key: PathBuf,
    /// `ca.signing.crt`, for the cluster CA only.
    pub signing: Option<PathBuf>,
    /// `<ca>.cross.crt`: the new CA cross-signed by the old one (`start --cross-sign`).
    pub cross: PathBuf,
}

impl RotationFiles {
    /// The rotation files of `ca` in `layout`'s certificate directory.
    pub fn of(layout: &Layout, ca: &'static Profile) -> RotationFiles {
        RotationFiles {
            ca,
            bundle: layout.cert_path(ca, ""),
            key: layout.key_path(ca, ""),
            new_cert: layout.rotation_new_cert(ca),
            new_key: layout.rotation_new_key(ca),
            signing: (ca.name == catalog::KUBECONFIG_CA).then(|| layout.signing_cert()),
            cross: layout.rotation_cross_cert(ca),
        }
    }

    /// What reading this CA's rotation needs, besides the whole tree.
    pub fn wanted(&self) -> Vec<Wanted> {
        let mut w = vec![
            Wanted::Pair(self.ca, String::new()),
            Wanted::Cert(self.new_cert.clone()),
            Wanted::Key(self.new_key.clone()),
            Wanted::Cert(self.cross.clone()),
        ];
        w.extend(self.signing.iter().map(|p| Wanted::Cert(p.clone())));
        w
    }
}

/// The phase of a rotation, inferred from the files (see the table above).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// No rotation in progress: one CA (or key).
    None,
    /// After `start`: trust holds old and new, the old one signs.
    TrustingBoth,
    /// After an incomplete `reissue`: the new one signs, some certificates are still the old one's.
    Promoted,
    /// After `reissue`: the new one signs every certificate; `finish` may run.
    Reissued,
}

impl Phase {
    /// The phase's name, as `status` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::None => "none",
            Phase::TrustingBoth => "trusting-both",
            Phase::Promoted => "promoted",
            Phase::Reissued => "reissued",
        }
    }
}

/// Which CA generation a certificate is, relative to the rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Generation {
    /// The one CA, when no rotation is in progress.
    Current,
    /// The CA (or key) being rotated out.
    Old,
    /// The CA (or key) being rotated in.
    New,
    /// Neither CA signed it (another CA, or it does not parse).
    Unknown,
}

/// One file of the tree that depends on the CA.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileState {
    /// The file.
    pub path: PathBuf,
    /// For leaves and kubeconfig client certificates: which CA signed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<Generation>,
    /// For trust files (CA files, kubeconfigs' certificate-authority-data): which CAs it holds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusts: Vec<Generation>,
    /// For certificate files: the cross-signed new CA follows the certificate in the file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cross_signed_chain: bool,
}

/// The rotation of one CA, as the files show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaRotation {
    /// The CA's name (`ca`, `front-proxy-ca`, `etcd-ca`).
    pub ca: &'static str,
    /// The phase inferred from the files.
    pub phase: Phase,
    /// `<ca>.crt`.
    pub bundle: PathBuf,
    /// How many certificates `<ca>.crt` holds (1, or 2 during a rotation).
    pub certificates_in_bundle: usize,
    /// The pending new CA (`<ca>.new.crt`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_new_ca: Option<PathBuf>,
    /// `ca.signing.crt`, when it exists: the controller manager's single signing certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_cert: Option<PathBuf>,
    /// `<ca>.cross.crt`, when it exists: the new CA cross-signed by the old one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_signed_ca: Option<PathBuf>,
    /// Every file that depends on the CA: the bundle first, then the others by path.
    pub files: Vec<FileState>,
    /// The old CA certificate (DER): the only one in phase `none`.
    #[serde(skip)]
    pub old: Option<Vec<u8>>,
    /// The new CA certificate (DER), from `start` on.
    #[serde(skip)]
    pub new: Option<Vec<u8>>,
    /// `<ca>.new.crt` (DER), when it exists (also after an interrupted `finish`, where it equals
    /// the only CA).
    #[serde(skip)]
    pub pending: Option<Vec<u8>>,
    /// The cross-signed new CA (DER), checked: the new CA's subject and key, signed by the old.
    #[serde(skip)]
    pub cross: Option<Vec<u8>>,
}

impl CaRotation {
    /// Files still signed by the old CA, or trusting only it: what `finish` refuses over.
    pub fn still_old(&self) -> Vec<&Path> {
        self.files
            .iter()
            .filter(|f| {
                f.signed_by == Some(Generation::Old)
                    || (!f.trusts.is_empty() && !f.trusts.contains(&Generation::New))
            })
            .map(|f| f.path.as_path())
            .collect()
    }
}

/// Infers the rotation of `files.ca` from `inventory` (the whole tree, plus `files.wanted()`).
/// `Err` names what makes the CA files unusable for a rotation.
pub fn infer(inventory: &Inventory, files: &RotationFiles) -> Result<CaRotation, String> {
    let pair = inventory
        .pair(files.ca, "")
        .ok_or("internal: the CA was not read")?;
    let bundle = match &pair.cert {
        Found::Present(c) => c.chain.clone(),
        Found::Missing => return Err(format!("{}: missing", files.bundle.display())),
        Found::Broken(p) => return Err(format!("{}: {}", files.bundle.display(), p.message)),
    };
    let pending = match inventory.cert_file(&files.new_cert) {
        Some(Found::Present(c)) => c.chain.first().cloned(),
        Some(Found::Broken(p)) => {
            return Err(format!("{}: {}", files.new_cert.display(), p.message));
        }
        _ => None,
    };
    let key_raw = pair.key.present().map(|k| k.key.public_key_raw().to_vec());
    let signs = |der: &[u8]| {
        CertFacts::from_der(der).is_ok_and(|f| Some(&f.public_key_raw) == key_raw.as_ref())
    };
    let (phase, old, new) = match (bundle.as_slice(), &pending) {
        ([only], _) => (Phase::None, Some(only.clone()), None),
        ([first, second], Some(p)) if p == second && signs(first) => (
            Phase::TrustingBoth,
            Some(first.clone()),
            Some(second.clone()),
        ),
        ([first, second], Some(p)) if p == first && signs(first) => {
            (Phase::Reissued, Some(second.clone()), Some(first.clone()))
        }
        _ => {
            return Err(format!(
                "{}: {} certificates, not a CA rotation kubepki recognises (expected one, or old \
                 and new with {} as the new one)",
                files.bundle.display(),
                bundle.len(),
                files.new_cert.display()
            ));
        }
    };
    let cross_file = match inventory.cert_file(&files.cross) {
        Some(Found::Present(c)) => c.chain.first().cloned(),
        Some(Found::Broken(p)) => return Err(format!("{}: {}", files.cross.display(), p.message)),
        _ => None,
    };
    let cross = match (&cross_file, &old, &new) {
        (Some(c), Some(o), Some(n)) => {
            if !cross_signs_new(c, o, n) {
                return Err(format!(
                    "{}: not the new CA {} cross-signed by the old one (its subject and key must \
                     be the new CA's, its signature the old CA's)",
                    files.cross.display(),
                    files.new_cert.display()
                ));
            }
            Some(c.clone())
        }
        _ => None,
    };
    let with_cross = |chain: &[Vec<u8>]| cross.as_ref().is_some_and(|c| chain.get(1) == Some(c));
    let generation = |chain: &[Vec<u8>]| match (&old, &new) {
        (Some(o), _)
            if chain
                .first()
                .is_some_and(|c| cert::verify_signed_by(c, o).is_ok()) =>
        {
            Generation::Old
        }
        (_, Some(n))
            if chain
                .first()
                .is_some_and(|c| cert::verify_signed_by(c, n).is_ok()) =>
        {
            Generation::New
        }
        _ => Generation::Unknown,
    };
    let trust = |cas: &[Vec<u8>]| -> Vec<Generation> {
        cas.iter()
            .map(|c| {
                if Some(c) == old.as_ref() {
                    Generation::Old
                } else if Some(c) == new.as_ref() {
                    Generation::New
                } else {
                    Generation::Unknown
                }
            })
            .collect()
    };
    let mut out = vec![FileState {
        path: files.bundle.clone(),
        signed_by: None,
        trusts: trust(&bundle),
        cross_signed_chain: false,
    }];
    let mut leaves: Vec<FileState> = Vec::new();
    for (name, _, p) in inventory.pairs() {
        let Some(profile) = catalog::find(name) else {
            continue;
        };
        if profile.is_ca() || profile.issuer().name != files.ca.name {
            continue;
        }
        if let Found::Present(c) = &p.cert {
            leaves.push(FileState {
                path: p.cert_path.clone(),
                signed_by: Some(generation(&c.chain)),
                trusts: Vec::new(),
                cross_signed_chain: with_cross(&c.chain),
            });
        }
    }
    if files.ca.name == catalog::ETCD_CA {
        for node in super::inventory::etcd_members(inventory.layout()) {
            let path = inventory.layout().etcd_member_ca(&node);
            if let Some(Found::Present(c)) = inventory.cert_file(&path) {
                leaves.push(FileState {
                    path,
                    signed_by: None,
                    trusts: trust(&c.chain),
                    cross_signed_chain: false,
                });
            }
        }
    }
    if files.ca.name == kubeconfig_ca().name {
        for (path, found) in inventory.kubeconfigs() {
            let Found::Present(k) = found else { continue };
            let Ok(current) = &k.current else { continue };
            leaves.push(FileState {
                path: path.to_path_buf(),
                signed_by: current.client.as_ref().ok().map(|(c, _)| generation(c)),
                trusts: current.ca.as_ref().map(|c| trust(c)).unwrap_or_default(),
                cross_signed_chain: false,
            });
        }
    }
    leaves.sort_by(|a, b| a.path.cmp(&b.path));
    out.extend(leaves);
    if phase == Phase::None {
        for f in &mut out {
            for g in f.signed_by.iter_mut().chain(f.trusts.iter_mut()) {
                if *g == Generation::Old {
                    *g = Generation::Current;
                }
            }
        }
    }
    let phase = match phase {
        Phase::Reissued if out.iter().any(|f| f.signed_by == Some(Generation::Old)) => {
            Phase::Promoted
        }
        p => p,
    };
    let signing_cert = files
        .signing
        .clone()
        .filter(|p| matches!(inventory.cert_file(p), Some(Found::Present(_))));
    Ok(CaRotation {
        ca: files.ca.name,
        phase,
        certificates_in_bundle: bundle.len(),
        bundle: files.bundle.clone(),
        pending_new_ca: pending.as_ref().map(|_| files.new_cert.clone()),
        signing_cert,
        cross_signed_ca: cross_file.as_ref().map(|_| files.cross.clone()),
        files: out,
        old,
        new,
        pending,
        cross,
    })
}

/// Whether `cross` is `new` cross-signed by `old`: the new CA's subject and public key, a CA,
/// and `old`'s signature.
pub fn cross_signs_new(cross: &[u8], old: &[u8], new: &[u8]) -> bool {
    let (Ok(c), Ok(n)) = (CertFacts::from_der(cross), CertFacts::from_der(new)) else {
        return false;
    };
    c.is_ca
        && c.subject == n.subject
        && c.public_key_raw == n.public_key_raw
        && cert::verify_signed_by(cross, old).is_ok()
}
