//! The journal of a batch being committed, and the recovery of a batch a crashed run left
//! half-done; the sweep of temporary files an interrupted run left before its journal existed.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::atomic::{FileKind, FileWrite, sync_dir, write_temporary};
use super::layout::{BACKUP_DIR, is_kubepki_file};
use super::{create_dir, exists, parent, read_optional};
use crate::pki::error::{Error, Result};

/// The journal of a batch being committed, in the certificate directory: written once every
/// temporary file of the batch is complete on disk, removed once every rename is done. A run
/// that finds one completes the renames it lists (see [`recover`]).
pub const JOURNAL: &str = ".kubepki-journal";

/// One rename of a batch, both paths relative to the directory the journal is in.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JournalEntry {
    pub(super) staged: PathBuf,
    pub(super) target: PathBuf,
}

/// The journal file: its format version and the renames, in order.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Journal {
    pub(super) version: u32,
    pub(super) entries: Vec<JournalEntry>,
}

/// The journal format this version writes and reads.
pub(super) const VERSION: u32 = 2;

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

/// Renames the staged files over their targets, in order, below `root`; with `sync_dirs`, then
/// syncs their directories (a large batch syncs whole filesystems instead). Returns how many
/// renames it made (a rename done before a crash has no staged file left).
pub(super) fn apply(
    root: &Path,
    entries: &[JournalEntry],
    crash_after: Option<usize>,
    sync_dirs: bool,
) -> Result<usize> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut renamed = 0;
    for (i, entry) in entries.iter().enumerate() {
        if crash_after == Some(i) {
            return Err(Error::Crypto(format!("injected crash after {i} renames")));
        }
        let (staged, target) = (root.join(&entry.staged), root.join(&entry.target));
        if exists(&staged) {
            fs::rename(&staged, &target).map_err(|e| Error::io(&target, "replace", e))?;
            renamed += 1;
        }
        let dir = parent(&target).to_path_buf();
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    if sync_dirs {
        for dir in &dirs {
            sync_dir(dir)?;
        }
    }
    Ok(renamed)
}

/// What a recovery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Renames the journal listed.
    pub listed: usize,
    /// Renames completed now (the rest were done before the interruption).
    pub renamed: usize,
}

/// Completes a batch that a crashed run left half-done: if `root` holds a journal, every staged
/// file it lists is renamed into place. The journal is untrusted input (anyone who can write the
/// directory can plant one): it is refused, changing nothing, unless it is a regular file owned
/// by this user, every entry is relative to `root` without `..`, every target is a file kubepki
/// writes there, and every staged file is kubepki's temporary for that target, in the target's
/// directory, a regular file owned by this user.
pub fn recover(root: &Path) -> Result<Option<Recovered>> {
    let Some(journal) = check(root)? else {
        return Ok(None);
    };
    let path = root.join(JOURNAL);
    let renamed = apply(root, &journal.entries, None, true)?;
    fs::remove_file(&path).map_err(|e| Error::io(&path, "remove", e))?;
    sync_dir(root)?;
    Ok(Some(Recovered {
        listed: journal.entries.len(),
        renamed,
    }))
}

/// The journal in `root`, checked (see [`recover`]); `None` when there is none. Nothing is
/// changed.
pub(super) fn check(root: &Path) -> Result<Option<Journal>> {
    use std::os::unix::fs::MetadataExt;
    let path = root.join(JOURNAL);
    let refuse = |why: String| {
        Error::bad_file(
            &path,
            format!(
                "{why}; nothing was changed. kubepki writes this file only while it puts a batch \
                 of files in place; if no kubepki run was interrupted here, someone else made it: \
                 inspect it, then remove it (rm {})",
                path.display()
            ),
        )
    };
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, "stat", e)),
    };
    if !meta.file_type().is_file() {
        return Err(refuse("is not a regular file".into()));
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(refuse(format!(
            "is owned by uid {}, not by the user running kubepki",
            meta.uid()
        )));
    }
    let text = read_optional(&path)?.unwrap_or_default();
    let journal: Journal = serde_json::from_slice(&text)
        .map_err(|_| refuse("is not a kubepki journal (it does not parse)".into()))?;
    if journal.version != VERSION {
        return Err(refuse(format!(
            "has format version {}, this kubepki reads version {VERSION}",
            journal.version
        )));
    }
    for (i, entry) in journal.entries.iter().enumerate() {
        check_entry(root, entry).map_err(|why| refuse(format!("entry {}: {why}", i + 1)))?;
    }
    Ok(Some(journal))
}

fn check_entry(root: &Path, entry: &JournalEntry) -> std::result::Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    for p in [&entry.staged, &entry.target] {
        if !p
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(format!(
                "{:?} is not a plain relative path below the directory",
                p.display().to_string()
            ));
        }
    }
    if !is_kubepki_file(&entry.target) {
        return Err(format!(
            "{:?} is not a file kubepki writes",
            entry.target.display().to_string()
        ));
    }
    let target_name = entry
        .target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staged_name = entry
        .staged
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if entry.staged.parent() != entry.target.parent()
        || temporary_base(&staged_name) != Some(target_name.as_str())
    {
        return Err(format!(
            "{:?} is not kubepki's temporary file for {:?}",
            entry.staged.display().to_string(),
            entry.target.display().to_string()
        ));
    }
    match fs::symlink_metadata(root.join(&entry.staged)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot stat {}: {e}", entry.staged.display())),
        Ok(m) if !m.file_type().is_file() => {
            Err(format!("{} is not a regular file", entry.staged.display()))
        }
        Ok(m) if m.uid() != rustix::process::geteuid().as_raw() => Err(format!(
            "{} is not owned by the user running kubepki",
            entry.staged.display()
        )),
        Ok(_) => Ok(()),
    }
}

/// Removes the temporary files a run interrupted before its journal was written left behind
/// (`.<name>.XXXXXX.tmp`, as `batch::stage` names them) in `dir` and its subdirectories, skipping
/// backups; with `recursive` false, only in `dir` itself. Call it under the lock and after
/// [`recover`], so that nothing a journal still names is touched. Returns how many were removed.
pub fn remove_stale_temporaries(dir: &Path, recursive: bool) -> usize {
    sweep(dir, Path::new(""), recursive)
}

fn sweep(dir: &Path, relative: &Path, recursive: bool) -> usize {
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
            removed += sweep(&entry.path(), &relative.join(&*name), true);
        } else if kind.is_file()
            && temporary_base(&name).is_some_and(|base| is_kubepki_file(&relative.join(base)))
            && fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// `<name>` of `.<name>.<6 random characters>.tmp`, the temporary files kubepki stages.
fn temporary_base(name: &str) -> Option<&str> {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .and_then(|n| n.rsplit_once('.'))
        .filter(|(base, random)| {
            !base.is_empty()
                && random.len() == 6
                && random.bytes().all(|b| b.is_ascii_alphanumeric())
        })
        .map(|(base, _)| base)
}

/// Whether `root` holds a journal that [`recover`] would complete; an error, changing nothing,
/// when it holds one that would be refused.
pub fn pending(root: &Path) -> Result<bool> {
    Ok(check(root)?.is_some())
}

/// Whether a crashed run left a batch to complete.
pub fn interrupted(journal_dir: &Path) -> bool {
    exists(&journal_dir.join(JOURNAL))
}
