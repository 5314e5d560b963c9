//! `import-signed`: the certificates an external CA signed for the requests `generate-csr`
//! made, checked and put in place, so that the tree becomes an external-CA tree `init` reuses
//! as it is (kubeadm's external CA mode: `ca.crt` without `ca.key`).
//!
//! Each certificate given is matched to one target of the tree: by its file name when that
//! names one (`apiserver.crt`, `etcd/server.crt`, `admin.conf.crt`), else by its public key.
//! It must then be for that target's key, carry what the target's request asked for (CN, every
//! O, every SAN), the extended key usages of the target's role, not be a CA, be valid now, and
//! chain to the CA of the tree (`ca.crt`, `front-proxy-ca.crt`, `etcd/ca.crt`). When the tree
//! has no such CA file, the CA certificates given (`--ca-bundle`, or standing alone among the
//! files) are the candidates: the one that signed the family's certificates becomes the tree's
//! CA file, and every certificate of the family must chain to it.
//!
//! A certificate goes beside its key (`<base>.crt`, with the intermediates that followed it in
//! its file); a kubeconfig's goes into `client-certificate-data`, with the CA in
//! `certificate-authority-data`. Every problem of every file is reported before anything is
//! written; a file that already holds another certificate is a conflict unless `--force`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Action, Decision, ItemKind, PlanItem, Request, Work, force_hint};
use crate::pki::catalog::{self, ExtUsage, KubeconfigProfile, Profile};
use crate::pki::cert::{self, CertFacts};
use crate::pki::error::{Error, ErrorKind, Result};
use crate::pki::inventory::{Found, Inventory, Wanted, chain_problem, kubeconfig_ca};
use crate::pki::store::{FileKind, Layout};

mod check;

use check::{Trust, check_signed};

/// The certificates given to `import-signed`, as the command line read them from its FILE|DIR
/// arguments and `--ca-bundle`, and the targets of the run.
#[derive(Debug, Default)]
pub struct Signed {
    /// One leaf certificate each, with the intermediates that followed it in its file.
    pub inputs: Vec<SignedInput>,
    /// CA certificates given (`--ca-bundle`, or standing alone among the inputs), each with the
    /// file it came from: the candidates for a CA file the tree does not have yet.
    pub cas: Vec<(PathBuf, Vec<u8>)>,
    /// What this run may import into, in the order items are reported.
    pub targets: Vec<ImportTarget>,
}

/// One signed certificate given.
#[derive(Debug, Clone)]
pub struct SignedInput {
    /// How messages name it: its file, with `#N` when the file holds several certificates.
    pub name: PathBuf,
    /// The path that names its target (`etcd/server.crt`, `admin.conf.crt`): relative to the
    /// directory given, or the file as given; `None` when its file holds several leaves.
    pub named_as: Option<PathBuf>,
    /// The leaf first, then the intermediates that followed it in its file.
    pub chain: Vec<Vec<u8>>,
}

/// A file of the tree a signed certificate can go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportTarget {
    /// A control-plane leaf: `<base>.crt` beside `<base>.key` and `<base>.csr`.
    Cert(&'static Profile),
    /// One of kubeadm's kubeconfigs, its client certificate signed for `<file>.csr`.
    Kubeconfig(&'static KubeconfigProfile),
    /// A CA file of the tree, written from a CA certificate given when the tree has none.
    Ca(&'static Profile),
}

impl ImportTarget {
    /// The files planning it reads.
    pub(super) fn wanted(&self, layout: &Layout) -> Vec<Wanted> {
        match *self {
            ImportTarget::Cert(p) => vec![
                Wanted::Pair(p, String::new()),
                Wanted::Csr(layout.csr_path(p, "")),
            ],
            ImportTarget::Kubeconfig(k) => vec![
                Wanted::Kubeconfig(layout.kubeconfig_path(k, "")),
                Wanted::Csr(layout.kubeconfig_csr_path(k, "")),
            ],
            ImportTarget::Ca(p) => vec![Wanted::Pair(p, String::new())],
        }
    }

    fn name(&self) -> &'static str {
        match self {
            ImportTarget::Cert(p) | ImportTarget::Ca(p) => p.name,
            ImportTarget::Kubeconfig(k) => k.file_name,
        }
    }

    /// The file name a signed certificate for it has: `<base>.crt`, `<file>.crt`.
    fn signed_name(&self) -> Option<PathBuf> {
        match self {
            ImportTarget::Cert(p) => Some(format!("{}.crt", p.base_name).into()),
            ImportTarget::Kubeconfig(k) => Some(format!("{}.crt", k.file_name).into()),
            ImportTarget::Ca(_) => None,
        }
    }

    /// The CA whose family it belongs to.
    fn ca(&self) -> &'static Profile {
        match self {
            ImportTarget::Cert(p) => p.issuer(),
            ImportTarget::Kubeconfig(_) => kubeconfig_ca(),
            ImportTarget::Ca(p) => p,
        }
    }

    /// Where its key is, for messages.
    fn key_place(&self, layout: &Layout) -> String {
        match self {
            ImportTarget::Cert(p) => layout.key_path(p, "").display().to_string(),
            ImportTarget::Kubeconfig(k) => format!(
                "the client-key-data of {}",
                layout.kubeconfig_path(k, "").display()
            ),
            ImportTarget::Ca(p) => layout.key_path(p, "").display().to_string(),
        }
    }

    /// The public key of its key on disk.
    fn public_key<'i>(&self, inventory: &'i Inventory, layout: &Layout) -> Option<&'i [u8]> {
        match self {
            ImportTarget::Cert(p) => inventory
                .pair(p, "")?
                .key
                .present()
                .map(|k| k.key.public_key_raw()),
            ImportTarget::Kubeconfig(k) => {
                match inventory.kubeconfig(&layout.kubeconfig_path(k, ""))? {
                    Found::Present(f) => f
                        .current
                        .as_ref()
                        .ok()?
                        .client_key
                        .as_ref()
                        .ok()
                        .map(|k| k.public_key_raw()),
                    _ => None,
                }
            }
            ImportTarget::Ca(_) => None,
        }
    }
}

