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

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Action, Decision, ItemKind, PlanItem, Request, Work, force_hint};
use crate::pki::catalog::{self, ExtUsage, Profile};
use crate::pki::cert::{self, CertFacts};
use crate::pki::error::{Error, ErrorKind, Result};
use crate::pki::inventory::{Found, Inventory, chain_problem};
use crate::pki::store::{FileKind, Layout};

mod check;
mod target;

use check::{Trust, check_signed};
use target::assign;
pub(super) use target::unmatched;
pub use target::{ImportTarget, Signed, SignedInput};

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
