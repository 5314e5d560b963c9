//! The CAs: made when missing, reused when valid with a matching key, kept as they are when
//! their key is absent (an external CA).

use super::authority::{self, CaState};
use super::leaf::spec_for;
use super::{Action, Decision, ItemKind, Options, PlanItem, Work, display_name, force_hint};
use crate::pki::catalog::Profile;
use crate::pki::cert::Authority;
use crate::pki::error::{Error, Result};
use crate::pki::inventory::Inventory;
use crate::pki::names::NodeSpec;

pub(super) fn plan(
    inventory: &Inventory,
    opts: &Options,
    profile: &'static Profile,
    node: &NodeSpec,
) -> Result<(PlanItem, CaState, Option<Authority>)> {
    let pair = inventory
        .pair(profile, "")
        .ok_or_else(|| Error::Crypto(format!("internal: {} was not read", profile.name)))?;
    let (cert_path, key_path) = (pair.cert_path.clone(), pair.key_path.clone());
    let (name, node_name) = display_name(profile, node);
    let spec = spec_for(profile, None, node, opts)?;
    let new_item = |action: Action, reason: &str| {
        let item = PlanItem {
            decision: Decision {
                kind: ItemKind::Certificate,
                name: name.clone(),
                node: node_name.clone(),
                action,
                reason: reason.to_string(),
                files: vec![key_path.clone(), cert_path.clone()],
            },
            spec: Some(spec.clone()),
            key_algorithm: Some(opts.key_algorithm),
            work: Work::Cert {
                ca: None,
                cert_path: cert_path.clone(),
                key_path: key_path.clone(),
                reuse_key: None,
            },
        };
        (item, CaState::New, None)
    };
    match (pair.cert.exists(), pair.key.exists()) {
        (false, false) => return Ok(new_item(Action::Create, "does not exist")),
        (false, true) if opts.force => {
            return Ok(new_item(
                Action::Replace,
                "key without certificate; --force",
            ));
        }
        (false, true) => {
            return Err(Error::bad_file(
                &key_path,
                format!(
                    "the CA key exists but its certificate {} does not{}",
                    cert_path.display(),
                    force_hint(opts)
                ),
            ));
        }
        _ => {}
    }
    match authority::load(pair, profile, opts.now) {
        // A valid CA, or an external one (its key absent), is kept even under --force:
        // replacing it would invalidate everything it signed (that is CA rotation).
        Ok((state, authority)) => {
            let reason = match &state {
                CaState::External { .. } => {
                    "external CA: certificate present, key absent; kept as is"
                }
                _ => "valid CA, key matches",
            };
            let item = PlanItem {
                decision: Decision {
                    kind: ItemKind::Certificate,
                    name,
                    node: node_name,
                    action: Action::Reuse,
                    reason: reason.into(),
                    files: if pair.key.exists() {
                        vec![key_path, cert_path]
                    } else {
                        vec![cert_path]
                    },
                },
                spec: None,
                key_algorithm: None,
                work: Work::Keep(pair.cert.present().map(|c| Box::new(c.facts.clone()))),
            };
            Ok((item, state, authority))
        }
        Err(_) if opts.force => Ok(new_item(Action::Replace, "unusable; --force")),
        Err(e) => Err(e),
    }
}
