//! `rotate-ca`: the phases of a CA rotation as plan items (see [`crate::pki::rotation`] for the
//! files of each phase). Every phase compares what each file should hold with what it holds, so
//! a phase run again plans nothing, and a phase interrupted is completed.

use std::path::Path;

use super::authority::{Authorities, CaState};
use super::renew::{self, Target};
use super::{ItemKind, PlanItem, Request};
use crate::pki::catalog;
use crate::pki::cert::{self, Authority, CertFacts, CertSpec};
use crate::pki::error::{Error, Result};
use crate::pki::inventory::{Found, Inventory};
use crate::pki::keys::PrivateKey;
pub use crate::pki::rotation::Step;
use crate::pki::rotation::{self, CaRotation, Generation, Phase, Rotated, RotationFiles};
use crate::pki::store::FileKind;

use super::rotate_items::{Written, archive_item, archive_named, pem, write_item};

/// `rotate-ca PHASE --ca NAME`.
#[derive(Debug, Clone)]
pub struct RotateWant {
    /// What is rotated.
    pub what: Rotated,
    /// The phase to run.
    pub step: Step,
    /// `start --cross-sign`: also cross-sign the new CA with the old one.
    pub cross_sign: bool,
}

pub(super) fn plan(
    request: &Request,
    inventory: &Inventory,
    cas: &mut Authorities,
    want: &RotateWant,
) -> Result<Vec<PlanItem>> {
    let files = match &want.what {
        Rotated::Ca(files) => files,
        Rotated::ServiceAccount(files) => {
            return super::rotate_sa::plan(request, inventory, files, want.step);
        }
    };
    let rot = rotation::infer(inventory, files).map_err(|e| Error::bad_file(&files.bundle, e))?;
    match want.step {
        Step::Start => start(request, inventory, files, &rot, want.cross_sign),
        Step::Reissue => reissue(request, inventory, cas, files, &rot),
        Step::Finish => finish(inventory, files, &rot),
        Step::Abort => super::rotate_abort::plan(request, files, &rot, false),
        Step::AbortReissue => super::rotate_abort::plan(request, files, &rot, true),
    }
}

fn start(
    request: &Request,
    inventory: &Inventory,
    files: &RotationFiles,
    rot: &CaRotation,
    cross_sign: bool,
) -> Result<Vec<PlanItem>> {
    let old = match (rot.phase, &rot.old) {
        (Phase::None | Phase::TrustingBoth, Some(old)) => old.clone(),
        _ => return Err(past(files, rot, "start")),
    };
    if inventory
        .pair(files.ca, "")
        .is_none_or(|p| p.key.present().is_none())
    {
        return Err(Error::bad_file(
            &files.key,
            format!(
                "cannot rotate {}: its key is absent or unusable (an external CA is rotated \
                 where its key is)",
                files.ca.name
            ),
        ));
    }
    let mut writes: Written = Vec::new();
    let new = match (&rot.new, pending_pair(inventory, files)?) {
        (Some(new), _) => new.clone(),
        // A pending new CA (an earlier start stopped after writing it): use it.
        (None, Some((der, _))) => der,
        (None, None) => {
            let facts = CertFacts::from_der(&old).map_err(|e| Error::bad_file(&files.bundle, e))?;
            let algorithm = facts.key_algorithm.unwrap_or(request.options.key_algorithm);
            let key = PrivateKey::generate(algorithm)?;
            let (not_before, not_after) =
                cert::validity(request.options.now, request.options.ca_validity);
            // The same CN, but a subject of its own: a verifier that picks the issuer by name
            // (OpenSSL, for a certificate without an authority key identifier) must not find
            // the old CA under the new one's name.
            let spec = CertSpec {
                common_name: facts.common_name.clone(),
                organizations: vec![format!(
                    "kubepki-rotation-{}",
                    request.options.now.unix_timestamp()
                )],
                alt_names: facts.alt_names.clone(),
                usages: Vec::new(),
                is_ca: true,
                not_before,
                not_after,
            };
            let der = cert::issue(&spec, &key, None)?;
            writes.push((
                files.new_key.clone(),
                FileKind::PrivateKey,
                key.to_pem()?.into_bytes(),
            ));
            writes.push((
                files.new_cert.clone(),
                FileKind::Certificate,
                cert::cert_pem(&der).into_bytes(),
            ));
            der
        }
    };
    let mut items = Vec::new();
    if cross_sign && rot.cross.is_none() {
        items.push(super::rotate_cross::cross_item(
            request, inventory, files, &old, &new,
        )?);
    } else if rot.cross.is_none() && rot.cross_signed_ca.is_some() {
        // A cross-signed CA of an earlier rotation, left behind: not this one's.
        items.push(archive_named(files.ca.name, vec![files.cross.clone()]));
    }
    let both = [old.clone(), new];
    ca_files(inventory, files, &both, &old, &mut writes);
    items.insert(0, write_item(files, "start", writes));
    items.extend(trust_files(inventory, files, rot, &both)?);
    Ok(items.into_iter().flatten().collect())
}