/// Which target each input is for (an index into `signed.targets`), or why none.
fn assign(signed: &Signed, inventory: &Inventory, layout: &Layout) -> Vec<Result<usize, String>> {
    let keys: Vec<Option<&[u8]>> = signed
        .targets
        .iter()
        .map(|t| t.public_key(inventory, layout))
        .collect();
    let describe = |t: usize| {
        let target = &signed.targets[t];
        format!("{} ({})", target.name(), target.key_place(layout))
    };
    let mut assigned: Vec<Result<usize, String>> = Vec::with_capacity(signed.inputs.len());
    for input in &signed.inputs {
        let public_key = match CertFacts::from_der(&input.chain[0]) {
            Ok(facts) => facts.public_key_raw,
            Err(e) => {
                assigned.push(Err(e));
                continue;
            }
        };
        let by_key = keys.iter().position(|k| *k == Some(&public_key[..]));
        let by_name = input.named_as.as_ref().and_then(|named| {
            signed
                .targets
                .iter()
                .position(|t| t.signed_name().is_some_and(|n| named.ends_with(n)))
        });
        assigned.push(match (by_name, by_key) {
            (Some(t), Some(k)) if t == k => Ok(t),
            (Some(t), _) if keys[t].is_none() => Err(format!(
                "is named for {}, whose key does not exist or cannot be read (generate-csr \
                 makes it)",
                describe(t)
            )),
            (Some(t), Some(k)) => Err(format!(
                "is named for {} but is not for its key: its public key is the one of {}",
                describe(t),
                describe(k)
            )),
            (Some(t), None) => Err(format!(
                "is named for {} but is not for its key: its public key is none of the keys \
                 generate-csr made (a certificate for another key)",
                describe(t)
            )),
            (None, Some(k)) => Ok(k),
            (None, None) => Err(format!(
                "is for none of the keys generate-csr made in {} and {} (a certificate for \
                 another key?)",
                layout.cert_dir().display(),
                layout.kubeconfig_dir().display()
            )),
        });
    }
    // One certificate per target: a second one is refused, naming the first.
    for i in 0..assigned.len() {
        if let Ok(t) = assigned[i]
            && let Some(first) = (0..i).find(|&j| assigned[j] == Ok(t))
        {
            assigned[i] = Err(format!(
                "is a second certificate for {}, after {}",
                describe(t),
                signed.inputs[first].name.display()
            ));
        }
    }
    assigned
}

/// Every input that is for no target (or for one that already has one), each an error naming
/// its file.
pub(super) fn unmatched(request: &Request, inventory: &Inventory, signed: &Signed) -> Result<()> {
    let errors = assign(signed, inventory, &request.layout)
        .into_iter()
        .zip(&signed.inputs)
        .filter_map(|(a, input)| a.err().map(|e| Error::bad_file(&input.name, e)))
        .collect();
    Error::from_all(errors)
}

