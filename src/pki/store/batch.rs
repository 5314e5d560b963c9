//! A batch of files put in place together: every file staged first, then backups, the journal,
//! the renames, and the journal removed. A failure before the journal leaves the tree as it was;
//! a crash after it is completed by the next run ([`super::journal::recover`]).

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::atomic::{FileWrite, keep_backup, sync_dir, write_temporary};
use super::journal::{self, JOURNAL, Journal, JournalEntry};
use super::layout::is_kubepki_file;
use super::{create_dir, exists, parent};
use crate::pki::error::{Error, Result};

#[cfg(feature = "test-hooks")]
thread_local! {
    /// Fault injection for the crash-safety tests: stop a commit (as a kill would) after this
    /// many renames. Compiled only with the `test-hooks` feature, which the tests enable.
    static CRASH_AFTER_RENAMES: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Makes the next [`commit`] on this thread stop after `renames` renames, leaving the tree as a
/// process killed at that point would. Only with the `test-hooks` feature (the tests' build).
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub fn inject_crash_after_renames(renames: Option<usize>) {
    CRASH_AFTER_RENAMES.with(|c| c.set(renames));
}

fn crash_after() -> Option<usize> {
    #[cfg(feature = "test-hooks")]
    return CRASH_AFTER_RENAMES.with(|c| c.take());
    #[cfg(not(feature = "test-hooks"))]
    None
}

/// How a batch is made durable. Above a few files, one `syncfs(2)` per filesystem replaces an
/// fsync per file and directory: the same guarantee (everything written to that filesystem is
/// on disk, write-back errors reported), at a fraction of the cost for thousands of files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    PerFile,
    Batch,
}

impl Durability {
    pub fn for_files(count: usize) -> Durability {
        if count <= 8 {
            Durability::PerFile
        } else {
            Durability::Batch
        }
    }
}

/// A file written to a temporary file beside its target (closed, so a batch of thousands holds
/// no descriptors and no contents in memory), waiting for [`commit_staged`]. Dropped without
/// being committed, the temporary file is removed.
#[derive(Debug)]
pub struct Staged {
    target: PathBuf,
    backup: Option<PathBuf>,
    /// A key or kubeconfig: its backup is private.
    secret: bool,
    temp: tempfile::TempPath,
}

/// Writes `w` to a temporary file in its target directory, which must exist.
pub fn stage(w: &FileWrite, durability: Durability) -> Result<Staged> {
    let temp = write_temporary(w, parent(&w.path), durability == Durability::PerFile)?;
    Ok(Staged {
        target: w.path.clone(),
        backup: w.backup.clone(),
        secret: w.kind.is_secret(),
        temp,
    })
}

/// Creates the missing ones of `dirs` (0755) and returns those it created, parents first, so
/// that a failed run can remove them again with [`remove_empty_dirs`].
pub fn create_dirs<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Result<Vec<PathBuf>> {
    let mut created = Vec::new();
    for dir in dirs {
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !exists(a))
            .map(Path::to_path_buf)
            .collect();
        if let Err(e) = create_dir(dir) {
            remove_empty_dirs(&created);
            return Err(e);
        }
        created.extend(missing.into_iter().rev());
    }
    Ok(created)
}

/// Removes the directories a failed run created, innermost first, if they are still empty.
pub fn remove_empty_dirs(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        let _ = fs::remove_dir(dir);
    }
}

/// Writes every file of `writes` atomically (see the module docs), in order, journalled in
/// `root`: a key and its certificate are replaced together, even across a crash.
pub fn commit(writes: &[FileWrite], root: &Path) -> Result<()> {
    let durability = Durability::for_files(writes.len());
    let mut staged = Vec::with_capacity(writes.len());
    for w in writes {
        create_dir(parent(&w.path))?;
        staged.push(stage(w, durability)?);
    }
    commit_staged(staged, &[root], durability)
}