fn reissue(
    request: &Request,
    inventory: &Inventory,
    cas: &mut Authorities,
    files: &RotationFiles,
    rot: &CaRotation,
) -> Result<Vec<PlanItem>> {
    let (Some(old), Some(new)) = (&rot.old, &rot.new) else {
        return Err(Error::bad_file(
            &files.bundle,
            format!(
                "no rotation of {} in progress: run `rotate-ca start` first",
                files.ca.name
            ),
        ));
    };
    let mut items = Vec::new();
    if rot.phase == Phase::TrustingBoth {
        // The new CA signs from now on: first in the bundle, its key in <ca>.key.
        let Some((_, key)) = pending_pair(inventory, files)? else {
            return Err(Error::bad_file(&files.new_key, "the new CA key is missing"));
        };
        let both = [new.clone(), old.clone()];
        let mut writes: Written = vec![(
            files.key.clone(),
            FileKind::PrivateKey,
            key.to_pem()?.into_bytes(),
        )];
        ca_files(inventory, files, &both, new, &mut writes);
        items.extend(write_item(files, "reissue: the new CA signs", writes));
        let authority =
            Authority::new(new.clone(), key).map_err(|e| Error::bad_file(&files.new_key, e))?;
        cas.set(
            files.ca,
            CaState::Loaded {
                certs: both.to_vec(),
            },
            Some(authority),
        );
    }
    if files.ca.name == catalog::ETCD_CA {
        // The members' copies of the etcd CA follow the bundle's order (new, old), so they stay
        // byte-identical to etcd/ca.crt, which check-expiration and issue compare byte for
        // byte. (For the cluster CA, reissue rewrites the kubeconfigs through renew.)
        let both = [new.clone(), old.clone()];
        items.extend(
            trust_files(inventory, files, rot, &both)?
                .into_iter()
                .flatten(),
        );
    }
    if let Some(cross) = &rot.cross {
        // Every certificate the new CA signs carries the cross-signed CA after it.
        cas.get(files.ca);
        cas.set_chain(files.ca, vec![cross.clone()]);
    }
    for f in &rot.files {
        if f.signed_by != Some(Generation::Old) {
            continue;
        }
        let Some(target) = target_of(inventory, &f.path) else {
            continue;
        };
        let Some(ca) = cas.get(target.ca()) else {
            continue;
        };
        items.push(renew::plan(request, inventory, &target, (false, None), ca)?);
    }
    Ok(items)
}

fn finish(inventory: &Inventory, files: &RotationFiles, rot: &CaRotation) -> Result<Vec<PlanItem>> {
    match rot.phase {
        // Nothing in progress; a pending file left by an interrupted finish is archived.
        Phase::None => return Ok(archive_item(files, rot, Vec::new()).into_iter().collect()),
        Phase::TrustingBoth | Phase::Promoted => {
            let list: Vec<String> = rot
                .still_old()
                .iter()
                .map(|p| format!("  {}", p.display()))
                .collect();
            return Err(Error::bad_file(
                &files.bundle,
                format!(
                    "cannot finish the rotation of {} in phase {}: run `rotate-ca reissue` first; \
                     still signed by or trusting only the old CA:\n{}",
                    files.ca.name,
                    rot.phase.name(),
                    list.join("\n")
                ),
            ));
        }
        Phase::Reissued => {}
    }
    let new = rot
        .new
        .clone()
        .ok_or_else(|| Error::Crypto("internal: no new CA".into()))?;
    let mut writes = Vec::new();
    let only = [new.clone()];
    ca_files(inventory, files, &only, &new, &mut writes);
    let mut items: Vec<PlanItem> = write_item(files, "finish: the new CA alone", writes)
        .into_iter()
        .collect();
    items.extend(
        trust_files(inventory, files, rot, &only)?
            .into_iter()
            .flatten(),
    );
    items.extend(super::rotate_cross::strip_items(inventory, files, rot));
    let mut archive = vec![files.new_cert.clone(), files.new_key.clone()];
    archive.extend(rot.cross_signed_ca.clone());
    items.extend(archive_item(files, rot, archive));
    Ok(items)
}

