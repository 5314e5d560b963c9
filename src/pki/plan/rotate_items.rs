//! The items a `rotate-ca` phase is made of: files written (with backups) and files archived.

use std::path::PathBuf;

use super::{Action, Decision, ItemKind, PlanItem, Work};
use crate::pki::cert;
use crate::pki::rotation::{CaRotation, Phase, RotationFiles};
use crate::pki::store::FileKind;

/// Files a phase writes: path, kind (its mode), contents.
pub(super) type Written = Vec<(PathBuf, FileKind, Vec<u8>)>;

pub(super) fn pem(certs: &[Vec<u8>]) -> Vec<u8> {
    certs
        .iter()
        .map(|c| cert::cert_pem(c))
        .collect::<String>()
        .into_bytes()
}

/// One item writing `writes` (none when there is nothing to write).
pub(super) fn write_item(files: &RotationFiles, what: &str, writes: Written) -> Option<PlanItem> {
    write_named(files.ca.name, what, writes)
}

/// One item of the rotation of `name` writing `writes` (none when there is nothing to write).
pub(super) fn write_named(name: &str, what: &str, writes: Written) -> Option<PlanItem> {
    if writes.is_empty() {
        return None;
    }
    Some(PlanItem {
        decision: Decision {
            kind: item_kind(name),
            name: name.to_string(),
            node: None,
            action: Action::Replace,
            reason: format!("rotate-ca {what}"),
            files: writes.iter().map(|(p, _, _)| p.clone()).collect(),
        },
        spec: None,
        key_algorithm: None,
        work: Work::Write {
            files: writes,
            certificate: None,
        },
    })
}

/// One item moving `paths` (and a pending new CA equal to the only CA) into the backup.
pub(super) fn archive_item(
    files: &RotationFiles,
    rot: &CaRotation,
    mut paths: Vec<PathBuf>,
) -> Option<PlanItem> {
    if rot.phase == Phase::None && rot.pending.is_some() && rot.pending == rot.old {
        paths.extend([files.new_cert.clone(), files.new_key.clone()]);
    }
    if rot.phase == Phase::None {
        // A cross-signed CA outlives no rotation.
        paths.extend(rot.cross_signed_ca.clone());
    }
    archive_named(files.ca.name, paths)
}

/// One item of the rotation of `name` moving `paths` into the backup (none when empty).
pub(super) fn archive_named(name: &str, mut paths: Vec<PathBuf>) -> Option<PlanItem> {
    paths.dedup();
    if paths.is_empty() {
        return None;
    }
    Some(PlanItem {
        decision: Decision {
            kind: item_kind(name),
            name: name.to_string(),
            node: None,
            action: Action::Replace,
            reason: "rotate-ca: archived under kubepki-backup".into(),
            files: paths.clone(),
        },
        spec: None,
        key_algorithm: None,
        work: Work::Archive(paths),
    })
}

/// How a rotation's items are labelled: the service-account pair as a key pair.
fn item_kind(name: &str) -> ItemKind {
    if name == crate::pki::catalog::SERVICE_ACCOUNT_NAME {
        ItemKind::KeyPair
    } else {
        ItemKind::Certificate
    }
}