/// Puts staged files in place, in order: backups of what they replace, the journals, the
/// renames. Each file below one of `roots` (the certificate and kubeconfig directories) is
/// journalled in the innermost root that holds it, with paths relative to it; a file elsewhere
/// (a kubeconfig written with `--out`) is one atomic rename after the journalled ones. A batch
/// with nothing in it writes nothing.
pub fn commit_staged(staged: Vec<Staged>, roots: &[&Path], durability: Durability) -> Result<()> {
    if staged.is_empty() {
        return Ok(());
    }
    let per_file = durability == Durability::PerFile;
    let mut dirs: Vec<PathBuf> = Vec::new();
    for s in &staged {
        let dir = parent(&s.target);
        if !dirs.iter().any(|d| d == dir) {
            dirs.push(dir.to_path_buf());
        }
    }
    // Keep what will be replaced.
    for s in &staged {
        if let Some(backup) = &s.backup
            && exists(&s.target)
        {
            keep_backup(&s.target, backup, s.secret, per_file)?;
        }
    }
    if !per_file {
        sync_filesystems(&dirs)?;
    }
    // Innermost root first, so that the cert dir wins over its parent, the kubeconfig dir.
    let mut roots: Vec<&Path> = roots.to_vec();
    roots.sort_by_key(|r| std::cmp::Reverse(r.components().count()));
    roots.dedup();
    // From here on the staged files must survive a crash: the journals name them.
    let mut journals: Vec<(&Path, Vec<JournalEntry>)> =
        roots.iter().map(|r| (*r, vec![])).collect();
    let mut loose = Vec::new();
    let mut kept = Vec::with_capacity(staged.len());
    for s in staged {
        let path = s
            .temp
            .keep()
            .map_err(|e| Error::io(&s.target, "keep the staged file for", e.error))?;
        kept.push(path.clone());
        let relative = journals.iter_mut().find_map(|(root, entries)| {
            let target = s.target.strip_prefix(*root).ok()?;
            let staged = path.strip_prefix(*root).ok()?;
            is_kubepki_file(target).then(|| (entries, target.to_path_buf(), staged.to_path_buf()))
        });
        match relative {
            Some((entries, target, staged)) => entries.push(JournalEntry { staged, target }),
            None => loose.push((path, s.target)),
        }
    }
    let journals: Vec<_> = journals
        .into_iter()
        .filter(|(_, e)| !e.is_empty())
        .collect();
    for (root, entries) in &journals {
        let text = serde_json::to_vec_pretty(&Journal {
            version: journal::VERSION,
            entries: entries.clone(),
        })
        .map_err(|e| Error::Crypto(e.to_string()))?;
        if let Err(e) = journal::write_journal(&root.join(JOURNAL), &text) {
            for (root, _) in &journals {
                let _ = fs::remove_file(root.join(JOURNAL));
            }
            for path in &kept {
                let _ = fs::remove_file(path);
            }
            return Err(e);
        }
    }
    let crash_after = crash_after();
    for (root, entries) in &journals {
        journal::apply(root, entries, crash_after, per_file)?;
    }
    for (staged, target) in &loose {
        fs::rename(staged, target).map_err(|e| Error::io(target, "replace", e))?;
        if per_file {
            sync_dir(parent(target))?;
        }
    }
    if !per_file {
        sync_filesystems(&dirs)?;
    }
    for (root, _) in &journals {
        let path = root.join(JOURNAL);
        fs::remove_file(&path).map_err(|e| Error::io(&path, "remove", e))?;
        sync_dir(root)?;
    }
    Ok(())
}

/// One `syncfs(2)` for each filesystem the directories are on.
fn sync_filesystems(dirs: &[PathBuf]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut devices = Vec::new();
    for dir in dirs {
        let handle = File::open(dir).map_err(|e| Error::io(dir, "open", e))?;
        let dev = handle
            .metadata()
            .map_err(|e| Error::io(dir, "stat", e))?
            .dev();
        if !devices.contains(&dev) {
            rustix::fs::syncfs(&handle)
                .map_err(|e| Error::io(dir, "sync the filesystem of", e.into()))?;
            devices.push(dev);
        }
    }
    Ok(())
}