/// The CA files: the bundle `<ca>.crt` holding `trust`, and `ca.signing.crt` holding `signer`.
fn ca_files(
    inventory: &Inventory,
    files: &RotationFiles,
    trust: &[Vec<u8>],
    signer: &[u8],
    writes: &mut Written,
) {
    let holds = |path: &Path, want: &[Vec<u8>]| match inventory.cert_file(path) {
        Some(Found::Present(c)) => c.chain == want,
        _ => inventory
            .pair(files.ca, "")
            .filter(|p| p.cert_path == path)
            .and_then(|p| p.cert.present())
            .is_some_and(|c| c.chain == want),
    };
    if !holds(&files.bundle, trust) {
        writes.push((files.bundle.clone(), FileKind::Certificate, pem(trust)));
    }
    if let Some(signing) = &files.signing
        && !holds(signing, &[signer.to_vec()])
    {
        writes.push((
            signing.clone(),
            FileKind::Certificate,
            pem(&[signer.to_vec()]),
        ));
    }
}

/// The trust files besides the CA file: kubeconfigs' certificate-authority-data (cluster CA),
/// the etcd members' copies of the etcd CA; each rewritten to hold `trust` when it does not.
fn trust_files(
    inventory: &Inventory,
    files: &RotationFiles,
    rot: &CaRotation,
    trust: &[Vec<u8>],
) -> Result<Vec<Option<PlanItem>>> {
    let mut items = Vec::new();
    for f in rot.files.iter().skip(1) {
        if f.trusts.is_empty() {
            continue;
        }
        let wanted: Vec<Generation> = trust
            .iter()
            .map(|c| {
                if Some(c) == rot.old.as_ref() {
                    Generation::Old
                } else {
                    Generation::New
                }
            })
            .collect();
        if f.trusts == wanted {
            continue;
        }
        let contents = match inventory.kubeconfig(&f.path) {
            Some(Found::Present(k)) => {
                let mut config = k.config.clone();
                let pem = String::from_utf8(pem(trust)).unwrap_or_default();
                config
                    .refresh_ca(&pem)
                    .map_err(|e| Error::bad_file(&f.path, e))?;
                let yaml = config.to_yaml().map_err(|e| Error::bad_file(&f.path, e))?;
                // A CA given as a file path (not embedded) is that file's business: unchanged.
                if k.config.to_yaml().is_ok_and(|before| before == yaml) {
                    continue;
                }
                (FileKind::Kubeconfig, yaml.into_bytes())
            }
            _ => (FileKind::Certificate, pem(trust)),
        };
        let item = write_item(
            files,
            "trust",
            vec![(f.path.clone(), contents.0, contents.1)],
        );
        items.push(item.map(|mut i| {
            i.decision.name = f
                .path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            i.decision.kind = if contents.0 == FileKind::Kubeconfig {
                ItemKind::Kubeconfig
            } else {
                ItemKind::Certificate
            };
            i
        }));
    }
    Ok(items)
}

/// The renewal target of a file that a CA signed.
fn target_of(inventory: &Inventory, path: &Path) -> Option<Target> {
    if inventory.kubeconfig(path).is_some() {
        return Some(Target::KubeconfigFile(path.to_path_buf()));
    }
    inventory
        .pairs()
        .find(|(_, _, p)| p.cert_path == path)
        .and_then(|(name, node, _)| {
            catalog::find(name).map(|profile| Target::Cert {
                profile,
                node: node.to_string(),
            })
        })
}

/// The pending new CA `<ca>.new.crt` with its key `<ca>.new.key`, checked to belong together.
fn pending_pair(
    inventory: &Inventory,
    files: &RotationFiles,
) -> Result<Option<(Vec<u8>, PrivateKey)>> {
    let cert = match inventory.cert_file(&files.new_cert) {
        Some(Found::Present(c)) => c.chain[0].clone(),
        Some(Found::Broken(p)) => return Err(p.to_error(&files.new_cert)),
        _ => return Ok(None),
    };
    let key = match inventory.key_file(&files.new_key) {
        Some(Found::Present(k)) => k
            .key
            .duplicate()
            .map_err(|e| Error::bad_file(&files.new_key, e))?,
        Some(Found::Broken(p)) => return Err(p.to_error(&files.new_key)),
        _ => {
            return Err(Error::bad_file(
                &files.new_key,
                "missing beside its certificate",
            ));
        }
    };
    let authority =
        Authority::new(cert.clone(), key).map_err(|e| Error::bad_file(&files.new_key, e))?;
    Ok(Some((cert, authority.key)))
}

fn past(files: &RotationFiles, rot: &CaRotation, step: &str) -> Error {
    Error::bad_file(
        &files.bundle,
        format!(
            "the rotation of {} is in phase {}: `{step}` is behind it",
            files.ca.name,
            rot.phase.name()
        ),
    )
}
