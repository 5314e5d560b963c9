//! `rotate-ca abort`: back to the old CA alone, every file byte for byte as it was before
//! `start`, from the backups the rotation's runs kept.
//!
//! The run of `start` is the newest backup directory whose `<ca>.crt` holds the old CA alone.
//! Every file kept in it or in a later backup directory (certificate and kubeconfig roots) goes
//! back to its first copy from then on; the files the rotation added (`<ca>.new.crt/.key`,
//! `ca.signing.crt` when it did not exist before) are archived. The abort is itself a run with
//! backups, so it can be undone by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::rotate_items::{Written, archive_item, write_item};
use super::{ItemKind, PlanItem, Request};
use crate::pki::cert;
use crate::pki::error::{Error, Result};
use crate::pki::rotation::{CaRotation, Phase, RotationFiles};
use crate::pki::store::{self, BACKUP_DIR, FileKind, is_kubepki_file};

pub(super) fn plan(
    request: &Request,
    files: &RotationFiles,
    rot: &CaRotation,
    to_trusting_both: bool,
) -> Result<Vec<PlanItem>> {
    if rot.phase == Phase::None {
        // Nothing in progress (an abort run again); a leftover pending CA is archived.
        return Ok(archive_item(files, rot, Vec::new()).into_iter().collect());
    }
    if to_trusting_both && rot.phase == Phase::TrustingBoth {
        // Already there (an `abort --to trusting-both` run again).
        return Ok(Vec::new());
    }
    let old = rot
        .old
        .clone()
        .ok_or_else(|| Error::Crypto("internal: no old CA".into()))?;
    // This CA's files only (`--ca all` aborts several rotations in one run): its CA files, and
    // every file that it signed or that trusts it, with the key beside a certificate.
    let mut ours: BTreeSet<PathBuf> = [&files.bundle, &files.key]
        .into_iter()
        .chain(files.signing.iter())
        .cloned()
        .collect();
    for f in &rot.files {
        ours.insert(f.path.clone());
        if f.path.extension().is_some_and(|e| e == "crt") {
            ours.insert(f.path.with_extension("key"));
        }
    }
    if to_trusting_both {
        // Back to before `reissue`: the run of reissue is the newest backup whose <ca>.crt is
        // (old, new); the files it and later runs replaced go back, the new CA stays pending.
        let new = rot
            .new
            .clone()
            .ok_or_else(|| Error::Crypto("internal: no new CA".into()))?;
        let both = [old, new];
        let before = |data: &[u8]| cert::certs_from_pem(data).is_ok_and(|c| c == both);
        let (writes, _) = undo(
            request,
            &Undo {
                marker: &files.bundle,
                marker_before: "the old and the new CA, the old one first",
                before_rotation: &before,
                ours,
                added: Vec::new(),
            },
        )?;
        return Ok(restored(
            files,
            "abort --to trusting-both: restored from the backups",
            writes,
        ));
    }
    let before = |data: &[u8]| cert::certs_from_pem(data).is_ok_and(|c| c == [old.clone()]);
    let (writes, archive) = undo(
        request,
        &Undo {
            marker: &files.bundle,
            marker_before: "the old CA alone",
            before_rotation: &before,
            ours,
            added: [&files.new_cert, &files.new_key, &files.cross]
                .into_iter()
                .chain(files.signing.iter())
                .cloned()
                .collect(),
        },
    )?;
    let mut items = restored(files, "abort: restored from the backups", writes);
    items.extend(archive_item(files, rot, archive));
    Ok(items)
}

/// The items writing restored files: the kubeconfigs apart, so they are reported as such.
fn restored(files: &RotationFiles, what: &str, writes: Written) -> Vec<PlanItem> {
    let (kubeconfigs, others): (Written, Written) = writes
        .into_iter()
        .partition(|(_, kind, _)| *kind == FileKind::Kubeconfig);
    let mut items: Vec<PlanItem> = write_item(files, what, others).into_iter().collect();
    items.extend(write_item(files, what, kubeconfigs).map(|mut item| {
        item.decision.kind = ItemKind::Kubeconfig;
        item
    }));
    items
}

