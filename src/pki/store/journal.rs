//! The journal of a batch being committed, and the recovery of a batch a crashed run left
//! half-done; the sweep of temporary files an interrupted run left before its journal existed.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::atomic::{FileKind, FileWrite, sync_dir, write_temporary};
use super::layout::{BACKUP_DIR, is_kubepki_file};
use super::{create_dir, exists, parent, read_file_capped};
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
    /// The SHA-256 of the staged file's contents, hex (format 3; absent in format 2, whose
    /// writer made every staged file durable before the journal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sha256: Option<String>,
}

/// The journal file: its format version and the renames, in order.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Journal {
    pub(super) version: u32,
    pub(super) entries: Vec<JournalEntry>,
}

/// The largest journal read back: some 190 bytes an entry, so about 350,000 files in one batch
/// (the 1 MiB of other files would be 5,500: a run for 1,400 nodes).
const MAX_JOURNAL_SIZE: u64 = 64 << 20;

/// The journal format this version writes (3: with the SHA-256 of each staged file). Format 2
/// journals, which an older kubepki left, are still completed.
pub(super) const VERSION: u32 = 3;

/// Writes the journal through a temporary file and a rename, fsynced only with `sync`: a batch
/// makes it durable with everything else at its first barrier (see `batch::commit_staged`).
pub(super) fn write_journal(journal: &Path, entries: &[JournalEntry], sync: bool) -> Result<()> {
    /// The journal as written: borrowed entries, so that a batch of 4,000 files is not copied.
    #[derive(Serialize)]
    struct Written<'a> {
        version: u32,
        entries: &'a [JournalEntry],
    }
    let contents = serde_json::to_vec(&Written {
        version: VERSION,
        entries,
    })
    .map_err(|e| Error::Crypto(e.to_string()))?;
    let dir = parent(journal);
    create_dir(dir)?;
    let tmp = write_temporary(
        &FileWrite {
            path: journal.to_path_buf(),
            kind: FileKind::Certificate,
            contents,
            backup: None,
        },
        dir,
        sync,
    )?;
    tmp.persist(journal)
        .map_err(|e| Error::io(journal, "write", e.error))?;
    Ok(())
}

/// Renames the staged files over their targets, in order, below `root`. Returns how many renames
/// it made: a staged file that is gone was renamed before an interruption (no stat first: the
/// rename itself says so). Making the renames durable is the caller's barrier.
pub(super) fn apply(
    root: &Path,
    entries: &[JournalEntry],
    crash_after: Option<usize>,
) -> Result<usize> {
    let mut renamed = 0;
    for (i, entry) in entries.iter().enumerate() {
        if crash_after == Some(i) {
            return Err(Error::Crypto(format!("injected crash after {i} renames")));
        }
        let (staged, target) = (root.join(&entry.staged), root.join(&entry.target));
        match fs::rename(&staged, &target) {
            Ok(()) => renamed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&target, "replace", e)),
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
    /// Staged files removed instead, because the interrupted run had not finished writing them
    /// to disk (it stopped before its first barrier, so it had renamed nothing): 0 when the
    /// batch was completed.
    pub discarded: usize,
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
    let listed = journal.entries.len();
    if !committed(root, &journal.entries) {
        let mut discarded = 0;
        for entry in &journal.entries {
            if fs::remove_file(root.join(&entry.staged)).is_ok() {
                discarded += 1;
            }
        }
        // No barrier: a journal that comes back after a crash is discarded again.
        fs::remove_file(&path).map_err(|e| Error::io(&path, "remove", e))?;
        return Ok(Some(Recovered {
            listed,
            renamed: 0,
            discarded,
        }));
    }
    let renamed = apply(root, &journal.entries, None)?;
    // The renames are on disk before the journal goes (its removal needs no barrier of its own).
    let targets = journal.entries.iter().map(|e| parent(&e.target));
    for dir in super::distinct_dirs(targets) {
        sync_dir(&root.join(dir))?;
    }
    fs::remove_file(&path).map_err(|e| Error::io(&path, "remove", e))?;
    Ok(Some(Recovered {
        listed,
        renamed,
        discarded: 0,
    }))
}

/// Whether the batch a journal lists reached its first barrier, so that its renames may be
/// completed: every staged file still there holds the contents the journal lists, and every
/// staged file that is gone was renamed (its target holds those contents). Otherwise the run
/// stopped before that barrier, before any rename: its staged files may be incomplete (written,
/// not yet on disk) or missing, and the tree still holds what it held before. A format 2 journal
/// was written after its staged files were on disk: always complete.
fn committed(root: &Path, entries: &[JournalEntry]) -> bool {
    entries.iter().all(|entry| {
        let Some(want) = &entry.sha256 else {
            return true;
        };
        let staged = root.join(&entry.staged);
        let holds = |path: &Path| file_sha256(path).is_some_and(|d| hex(&d) == *want);
        if exists(&staged) {
            holds(&staged)
        } else {
            holds(&root.join(&entry.target))
        }
    })
}

/// The SHA-256 of a regular file's contents, read without following a symlink; `None` when it
/// cannot be read.
fn file_sha256(path: &Path) -> Option<[u8; 32]> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.file_type().is_file() {
        return None;
    }
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = [0u8; 8192];
    loop {
        match file.read(&mut buf).ok()? {
            0 => break,
            n => context.update(&buf[..n]),
        }
    }
    context.finish().as_ref().try_into().ok()
}

/// The SHA-256 of `bytes`.
pub(super) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Lower-case hex (by hand: a `write!` for each byte cost a tenth of a 4,000-file commit).
pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
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
    let text = read_file_capped(&path, MAX_JOURNAL_SIZE)?.map_or_else(Vec::new, |f| f.bytes);
    if text.iter().all(|&b| b == 0) {
        // Empty (or zeros, as some filesystems show a file whose data never reached the disk):
        // a journal cut short by a crash before its batch's first barrier, so before any rename.
        // It lists nothing to do.
        return Ok(Some(Journal {
            version: VERSION,
            entries: Vec::new(),
        }));
    }
    let journal: Journal = serde_json::from_slice(&text)
        .map_err(|_| refuse("is not a kubepki journal (it does not parse)".into()))?;
    if !(2..=VERSION).contains(&journal.version) {
        return Err(refuse(format!(
            "has format version {}, this kubepki reads versions 2 and {VERSION}",
            journal.version
        )));
    }
    for (i, entry) in journal.entries.iter().enumerate() {
        check_entry(root, entry, journal.version)
            .map_err(|why| refuse(format!("entry {}: {why}", i + 1)))?;
    }
    Ok(Some(journal))
}

fn check_entry(root: &Path, entry: &JournalEntry, version: u32) -> std::result::Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let hex_digest =
        |h: &String| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match (&entry.sha256, version) {
        (Some(h), 3..) if hex_digest(h) => {}
        (None, 2) => {}
        _ => {
            return Err(format!(
                "a format {version} entry needs the SHA-256 of its staged file in lower-case \
                 hex (format 3) or none (format 2)"
            ));
        }
    }
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