/// What the inputs bring to `target`: nothing, a checked certificate to write (or keep), or a
/// CA file taken from the CAs given.
pub(super) fn plan(
    request: &Request,
    inventory: &Inventory,
    target: &ImportTarget,
    signed: &Signed,
) -> Result<Option<PlanItem>> {
    let layout = &request.layout;
    let assigned = assign(signed, inventory, layout);
    let Some(index) = signed.targets.iter().position(|t| t == target) else {
        return Ok(None);
    };
    if let ImportTarget::Ca(ca) = target {
        return plan_ca(request, inventory, ca, signed, &assigned);
    }
    let Some(input) = assigned
        .iter()
        .position(|a| *a == Ok(index))
        .map(|i| &signed.inputs[i])
    else {
        return Ok(None);
    };
    let trust = trust(target.ca(), signed, &assigned, inventory, layout);
    let checked = check_signed(request, inventory, target, input, &trust)?;
    let facts = checked.facts;
    let opts = &request.options;
    let (path, existing, contents, kind) = match *target {
        ImportTarget::Cert(p) => {
            let pair = inventory.pair(p, "").ok_or_else(|| internal(p.name))?;
            let existing = match &pair.cert {
                Found::Missing => None,
                Found::Present(c) if c.chain == input.chain => {
                    Some(Ok("the same certificate is already in place".to_string()))
                }
                Found::Present(_) => Some(Err("holds another certificate".to_string())),
                Found::Broken(p) if p.kind == ErrorKind::Io => {
                    return Err(p.to_error(&pair.cert_path));
                }
                Found::Broken(p) => Some(Err(p.to_string())),
            };
            let pem: String = input.chain.iter().map(|d| cert::cert_pem(d)).collect();
            (pair.cert_path.clone(), existing, pem, FileKind::Certificate)
        }
        ImportTarget::Kubeconfig(k) => {
            let path = layout.kubeconfig_path(k, "");
            let Some(Found::Present(file)) = inventory.kubeconfig(&path) else {
                return Err(internal(k.file_name));
            };
            let current = file
                .current
                .as_ref()
                .map_err(|e| Error::bad_file(&path, e.clone()))?;
            let client = current.client.as_ref().ok().map(|(chain, _)| chain);
            let ca = current.ca.as_ref().ok();
            let existing = match (client, ca) {
                (Some(c), _) if *c != input.chain => {
                    Some(Err("holds another client certificate".to_string()))
                }
                (_, Some(ca)) if ca[..] != trust.certs()[..] => Some(Err(
                    "trusts another CA (certificate-authority-data)".to_string(),
                )),
                (Some(_), Some(_)) => Some(Ok(
                    "the same client certificate and CA are already in place".to_string(),
                )),
                _ => None,
            };
            let yaml = with_certificate(file.config.clone(), &input.chain, trust.certs())
                .map_err(|e| Error::bad_file(&path, e))?;
            (path, existing, yaml, FileKind::Kubeconfig)
        }
        ImportTarget::Ca(_) => return Ok(None),
    };
    let (action, reason) = match existing {
        None => (Action::Import, checked.reason),
        Some(Ok(why)) => (Action::Reuse, why),
        Some(Err(why)) if opts.force => (Action::Replace, format!("--force: it {why}")),
        Some(Err(why)) => {
            return Err(Error::conflict(
                &path,
                format!(
                    "exists and {why}, so {} was not imported{}",
                    input.name.display(),
                    force_hint(opts)
                ),
            ));
        }
    };
    let work = match action {
        Action::Reuse => Work::Keep(Some(Box::new(facts))),
        _ => Work::Write {
            files: vec![(path.clone(), kind, contents.into_bytes())],
            certificate: Some(Box::new(facts)),
        },
    };
    Ok(Some(PlanItem {
        decision: Decision {
            kind: match target {
                ImportTarget::Kubeconfig(_) => ItemKind::Kubeconfig,
                _ => ItemKind::Certificate,
            },
            name: target.name().to_string(),
            node: None,
            action,
            reason,
            files: vec![path],
        },
        spec: None,
        key_algorithm: None,
        work,
    }))
}

