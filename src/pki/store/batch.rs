//! A batch of files put in place together: every file staged first, then backups, the journal,
//! the renames, and the journal removed. A failure before the journal leaves the tree as it was;
//! a crash after it is completed by the next run ([`super::journal::recover`]).

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::atomic::{FileWrite, keep_backup, sync_dir, write_temporary};
use super::journal::{self, JOURNAL, JournalEntry};
use super::layout::is_kubepki_file;
use super::{create_dir, distinct_dirs, exists, parent};
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
/// on disk, write-back errors reported), at a fraction of the cost for thousands of files, and on
/// a busy machine even for a few dozen (27 new files on this project's loaded ext4: ~6 ms with
/// syncfs, ~50 ms with an fsync each; see README, "Performance").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// An fsync of each file and of each directory that got a new name.
    PerFile,
    /// One `syncfs(2)` per filesystem the batch touches, at each barrier.
    Batch,
}

impl Durability {
    /// The cheaper way for a batch of `count` files: per file up to 8, else per filesystem.
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
    /// SHA-256 of the contents, for the journal: recovery renames only a complete file.
    digest: [u8; 32],
}

/// Writes `w` to a temporary file in its target directory, which must exist.
pub fn stage(w: &FileWrite, durability: Durability) -> Result<Staged> {
    let temp = write_temporary(w, parent(&w.path), durability == Durability::PerFile)?;
    Ok(Staged {
        target: w.path.clone(),
        backup: w.backup.clone(),
        secret: w.kind.is_secret(),
        temp,
        digest: journal::sha256(&w.contents),
    })
}

/// Creates the missing ones of `dirs` (0755) and returns those it created, parents first, so
/// that a failed run can remove them again with [`remove_empty_dirs`].
pub fn create_dirs<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Result<Vec<PathBuf>> {
    let mut created = Vec::new();
    for dir in dirs {
        if let Err(e) = create_missing(dir, &mut created) {
            remove_empty_dirs(&created);
            return Err(Error::io(dir, "create directory", e));
        }
    }
    Ok(created)
}

