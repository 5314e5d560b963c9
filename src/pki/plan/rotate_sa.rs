//! `rotate-ca --ca sa`: the phases of a service-account key rotation as plan items (see
//! [`crate::pki::rotation::service_account`] for the files of each phase). As for a CA, every
//! phase compares what each file should hold with what it holds: run again, it plans nothing.

use std::collections::BTreeSet;

use super::rotate_abort::{Undo, undo};
use super::rotate_items::{Written, archive_named, write_named};
use super::{PlanItem, Request};
use crate::pki::error::{Error, Result};
use crate::pki::inventory::{Found, Inventory};
use crate::pki::keys::{KeyAlgorithm, PrivateKey};
use crate::pki::rotation::service_account::{self, NAME, SaFiles, SaRotation};
use crate::pki::rotation::{Phase, Step};
use crate::pki::store::FileKind;

pub(super) fn plan(
    request: &Request,
    inventory: &Inventory,
    files: &SaFiles,
    step: Step,
) -> Result<Vec<PlanItem>> {
    let rot =
        service_account::infer(inventory, files).map_err(|(path, e)| Error::bad_file(&path, e))?;
    match step {
        Step::Start => start(inventory, files, &rot),
        Step::Reissue => reissue(inventory, files, &rot),
        Step::Finish => finish(inventory, files, &rot),
        Step::Abort => abort(request, files, &rot, false),
        Step::AbortReissue => abort(request, files, &rot, true),
    }
}

fn start(inventory: &Inventory, files: &SaFiles, rot: &SaRotation) -> Result<Vec<PlanItem>> {
    if !matches!(rot.phase, Phase::None | Phase::TrustingBoth) {
        return Err(past(files, rot, "start"));
    }
    if rot.algorithm == KeyAlgorithm::Ed25519 {
        return Err(Error::bad_file(
            &files.key,
            "is an Ed25519 key; service-account tokens need RSA or ECDSA, so there is nothing to \
             rotate from: run `kubepki init --force` to replace the pair",
        ));
    }
    let mut writes: Written = Vec::new();
    let new = match (&rot.new, &rot.pending) {
        (Some(new), _) => new.clone(),
        // A pending new key that is not the current one: an earlier start stopped after
        // writing it. (One equal to the current key is what an interrupted finish leaves.)
        (None, Some(p)) if *p != rot.old => p.clone(),
        _ => {
            let key = PrivateKey::generate(rot.algorithm)?;
            let public = key.public_key_der();
            writes.push((
                files.new_key.clone(),
                FileKind::PrivateKey,
                key.to_pem()?.into_bytes(),
            ));
            public
        }
    };
    public_file(inventory, files, &[rot.old.clone(), new], &mut writes);
    Ok(write_named(
        NAME,
        "start: sa.pub verifies with the old and the new key",
        writes,
    )
    .into_iter()
    .collect())
}

fn reissue(inventory: &Inventory, files: &SaFiles, rot: &SaRotation) -> Result<Vec<PlanItem>> {
    let Some(new) = &rot.new else {
        return Err(Error::bad_file(
            &files.public,
            "no service-account key rotation in progress: run `rotate-ca start --ca sa` first",
        ));
    };
    let mut writes: Written = Vec::new();
    if rot.phase == Phase::TrustingBoth {
        let key = pending_key(inventory, files)?;
        writes.push((
            files.key.clone(),
            FileKind::PrivateKey,
            key.to_pem()?.into_bytes(),
        ));
    }
    public_file(
        inventory,
        files,
        &[new.clone(), rot.old.clone()],
        &mut writes,
    );
    Ok(
        write_named(NAME, "reissue: the new key signs tokens", writes)
            .into_iter()
            .collect(),
    )
}