/// A CA file the tree lacks, taken from the CA certificates given: the one that signed the
/// first certificate imported for this CA.
fn plan_ca(
    request: &Request,
    inventory: &Inventory,
    ca: &'static Profile,
    signed: &Signed,
    assigned: &[Result<usize, String>],
) -> Result<Option<PlanItem>> {
    let layout = &request.layout;
    let pair = inventory.pair(ca, "").ok_or_else(|| internal(ca.name))?;
    if pair.cert.exists() {
        return Ok(None);
    }
    let Trust::Given {
        from,
        der,
        signed: by,
    } = trust(ca, signed, assigned, inventory, layout)
    else {
        return Ok(None);
    };
    let facts = CertFacts::from_der(der).map_err(|e| Error::bad_file(from, e))?;
    if facts.not_after <= request.options.now {
        return Err(Error::bad_file(
            from,
            format!(
                "the CA {:?} that signed {by} expired on {}",
                facts.subject, facts.not_after
            ),
        ));
    }
    if let Found::Present(k) = &pair.key
        && k.key.public_key_raw() != facts.public_key_raw
    {
        return Err(Error::bad_file(
            &pair.key_path,
            format!(
                "is not the key of the CA {:?} from {} that signed {by}",
                facts.subject,
                from.display()
            ),
        ));
    }
    let path = pair.cert_path.clone();
    Ok(Some(PlanItem {
        decision: Decision {
            kind: ItemKind::Certificate,
            name: ca.name.to_string(),
            node: None,
            action: Action::Import,
            reason: format!(
                "the CA {:?} from {}, which signed {by}; its key stays with the external CA",
                facts.subject,
                from.display()
            ),
            files: vec![path.clone()],
        },
        spec: None,
        key_algorithm: None,
        work: Work::Write {
            files: vec![(
                path,
                FileKind::Certificate,
                cert::cert_pem(der).into_bytes(),
            )],
            certificate: Some(Box::new(facts)),
        },
    }))
}

/// What the certificates of `ca`'s family must chain to: the tree's CA file, else the CA given
/// that signed the first of them that any CA given signed.
fn trust<'s>(
    ca: &'static Profile,
    signed: &'s Signed,
    assigned: &[Result<usize, String>],
    inventory: &'s Inventory,
    layout: &Layout,
) -> Trust<'s> {
    let path = layout.cert_path(ca, "");
    match inventory.pair(ca, "").map(|p| &p.cert) {
        Some(Found::Present(c)) => {
            return Trust::Tree {
                path,
                certs: &c.chain,
            };
        }
        Some(Found::Broken(_)) => return Trust::Unusable { path },
        _ => {}
    }
    let mut family: Vec<(usize, &SignedInput)> = assigned
        .iter()
        .zip(&signed.inputs)
        .filter_map(|(a, input)| a.as_ref().ok().map(|t| (*t, input)))
        .filter(|(t, _)| signed.targets[*t].ca() == ca)
        .collect();
    // In the targets' order, so that the choice does not depend on how the files were named.
    family.sort_by_key(|(t, _)| *t);
    for (_, input) in &family {
        if let Some((from, der)) = signed
            .cas
            .iter()
            .find(|(_, der)| chain_problem(&input.chain, std::slice::from_ref(der)).is_none())
        {
            let names: Vec<&str> = family
                .iter()
                .filter(|(_, i)| chain_problem(&i.chain, std::slice::from_ref(der)).is_none())
                .map(|(t, _)| signed.targets[*t].name())
                .collect();
            return Trust::Given {
                from,
                der,
                signed: names.join(", "),
            };
        }
    }
    Trust::Nothing { path }
}

/// `config` with the signed client certificate embedded into its current user and the CA into
/// its current cluster (unless it names a CA file); the key and everything else kept.
fn with_certificate(
    mut config: crate::pki::kubeconfig::Kubeconfig,
    chain: &[Vec<u8>],
    ca: &[Vec<u8>],
) -> std::result::Result<String, String> {
    let pem = |ders: &[Vec<u8>]| -> String { ders.iter().map(|d| cert::cert_pem(d)).collect() };
    let (cluster, user) = {
        let current = config.current()?;
        (
            current.cluster_name.to_string(),
            current.user_name.to_string(),
        )
    };
    if let Some(u) = config.users.iter_mut().find(|u| u.name == user) {
        u.user.client_certificate_data = Some(BASE64.encode(pem(chain)));
        u.user.client_certificate = None;
    }
    if let Some(c) = config.clusters.iter_mut().find(|c| c.name == cluster)
        && c.cluster.certificate_authority.is_none()
    {
        c.cluster.certificate_authority_data = Some(BASE64.encode(pem(ca)));
    }
    config.to_yaml()
}

/// The extended key usages a target's role needs.
fn usages(target: &ImportTarget) -> &'static [ExtUsage] {
    match target {
        ImportTarget::Cert(p) | ImportTarget::Ca(p) => p.usages,
        ImportTarget::Kubeconfig(_) => catalog::KUBECONFIG_USAGES,
    }
}

fn internal(name: &str) -> Error {
    Error::Crypto(format!("internal: {name} was not read"))
}

/// A path's display, for messages.
fn shown(path: &Path) -> String {
    path.display().to_string()
}