/// `mkdir` first, its parents only when it says they are missing: one system call for each
/// directory of a batch (a stat of each ancestor first took three for a node's directory).
fn create_missing(dir: &Path, created: &mut Vec<PathBuf>) -> std::io::Result<()> {
    use std::io::ErrorKind;
    use std::os::unix::fs::DirBuilderExt;
    let mkdir = |d: &Path| fs::DirBuilder::new().mode(0o755).create(d);
    match mkdir(dir) {
        Ok(()) => {
            created.push(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => {
                create_missing(p, created)?;
                match mkdir(dir) {
                    Ok(()) => {
                        created.push(dir.to_path_buf());
                        Ok(())
                    }
                    Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
                    Err(e) => Err(e),
                }
            }
            _ => Err(e),
        },
        Err(e) => Err(e),
    }
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
///
/// Two barriers make the batch durable and crash-safe:
/// 1. After every staged file, backup and journal is written, and before the first rename:
///    with [`Durability::Batch`] one `syncfs` per filesystem, else an fsync of each staged file
///    (at staging), of each journal and of each directory that got a new name. A crash before
///    this barrier completes may leave a journal whose staged files are incomplete or missing;
///    no rename has happened yet, and the journal holds the SHA-256 of every staged file, so
///    recovery sees that and discards the batch, leaving the tree as it was
///    ([`super::journal::recover`]).
/// 2. After the renames: the same barrier over the target directories, so that success means
///    every file is on disk. Only then is the journal removed, without a barrier of its own: a
///    journal that comes back after a crash names staged files that are gone and targets that
///    hold exactly the contents it lists, so recovery renames nothing and removes it; and any
///    later run's first barrier makes the removal durable before that run renames anything.
pub fn commit_staged(staged: Vec<Staged>, roots: &[&Path], durability: Durability) -> Result<()> {
    if staged.is_empty() {
        return Ok(());
    }
    let per_file = durability == Durability::PerFile;
    // A temporary file is staged in its target's directory, so these hold both.
    let dirs = distinct_dirs(staged.iter().map(|s| parent(&s.target)));
    // Keep what will be replaced.
    let mut backup_dirs = Vec::new();
    for s in &staged {
        if let Some(backup) = &s.backup
            && exists(&s.target)
        {
            keep_backup(&s.target, backup, s.secret, per_file)?;
            backup_dirs.push(parent(backup).to_path_buf());
        }
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
            Some((entries, target, staged)) => entries.push(JournalEntry {
                staged,
                target,
                sha256: Some(journal::hex(&s.digest)),
            }),
            None => loose.push((path, s.target)),
        }
    }
    let journals: Vec<_> = journals
        .into_iter()
        .filter(|(_, e)| !e.is_empty())
        .collect();
    // The filesystems of the targets first, then those only the backups and journals are on.
    let mut filesystems = Filesystems(Vec::new());
    let mut target_filesystems = 0;
    let written = write_journals(&journals, per_file).and_then(|()| {
        // Barrier 1 (see above). Without a journal, a file fsynced at staging needs none.
        if !per_file {
            filesystems.add(dirs.iter().map(PathBuf::as_path))?;
            target_filesystems = filesystems.0.len();
            let more = backup_dirs.iter().map(PathBuf::as_path);
            filesystems.add(more.chain(journals.iter().map(|j| j.0)))?;
            filesystems.sync(usize::MAX)
        } else if !journals.is_empty() {
            let more = journals.iter().map(|j| j.0);
            distinct_dirs(dirs.iter().map(PathBuf::as_path).chain(more))
                .iter()
                .try_for_each(|d| sync_dir(d))
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        // Nothing renamed yet: the tree is as it was once these are gone.
        for (root, _) in &journals {
            let _ = fs::remove_file(root.join(JOURNAL));
        }
        for path in &kept {
            let _ = fs::remove_file(path);
        }
        return Err(e);
    }
    let crash_after = crash_after();
    for (root, entries) in &journals {
        journal::apply(root, entries, crash_after)?;
    }
    for (staged, target) in &loose {
        fs::rename(staged, target).map_err(|e| Error::io(target, "replace", e))?;
    }
    // Barrier 2.
    if per_file {
        for dir in &dirs {
            sync_dir(dir)?;
        }
    } else {
        filesystems.sync(target_filesystems)?;
    }
    for (root, _) in &journals {
        let path = root.join(JOURNAL);
        fs::remove_file(&path).map_err(|e| Error::io(&path, "remove", e))?;
    }
    Ok(())
}

/// Writes each root's journal; fsynced only with `sync` (a batch syncs whole filesystems next).
fn write_journals(journals: &[(&Path, Vec<JournalEntry>)], sync: bool) -> Result<()> {
    for (root, entries) in journals {
        journal::write_journal(&root.join(JOURNAL), entries, sync)?;
    }
    Ok(())
}

/// The filesystems a batch writes to, one open directory on each, for `syncfs(2)`: found once
/// (a `stat` of each directory) and synced at both barriers.
struct Filesystems(Vec<(u64, PathBuf, File)>);

impl Filesystems {
    fn add<'a>(&mut self, dirs: impl IntoIterator<Item = &'a Path>) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        for dir in dirs {
            let dev = fs::metadata(dir)
                .map_err(|e| Error::io(dir, "stat", e))?
                .dev();
            if !self.0.iter().any(|(d, ..)| *d == dev) {
                let handle = File::open(dir).map_err(|e| Error::io(dir, "open", e))?;
                self.0.push((dev, dir.to_path_buf(), handle));
            }
        }
        Ok(())
    }

    /// Syncs the first `count` filesystems found.
    fn sync(&self, count: usize) -> Result<()> {
        for (_, dir, handle) in self.0.iter().take(count) {
            rustix::fs::syncfs(handle)
                .map_err(|e| Error::io(dir, "sync the filesystem of", e.into()))?;
        }
        Ok(())
    }
}
