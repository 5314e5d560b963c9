//! The members of an HA etcd cluster: their certificates are catalog profiles of their own
//! (`etcd-member-server`, `etcd-member-peer`, planned as any leaf), written into
//! `etcd-members/<node>/etcd/`. This planner adds the one file that is not a certificate of the
//! member's own: a copy of the etcd CA certificate, `etcd-members/<node>/etcd/ca.crt`, so that
//! the directory is a complete `pki/` tree for that member (etcd's `--trusted-ca-file` and
//! `--peer-trusted-ca-file`). Its private key is never copied.

use super::decide::{Existing, decide};
use super::{Action, Decision, ItemKind, PlanItem, Request, Work, conclude};
use crate::pki::catalog;
use crate::pki::cert;
use crate::pki::error::{ErrorKind, Result};
use crate::pki::inventory::{Found, Inventory};
use crate::pki::store::FileKind;

/// The member's copy of the etcd CA: made when missing, kept when it is the same, a conflict
/// (or under `--force` a replacement) when it differs. Nothing when the etcd CA itself is not
/// on disk: the member's certificates cannot be issued then, and say why.
pub(super) fn plan_ca_copy(
    request: &Request,
    inventory: &Inventory,
    node: &str,
) -> Result<Option<PlanItem>> {
    let opts = &request.options;
    let Some(Found::Present(ca)) = inventory.pair(catalog::etcd_ca(), "").map(|p| &p.cert) else {
        return Ok(None);
    };
    let ca_path = request.layout.cert_path(catalog::etcd_ca(), "");
    let path = request.layout.etcd_member_ca(node);
    let contents: String = ca.chain.iter().map(|der| cert::cert_pem(der)).collect();
    let existing = match inventory.cert_file(&path) {
        None | Some(Found::Missing) => Existing::Missing,
        Some(Found::Broken(p)) if p.kind == ErrorKind::Io => return Err(p.to_error(&path)),
        Some(Found::Broken(p)) => Existing::Differs(vec![format!("it {p}")]),
        Some(Found::Present(copy)) if copy.chain == ca.chain => {
            Existing::Matches(format!("the same as {}", ca_path.display()))
        }
        Some(Found::Present(_)) => Existing::Differs(vec![format!(
            "it differs from {} (was the etcd CA replaced since?)",
            ca_path.display()
        )]),
    };
    let facts = Some(Box::new(ca.facts.clone()));
    let make = |action: Action, reason: String| PlanItem {
        decision: Decision {
            kind: ItemKind::Certificate,
            name: catalog::etcd_ca().name.to_string(),
            node: Some(node.to_string()),
            action,
            reason,
            files: vec![path.clone()],
        },
        spec: None,
        key_algorithm: None,
        work: Work::Write {
            files: vec![(
                path.clone(),
                FileKind::Certificate,
                contents.clone().into_bytes(),
            )],
            certificate: facts.clone(),
        },
    };
    conclude(
        decide(existing, opts.force),
        make,
        || Ok(()),
        Some(format!("a copy of {}", ca_path.display())),
        Some(&ca.facts),
        &path,
        opts,
    )
    .map(Some)
}
