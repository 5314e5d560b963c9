//! `rotate-ca start --cross-sign`: the new CA cross-signed by the old one (`<ca>.cross.crt`, the
//! continuous chain k3s builds), written after every certificate `reissue` signs, and taken out
//! of them again by `finish`.
//!
//! What it is for: between `reissue` and `finish`, a peer that still trusts only the old CA (a
//! kubelet whose clientCAFile was not rolled yet, an etcd member not yet restarted, a kubeconfig
//! handed out before `start`, a pod with the old `kube-root-ca.crt`) can still verify a
//! certificate of the new CA, as `leaf → <ca>.cross.crt → old CA`: the order of restarts stops
//! mattering. What it is not for: it keeps the old CA trusted until `finish`, so it is the wrong
//! tool when the old CA key leaked; it does not carry a key pin (kubeadm's
//! `--discovery-token-ca-cert-hash` pins the CA's key, which changes); it does not make a client
//! certificate of the old CA acceptable to a peer that trusts only the new one; and `finish`
//! ends it, as it ends the old CA everywhere.

use super::rotate_items::{Written, pem, write_item};
use super::{PlanItem, Request};
use crate::pki::cert::{self, Authority, CertFacts, CertSpec};
use crate::pki::error::{Error, Result};
use crate::pki::inventory::{Found, Inventory};
use crate::pki::keys::SubjectPublicKey;
use crate::pki::rotation::{CaRotation, RotationFiles};
use crate::pki::store::FileKind;

/// The write of `<ca>.cross.crt`: `new`'s subject and key, signed by `old` (whose key is still
/// `<ca>.key` before `reissue`), valid until the first of the two CAs expires.
pub(super) fn cross_item(
    request: &Request,
    inventory: &Inventory,
    files: &RotationFiles,
    old: &[u8],
    new: &[u8],
) -> Result<Option<PlanItem>> {
    let old_key = match inventory.pair(files.ca, "").map(|p| &p.key) {
        Some(Found::Present(k)) => k
            .key
            .duplicate()
            .map_err(|e| Error::bad_file(&files.key, e))?,
        _ => {
            return Err(Error::bad_file(
                &files.key,
                "the old CA key is needed to cross-sign the new CA",
            ));
        }
    };
    let authority =
        Authority::new(old.to_vec(), old_key).map_err(|e| Error::bad_file(&files.key, e))?;
    let new_facts = CertFacts::from_der(new).map_err(|e| Error::bad_file(&files.new_cert, e))?;
    let old_facts = CertFacts::from_der(old).map_err(|e| Error::bad_file(&files.bundle, e))?;
    let spki = x509_parser::parse_x509_certificate(new)
        .map_err(|e| Error::bad_file(&files.new_cert, e.to_string()))?
        .1
        .tbs_certificate
        .subject_pki
        .raw
        .to_vec();
    let public =
        SubjectPublicKey::from_spki_der(&spki).map_err(|e| Error::bad_file(&files.new_cert, e))?;
    let (not_before, _) = cert::validity(request.options.now, request.options.ca_validity);
    let spec = CertSpec {
        common_name: new_facts.common_name.clone(),
        organizations: new_facts.organizations.clone(),
        alt_names: new_facts.alt_names.clone(),
        usages: Vec::new(),
        is_ca: true,
        not_before,
        not_after: new_facts.not_after.min(old_facts.not_after),
    };
    let der = cert::issue_for_public_key(&spec, &public, &authority)?;
    let writes: Written = vec![(
        files.cross.clone(),
        FileKind::Certificate,
        cert::cert_pem(&der).into_bytes(),
    )];
    Ok(write_item(
        files,
        "start: the new CA cross-signed by the old",
        writes,
    ))
}

/// `finish`: every certificate file whose cross-signed CA follows it, written without it.
pub(super) fn strip_items(
    inventory: &Inventory,
    files: &RotationFiles,
    rot: &CaRotation,
) -> Vec<PlanItem> {
    let Some(cross) = &rot.cross else {
        return Vec::new();
    };
    let mut writes: Written = Vec::new();
    for f in rot.files.iter().filter(|f| f.cross_signed_chain) {
        let chain = inventory
            .pairs()
            .find(|(_, _, p)| p.cert_path == f.path)
            .and_then(|(_, _, p)| p.cert.present())
            .map(|c| c.chain.clone());
        if let Some(chain) = chain {
            let kept: Vec<Vec<u8>> = chain.into_iter().filter(|c| c != cross).collect();
            writes.push((f.path.clone(), FileKind::Certificate, pem(&kept)));
        }
    }
    write_item(
        files,
        "finish: the cross-signed CA taken out of the certificates",
        writes,
    )
    .into_iter()
    .collect()
}