/// What an abort puts back: the rotation's files, from the backups its runs kept.
pub(super) struct Undo<'a> {
    /// The trust file whose backup copy marks the run of `start` (`<ca>.crt`, `sa.pub`).
    pub marker: &'a Path,
    /// What the marker held before the rotation, for the error when no backup has it.
    pub marker_before: &'a str,
    /// Whether a backup copy of the marker is from before the rotation.
    pub before_rotation: &'a dyn Fn(&[u8]) -> bool,
    /// Every file of this rotation (certificate or kubeconfig roots).
    pub ours: BTreeSet<PathBuf>,
    /// The files the rotation adds: they go back only if they were there before `start`,
    /// otherwise they are archived.
    pub added: Vec<PathBuf>,
}

/// The files to write back (each file's first backup copy from the run of `start` on) and the
/// files to archive.
pub(super) fn undo(request: &Request, u: &Undo<'_>) -> Result<(Written, Vec<PathBuf>)> {
    let layout = &request.layout;
    let roots = [layout.cert_dir(), layout.kubeconfig_dir()];
    let cert_backups = layout.cert_dir().join(BACKUP_DIR);
    let relative_marker = u.marker.strip_prefix(layout.cert_dir()).map_err(|_| {
        Error::Crypto("internal: rotation file outside the certificate directory".into())
    })?;
    let stamps = store::subdirectories(&cert_backups);
    let start = stamps
        .iter()
        .rev()
        .find(|s| {
            let path = cert_backups.join(s).join(relative_marker);
            matches!(store::read_file(&path), Ok(Some(f)) if (u.before_rotation)(&f.bytes))
        })
        .cloned()
        .ok_or_else(|| {
            Error::bad_file(
                &cert_backups,
                format!(
                    "no backup holds {} as it was before the rotation ({}); abort needs the \
                     backups `rotate-ca start` kept",
                    u.marker.display(),
                    u.marker_before
                ),
            )
        })?;
    // The first copy of each file from the start on: what it held before the rotation.
    let mut restore: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    let mut dedup = BTreeSet::new();
    for root in roots {
        if !dedup.insert(root.to_path_buf()) {
            continue;
        }
        let backups = root.join(BACKUP_DIR);
        for stamp in store::subdirectories(&backups)
            .into_iter()
            .filter(|s| *s >= start)
        {
            let dir = backups.join(&stamp);
            for relative in walk(&dir, Path::new("")) {
                if is_kubepki_file(&relative) && u.ours.contains(&root.join(&relative)) {
                    restore
                        .entry(root.join(&relative))
                        .or_insert_with(|| dir.join(&relative));
                }
            }
        }
    }
    // The rotation's own files go back only if they were there before start.
    let before_start = |p: &Path| {
        p.strip_prefix(layout.cert_dir())
            .is_ok_and(|rel| store::exists(&cert_backups.join(&start).join(rel)))
    };
    for own in &u.added {
        if !before_start(own) {
            restore.remove(own);
        }
    }
    let mut writes = Vec::new();
    for (target, backup) in &restore {
        let data = store::read_file(backup)?
            .ok_or_else(|| Error::bad_file(backup, "vanished while reading the backups"))?;
        writes.push((target.clone(), kind_of(target), data.bytes));
    }
    let mut archive: Vec<PathBuf> = u
        .added
        .iter()
        .filter(|p| !restore.contains_key(*p) && store::exists(p))
        .cloned()
        .collect();
    archive.sort();
    Ok((writes, archive))
}

/// The files below `dir` (relative to it), recursively; never following links.
fn walk(dir: &Path, relative: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir.join(relative)) else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let rel = relative.join(entry.file_name());
        if kind.is_dir() {
            out.extend(walk(dir, &rel));
        } else if kind.is_file() {
            out.push(rel);
        }
    }
    out
}

fn kind_of(path: &Path) -> FileKind {
    match path.extension().and_then(|e| e.to_str()) {
        Some("key") => FileKind::PrivateKey,
        Some("conf") => FileKind::Kubeconfig,
        Some("pub") => FileKind::PublicKey,
        Some("csr") => FileKind::CertificateRequest,
        _ => FileKind::Certificate,
    }
}