fn finish(inventory: &Inventory, files: &SaFiles, rot: &SaRotation) -> Result<Vec<PlanItem>> {
    match rot.phase {
        Phase::None => return Ok(leftover(files, rot).into_iter().collect()),
        Phase::TrustingBoth | Phase::Promoted => {
            let list: Vec<String> = rot
                .still_old()
                .iter()
                .map(|p| format!("  {}", p.display()))
                .collect();
            return Err(Error::bad_file(
                &files.public,
                format!(
                    "cannot finish the service-account key rotation in phase {}: run `rotate-ca \
                     reissue --ca sa` first; still signing with the old key:\n{}",
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
        .ok_or_else(|| Error::Crypto("internal: no new service-account key".into()))?;
    let mut writes = Vec::new();
    public_file(inventory, files, &[new], &mut writes);
    let mut items: Vec<PlanItem> = write_named(
        NAME,
        "finish: sa.pub verifies with the new key alone",
        writes,
    )
    .into_iter()
    .collect();
    items.extend(archive_named(NAME, vec![files.new_key.clone()]));
    Ok(items)
}

fn abort(
    request: &Request,
    files: &SaFiles,
    rot: &SaRotation,
    to_trusting_both: bool,
) -> Result<Vec<PlanItem>> {
    if rot.phase == Phase::None {
        // Nothing in progress: a pending key (from a start or finish cut short) is archived.
        return Ok(rot
            .pending
            .as_ref()
            .and_then(|_| archive_named(NAME, vec![files.new_key.clone()]))
            .into_iter()
            .collect());
    }
    if to_trusting_both {
        let Some(new) = rot.new.clone().filter(|_| rot.phase == Phase::Reissued) else {
            // Already trusting both (an `abort --to trusting-both` run again).
            return Ok(Vec::new());
        };
        let both = [rot.old.clone(), new];
        let before = |data: &[u8]| service_account::public_keys(data).is_ok_and(|k| k == both);
        let (writes, _) = undo(
            request,
            &Undo {
                marker: &files.public,
                marker_before: "the old and the new public key, the old one first",
                before_rotation: &before,
                ours: BTreeSet::from([files.key.clone(), files.public.clone()]),
                added: Vec::new(),
            },
        )?;
        return Ok(write_named(
            NAME,
            "abort --to trusting-both: restored from the backups",
            writes,
        )
        .into_iter()
        .collect());
    }
    let old = rot.old.clone();
    let before = |data: &[u8]| service_account::public_keys(data).is_ok_and(|k| k == [old.clone()]);
    let (writes, archive) = undo(
        request,
        &Undo {
            marker: &files.public,
            marker_before: "the old public key alone",
            before_rotation: &before,
            ours: BTreeSet::from([files.key.clone(), files.public.clone()]),
            added: vec![files.new_key.clone()],
        },
    )?;
    let mut items: Vec<PlanItem> = write_named(NAME, "abort: restored from the backups", writes)
        .into_iter()
        .collect();
    items.extend(archive_named(NAME, archive));
    Ok(items)
}

/// `sa.pub` holding `keys` (SPKI DER), rewritten when it holds anything else.
fn public_file(inventory: &Inventory, files: &SaFiles, keys: &[Vec<u8>], writes: &mut Written) {
    let holds = inventory
        .service_account()
        .and_then(|sa| sa.public.present())
        .and_then(|bytes| service_account::public_keys(bytes).ok())
        .is_some_and(|k| k == keys);
    if !holds {
        let pem: String = keys
            .iter()
            .map(|k| crate::pki::keys::encode_pem("PUBLIC KEY", k.clone()))
            .collect();
        writes.push((files.public.clone(), FileKind::PublicKey, pem.into_bytes()));
    }
}

/// A `sa.new.key` equal to the only key (an interrupted `finish`): archived.
fn leftover(files: &SaFiles, rot: &SaRotation) -> Option<PlanItem> {
    (rot.pending.as_ref() == Some(&rot.old))
        .then(|| archive_named(NAME, vec![files.new_key.clone()]))
        .flatten()
}

fn pending_key(inventory: &Inventory, files: &SaFiles) -> Result<PrivateKey> {
    match inventory.key_file(&files.new_key) {
        Some(Found::Present(k)) => k
            .key
            .duplicate()
            .map_err(|e| Error::bad_file(&files.new_key, e)),
        Some(Found::Broken(p)) => Err(p.to_error(&files.new_key)),
        _ => Err(Error::bad_file(&files.new_key, "the new key is missing")),
    }
}

fn past(files: &SaFiles, rot: &SaRotation, step: &str) -> Error {
    Error::bad_file(
        &files.public,
        format!(
            "the service-account key rotation is in phase {}: `{step}` is behind it",
            rot.phase.name()
        ),
    )
}
