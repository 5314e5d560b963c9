//! The service-account key pair: `sa.key` signs service-account tokens, `sa.pub` verifies them.

use super::{Action, Decision, ItemKind, Options, PlanItem, Work, force_hint};
use crate::pki::catalog;
use crate::pki::error::{Error, Result};
use crate::pki::inventory::{Found, Inventory};
use crate::pki::keys::KeyAlgorithm;
use crate::pki::rotation::service_account::public_keys;

pub(super) fn plan(inventory: &Inventory, opts: &Options) -> Result<PlanItem> {
    let sa = inventory
        .service_account()
        .ok_or_else(|| Error::Crypto("internal: sa.key was not read".into()))?;
    let (key_path, pub_path) = (sa.key_path.clone(), sa.pub_path.clone());
    let item = |action: Action, reason: String, files, algorithm, work| PlanItem {
        decision: Decision {
            kind: ItemKind::KeyPair,
            name: catalog::SERVICE_ACCOUNT_NAME.into(),
            node: None,
            action,
            reason,
            files,
        },
        spec: None,
        key_algorithm: Some(algorithm),
        work,
    };
    let create = |action: Action, reason: &str| -> Result<PlanItem> {
        if opts.key_algorithm == KeyAlgorithm::Ed25519 {
            return Err(Error::usage(
                "--key-algorithm",
                "ED25519 cannot be used for sa.key: kube-apiserver signs service-account tokens \
                 with RSA or ECDSA keys only; choose RSA-2048..4096 or ECDSA-P256/P384",
            ));
        }
        Ok(item(
            action,
            reason.into(),
            vec![key_path.clone(), pub_path.clone()],
            opts.key_algorithm,
            Work::ServiceAccount {
                key_path: key_path.clone(),
                pub_path: pub_path.clone(),
            },
        ))
    };
    let key = match &sa.key {
        Found::Missing => {
            if sa.public.exists() && !opts.force {
                return Err(Error::conflict(
                    &pub_path,
                    format!(
                        "exists without {}; a new key would not match it{}",
                        key_path.display(),
                        force_hint(opts)
                    ),
                ));
            }
            return create(Action::Create, "does not exist");
        }
        Found::Broken(_) if opts.force => return create(Action::Replace, "unreadable; --force"),
        Found::Broken(p) => return Err(p.to_error(&key_path)),
        Found::Present(k) if k.key.algorithm() == KeyAlgorithm::Ed25519 => {
            if opts.force {
                return create(Action::Replace, "Ed25519 sa.key; --force");
            }
            return Err(Error::bad_file(
                &key_path,
                "is an Ed25519 key; service-account tokens need RSA or ECDSA",
            ));
        }
        Found::Present(k) => &k.key,
    };
    match &sa.public {
        Found::Missing => Ok(item(
            Action::Create,
            format!(
                "{} is missing; derived from the existing sa.key",
                pub_path.display()
            ),
            vec![pub_path.clone()],
            key.algorithm(),
            Work::ServiceAccountPublic {
                key: key.duplicate().map_err(|e| Error::bad_file(&key_path, e))?,
                pub_path: pub_path.clone(),
            },
        )),
        Found::Broken(p) => Err(p.to_error(&pub_path)),
        Found::Present(existing) => {
            // During a key rotation (`rotate-ca --ca sa`) sa.pub holds the old and the new
            // public key; the pair is whole as long as sa.key's public half is among them.
            let verifying = public_keys(existing).unwrap_or_default();
            let same = verifying.contains(&key.public_key_der());
            if !same && opts.force {
                return Ok(item(
                    Action::Replace,
                    "--force: sa.pub does not hold the public half of sa.key; derived again".into(),
                    vec![pub_path.clone()],
                    key.algorithm(),
                    Work::ServiceAccountPublic {
                        key: key.duplicate().map_err(|e| Error::bad_file(&key_path, e))?,
                        pub_path: pub_path.clone(),
                    },
                ));
            }
            if !same {
                return Err(Error::conflict(
                    &pub_path,
                    format!(
                        "does not hold the public half of {}{}",
                        key_path.display(),
                        force_hint(opts)
                    ),
                ));
            }
            let reason = match verifying.len() {
                1 => "key loads and sa.pub matches it".to_string(),
                n => format!(
                    "key loads and sa.pub holds its public half among {n} keys (a key rotation \
                     in progress)"
                ),
            };
            Ok(item(
                Action::Reuse,
                reason,
                vec![key_path, pub_path],
                key.algorithm(),
                Work::Keep(None),
            ))
        }
    }
}
