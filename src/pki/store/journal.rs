//! The journal of a batch being committed, and the recovery of a batch a crashed run left
//! half-done; the sweep of temporary files an interrupted run left before its journal existed.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::atomic::{FileKind, FileWrite, sync_dir, write_temporary};
use super::layout::BACKUP_DIR;
use super::{create_dir, exists, parent, read_optional};
use crate::pki::error::{Error, Result};

/// The journal of a batch being committed, in the certificate directory: written once every
/// temporary file of the batch is complete on disk, removed once every rename is done. A run
/// that finds one completes the renames it lists (see [`recover`]).
pub const JOURNAL: &str = ".kubepki-journal";

#[derive(Debug, Serialize, serde::Deserialize)]
pub(super) struct JournalEntry {
    pub(super) staged: PathBuf,
    pub(super) target: PathBuf,
}

pub(super) fn write_journal(journal: &Path, text: &[u8]) -> Result<()> {
    let dir = parent(journal);
    create_dir(dir)?;
    let tmp = write_temporary(
        &FileWrite {
            path: journal.to_path_buf(),
            kind: FileKind::Certificate,
            contents: text.to_vec(),
            backup: None,
        },
        dir,
        true,
    )?;
    tmp.persist(journal)
        .map_err(|e| Error::io(journal, "write", e.error))?;
    sync_dir(dir)
}

/// Renames the staged files over their targets, in order; with `sync_dirs`, then syncs their
/// directories (a large batch syncs whole filesystems instead).
pub(super) fn apply(
    entries: &[JournalEntry],
    crash_after: Option<usize>,
    sync_dirs: bool,
) -> Result<()> {
    let mut dirs: Vec<&Path> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if crash_after == Some(i) {
            return Err(Error::Crypto(format!("injected crash after {i} renames")));
        }
        // A rename already done before a crash has no staged file left.
        if exists(&entry.staged) {
            fs::rename(&entry.staged, &entry.target)
                .map_err(|e| Error::io(&entry.target, "replace", e))?;
        }
        let dir = parent(&entry.target);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    if sync_dirs {
        for dir in dirs {
            sync_dir(dir)?;
        }
    }
    Ok(())
}

/// Completes a batch that a crashed run left half-done: if `journal_dir` holds a journal, every
/// staged file it lists is renamed into place. Returns how many files the batch had.
pub fn recover(journal_dir: &Path) -> Result<Option<usize>> {
    let journal = journal_dir.join(JOURNAL);
    let Some(text) = read_optional(&journal)? else {
        return Ok(None);
    };
    let entries: Vec<JournalEntry> = serde_json::from_slice(&text)
        .map_err(|e| Error::bad_file(&journal, format!("is not a kubepki journal: {e}")))?;
    apply(&entries, None, true)?;
    fs::remove_file(&journal).map_err(|e| Error::io(&journal, "remove", e))?;
    sync_dir(journal_dir)?;
    Ok(Some(entries.len()))
}

/// Removes the temporary files a run interrupted before its journal was written left behind
/// (`.<name>.XXXXXX.tmp`, as [`stage`] names them) in `dir` and its subdirectories, skipping
/// backups; with `recursive` false, only in `dir` itself. Call it under the lock and after
/// [`recover`], so that nothing a journal still names is touched. Returns how many were removed.
pub fn remove_stale_temporaries(dir: &Path, recursive: bool) -> usize {
    let mut removed = 0;
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && recursive && name != BACKUP_DIR {
            removed += remove_stale_temporaries(&entry.path(), true);
        } else if kind.is_file() && is_our_temporary(&name) && fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// `.<name>.<6 random characters>.tmp`
fn is_our_temporary(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .and_then(|n| n.rsplit_once('.'))
        .is_some_and(|(base, random)| {
            !base.is_empty()
                && random.len() == 6
                && random.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Whether a crashed run left a batch to complete.
pub fn interrupted(journal_dir: &Path) -> bool {
    exists(&journal_dir.join(JOURNAL))
}
