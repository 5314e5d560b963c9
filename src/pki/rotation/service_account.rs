//! Rotation of the service-account key pair, as the files show it (issue 16).
//!
//! kube-apiserver verifies service-account tokens with every public key in
//! `--service-account-key-file` (`sa.pub` may hold several), and signs them with
//! `--service-account-signing-key-file` (`sa.key`), as kube-controller-manager signs legacy token
//! Secrets with `--service-account-private-key-file` (`sa.key`). So the pair rotates like a CA:
//!
//! | phase | `sa.key` (signs) | `sa.pub` (verifies) | `sa.new.key` |
//! |---|---|---|---|
//! | `none` | the key | its public key | absent |
//! | `trusting-both` | old | old, new | the new key |
//! | `reissued` | new | new, old | the new key |
//!
//! `finish` leaves `sa.pub` with the new public key alone and archives `sa.new.key`. As with a
//! CA bundle, the first key of `sa.pub` is always `sa.key`'s, so `init` reuses the pair in any
//! phase. The phase is inferred from the files alone, so an interrupted phase is run again.

use std::path::PathBuf;

use serde::Serialize;

use super::{Generation, Phase};
use crate::pki::catalog;
use crate::pki::inventory::{Found, Inventory, Wanted};
use crate::pki::keys::{KeyAlgorithm, pem_problem};
use crate::pki::store::Layout;

/// The name `--ca` takes for the service-account key pair.
pub const NAME: &str = catalog::SERVICE_ACCOUNT_NAME;

/// The service-account key pair's rotation files.
#[derive(Debug, Clone)]
pub struct SaFiles {
    /// `sa.key`: the key tokens are signed with.
    pub key: PathBuf,
    /// `sa.pub`: the public keys tokens are verified with.
    pub public: PathBuf,
    /// `sa.new.key`: the pending new key, from `start` until `finish` archives it.
    pub new_key: PathBuf,
}

impl SaFiles {
    /// The files in `layout`'s certificate directory.
    pub fn of(layout: &Layout) -> SaFiles {
        SaFiles {
            key: layout.sa_key(),
            public: layout.sa_pub(),
            new_key: layout.sa_new_key(),
        }
    }

    /// What reading the rotation needs.
    pub fn wanted(&self) -> Vec<Wanted> {
        vec![Wanted::ServiceAccount, Wanted::Key(self.new_key.clone())]
    }
}

/// The rotation of the service-account key pair, as the files show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SaRotation {
    /// The phase inferred from the three files.
    pub phase: Phase,
    /// `sa.key`.
    pub key: PathBuf,
    /// `sa.pub`.
    pub public: PathBuf,
    /// `sa.new.key`, when it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_new_key: Option<PathBuf>,
    /// Which key signs tokens (`sa.key`).
    pub signs: Generation,
    /// Which keys verify tokens (`sa.pub`), in file order.
    pub verifies: Vec<Generation>,
    /// The old key's public half (SPKI DER): the only key when no rotation is in progress.
    #[serde(skip)]
    pub old: Vec<u8>,
    /// The new key's public half, from `start` on.
    #[serde(skip)]
    pub new: Option<Vec<u8>>,
    /// The public half of `sa.new.key`, when the file exists (also after an interrupted `finish`,
    /// where it equals the only key).
    #[serde(skip)]
    pub pending: Option<Vec<u8>>,
    /// The algorithm of `sa.key`, which a new key keeps.
    #[serde(skip)]
    pub algorithm: KeyAlgorithm,
}

impl SaRotation {
    /// `sa.key` while it is still the old key: what `finish` refuses over.
    pub fn still_old(&self) -> Vec<&std::path::Path> {
        if self.signs == Generation::Old {
            vec![self.key.as_path()]
        } else {
            Vec::new()
        }
    }
}

/// The public keys (SPKI DER) of a `sa.pub`, in file order. `Err` says what is wrong without
/// quoting the file.
pub fn public_keys(data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let blocks =
        pem::parse_many(data).map_err(|e| format!("not valid PEM: {}", pem_problem(&e)))?;
    if blocks.is_empty() {
        return Err("holds no PEM block (expected PUBLIC KEY blocks)".into());
    }
    blocks
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            if b.tag() == "PUBLIC KEY" {
                Ok(b.into_contents())
            } else {
                Err(format!(
                    "PEM block {} is not a PUBLIC KEY (service-account verification keys are \
                     PKIX public keys)",
                    i + 1
                ))
            }
        })
        .collect()
}

/// Infers the rotation of the service-account key pair from `inventory` (read with
/// `files.wanted()`). `Err` names the file that makes a rotation impossible, and why.
pub fn infer(inventory: &Inventory, files: &SaFiles) -> Result<SaRotation, (PathBuf, String)> {
    let sa = inventory.service_account().ok_or_else(|| {
        (
            files.key.clone(),
            "internal: sa.key was not read".to_string(),
        )
    })?;
    let key = match &sa.key {
        Found::Present(k) => &k.key,
        Found::Missing => return Err((files.key.clone(), "missing".into())),
        Found::Broken(p) => return Err((files.key.clone(), p.message.clone())),
    };
    let verifying = match &sa.public {
        Found::Present(bytes) => public_keys(bytes).map_err(|e| (files.public.clone(), e))?,
        Found::Missing => return Err((files.public.clone(), "missing".into())),
        Found::Broken(p) => return Err((files.public.clone(), p.message.clone())),
    };
    let pending = match inventory.key_file(&files.new_key) {
        Some(Found::Present(k)) => Some(k.key.public_key_der()),
        Some(Found::Broken(p)) => return Err((files.new_key.clone(), p.message.clone())),
        _ => None,
    };
    let signer = key.public_key_der();
    let holds = |k: &Vec<u8>| verifying.contains(k);
    let (phase, old, new) = match (verifying.as_slice(), &pending) {
        ([only], _) if *only == signer => (Phase::None, signer.clone(), None),
        ([a, b], Some(p)) if a != b && holds(p) && holds(&signer) => {
            let other = if a == p { b } else { a };
            if signer == *p {
                (Phase::Reissued, other.clone(), Some(p.clone()))
            } else {
                (Phase::TrustingBoth, signer.clone(), Some(p.clone()))
            }
        }
        _ => {
            return Err((
                files.public.clone(),
                format!(
                    "{} public key(s), not a service-account key rotation kubepki recognises \
                     (expected the public half of {} alone, or old and new with {} as the new \
                     one)",
                    verifying.len(),
                    files.key.display(),
                    files.new_key.display()
                ),
            ));
        }
    };
    let generation = |k: &Vec<u8>| match (&new, phase) {
        (_, Phase::None) if *k == old => Generation::Current,
        _ if *k == old => Generation::Old,
        (Some(n), _) if k == n => Generation::New,
        _ => Generation::Unknown,
    };
    Ok(SaRotation {
        phase,
        key: files.key.clone(),
        public: files.public.clone(),
        pending_new_key: pending.as_ref().map(|_| files.new_key.clone()),
        signs: generation(&signer),
        verifies: verifying.iter().map(generation).collect(),
        old,
        new,
        pending,
        algorithm: key.algorithm(),
    })
}
