//! The on-disk layout, and the only code that writes files.
//!
//! [`Layout`] knows where every file lives. [`commit`] writes a batch of files the safe way:
//! each one into a temporary file in its target directory, created with its final mode (0600 for
//! anything secret, so a key is never readable by others, not even for a moment), fsynced, then
//! renamed over the target, and the directory fsynced. Every temporary file of the batch is
//! written before the first rename, so a failure while writing (a full disk, a permission
//! problem) leaves the tree as it was. A file that is replaced is first hard-linked into a backup
//! directory.

use std::fs::{self, DirBuilder, File, Permissions};
use std::io::{ErrorKind as IoKind, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::catalog::{KubeconfigPlacement, KubeconfigProfile, Profile, SERVICE_ACCOUNT_KEY_BASE};
use super::error::{Error, Result};

/// Where per-node certificates live below the certificate directory: `kubelet/<node>/`.
pub const NODE_DIR: &str = "kubelet";
/// Where per-node kubeconfigs live below the kubeconfig directory: `nodes/<node>/`.
pub const NODE_KUBECONFIG_DIR: &str = "nodes";
/// Where replaced files are kept, below the certificate directory for PKI files and below the
/// kubeconfig directory for kubeconfigs: `kubepki-backup/<time>/`.
pub const BACKUP_DIR: &str = "kubepki-backup";

/// The kinds of file kubepki writes, each with its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    PrivateKey,
    Certificate,
    /// sa.pub. kubeadm writes it 0600 through its key writer; it is not secret, so 0644.
    PublicKey,
    /// Kubeconfigs embed a private key.
    Kubeconfig,
}

impl FileKind {
    pub fn mode(self) -> u32 {
        match self {
            FileKind::PrivateKey | FileKind::Kubeconfig => 0o600,
            FileKind::Certificate | FileKind::PublicKey => 0o644,
        }
    }

    pub fn is_secret(self) -> bool {
        self.mode() & 0o077 == 0
    }
}

/// The layout of a certificate directory (kubeadm's `certificatesDir`) and of the kubeconfig
/// directory (kubeadm's `/etc/kubernetes`).
#[derive(Debug, Clone)]
pub struct Layout {
    cert_dir: PathBuf,
    kubeconfig_dir: PathBuf,
}

impl Layout {
    pub fn new(cert_dir: impl Into<PathBuf>, kubeconfig_dir: impl Into<PathBuf>) -> Self {
        Layout {
            cert_dir: cert_dir.into(),
            kubeconfig_dir: kubeconfig_dir.into(),
        }
    }

    /// kubeadm keeps the PKI in `/etc/kubernetes/pki` and the kubeconfigs in `/etc/kubernetes`:
    /// by default the kubeconfig directory is the certificate directory's parent.
    pub fn default_kubeconfig_dir(cert_dir: &Path) -> PathBuf {
        match cert_dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    pub fn cert_dir(&self) -> &Path {
        &self.cert_dir
    }

    pub fn kubeconfig_dir(&self) -> &Path {
        &self.kubeconfig_dir
    }

    pub fn kubeconfig_path(&self, profile: &KubeconfigProfile, node: &str) -> PathBuf {
        match profile.placement {
            KubeconfigPlacement::ControlPlane => self.kubeconfig_dir.join(profile.file_name),
            KubeconfigPlacement::PerNode => self
                .kubeconfig_dir
                .join(NODE_KUBECONFIG_DIR)
                .join(node)
                .join(profile.file_name),
        }
    }

    /// The path stem of a profile's files; per-node profiles live in the node's directory.
    fn stem(&self, profile: &Profile, node: &str) -> PathBuf {
        if profile.per_node() {
            self.cert_dir
                .join(NODE_DIR)
                .join(node)
                .join(profile.base_name)
        } else {
            self.cert_dir.join(profile.base_name)
        }
    }

    pub fn cert_path(&self, profile: &Profile, node: &str) -> PathBuf {
        with_extension(self.stem(profile, node), "crt")
    }

    pub fn key_path(&self, profile: &Profile, node: &str) -> PathBuf {
        with_extension(self.stem(profile, node), "key")
    }

    pub fn sa_key(&self) -> PathBuf {
        self.cert_dir
            .join(format!("{SERVICE_ACCOUNT_KEY_BASE}.key"))
    }

    pub fn sa_pub(&self) -> PathBuf {
        self.cert_dir
            .join(format!("{SERVICE_ACCOUNT_KEY_BASE}.pub"))
    }

    /// `stamp`, or `stamp-2`, `stamp-3`, ... : the first name no backup directory uses yet.
    pub fn unique_backup_stamp(&self, stamp: &str) -> String {
        let taken = |s: &str| {
            exists(&self.cert_dir.join(BACKUP_DIR).join(s))
                || exists(&self.kubeconfig_dir.join(BACKUP_DIR).join(s))
        };
        let mut candidate = stamp.to_string();
        let mut n = 1;
        while taken(&candidate) {
            n += 1;
            candidate = format!("{stamp}-{n}");
        }
        candidate
    }

    /// Where a file replaced in the run stamped `stamp` is kept: below the certificate
    /// directory, the kubeconfig directory, or (for a file elsewhere) the file's own directory,
    /// with its path relative to that root.
    pub fn backup_path(&self, stamp: &str, file: &Path) -> PathBuf {
        let (root, relative) = if let Ok(rel) = file.strip_prefix(&self.cert_dir) {
            (self.cert_dir.as_path(), rel)
        } else if let Ok(rel) = file.strip_prefix(&self.kubeconfig_dir) {
            (self.kubeconfig_dir.as_path(), rel)
        } else {
            (
                parent(file),
                Path::new(file.file_name().unwrap_or_default()),
            )
        };
        root.join(BACKUP_DIR).join(stamp).join(relative)
    }
}

// `Path::with_extension` would cut "etcd/ca" fine but also a node name with dots; append instead.
fn with_extension(stem: PathBuf, ext: &str) -> PathBuf {
    let mut s = stem.into_os_string();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// One file to write.
#[derive(Debug)]
pub struct FileWrite {
    pub path: PathBuf,
    pub kind: FileKind,
    pub contents: Vec<u8>,
    /// When the target exists, keep the old file here first.
    pub backup: Option<PathBuf>,
}

/// The names of the directories in `dir`, sorted; empty when `dir` does not exist.
pub fn subdirectories(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// Reads a file, `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.kind() == IoKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, "read", e)),
    }
}

pub fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Creates a directory and its missing parents with mode 0755.
pub fn create_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| Error::io(dir, "create directory", e))
}

/// The journal of a batch being committed, in the certificate directory: written once every
/// temporary file of the batch is complete on disk, removed once every rename is done. A run
/// that finds one completes the renames it lists (see [`recover`]).
pub const JOURNAL: &str = ".kubepki-journal";

#[derive(Debug, Serialize, serde::Deserialize)]
struct JournalEntry {
    staged: PathBuf,
    target: PathBuf,
}

thread_local! {
    /// Fault injection for the crash-safety tests: stop a commit (as a kill would) after this
    /// many renames. Not set in normal runs.
    static CRASH_AFTER_RENAMES: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Makes the next [`commit`] on this thread stop after `renames` renames, leaving the tree as a
/// process killed at that point would. For tests.
#[doc(hidden)]
pub fn inject_crash_after_renames(renames: Option<usize>) {
    CRASH_AFTER_RENAMES.with(|c| c.set(renames));
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
    temp: tempfile::TempPath,
}

/// Writes `w` to a temporary file in its target directory, which must exist.
pub fn stage(w: &FileWrite, durability: Durability) -> Result<Staged> {
    let temp = write_temporary(w, parent(&w.path), durability == Durability::PerFile)?;
    Ok(Staged {
        target: w.path.clone(),
        backup: w.backup.clone(),
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

/// Writes every file of `writes` atomically (see the module docs), in order, with the journal
/// in `journal_dir`: a key and its certificate are replaced together, even across a crash.
pub fn commit(writes: &[FileWrite], journal_dir: &Path) -> Result<()> {
    let durability = Durability::for_files(writes.len());
    let mut staged = Vec::with_capacity(writes.len());
    for w in writes {
        create_dir(parent(&w.path))?;
        staged.push(stage(w, durability)?);
    }
    commit_staged(staged, journal_dir, durability)
}

/// Puts staged files in place, in order: backups of what they replace, the journal, the renames.
pub fn commit_staged(
    staged: Vec<Staged>,
    journal_dir: &Path,
    durability: Durability,
) -> Result<()> {
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
            keep_backup(&s.target, backup, per_file)?;
        }
    }
    if !per_file {
        sync_filesystems(&dirs)?;
    }
    // From here on the staged files must survive a crash: the journal names them.
    let mut entries = Vec::with_capacity(staged.len());
    let mut kept = Vec::with_capacity(staged.len());
    for s in staged {
        let target =
            std::path::absolute(&s.target).map_err(|e| Error::io(&s.target, "resolve", e))?;
        let path = s
            .temp
            .keep()
            .map_err(|e| Error::io(&s.target, "keep the staged file for", e.error))?;
        kept.push(path.clone());
        let staged = std::path::absolute(&path).map_err(|e| Error::io(&path, "resolve", e))?;
        entries.push(JournalEntry { staged, target });
    }
    let journal = journal_dir.join(JOURNAL);
    let text = serde_json::to_vec_pretty(&entries).map_err(|e| Error::Crypto(e.to_string()))?;
    if let Err(e) = write_journal(&journal, &text) {
        for path in &kept {
            let _ = fs::remove_file(path);
        }
        return Err(e);
    }
    let crash_after = CRASH_AFTER_RENAMES.with(|c| c.take());
    apply(&entries, crash_after, per_file)?;
    if !per_file {
        sync_filesystems(&dirs)?;
    }
    fs::remove_file(&journal).map_err(|e| Error::io(&journal, "remove", e))?;
    sync_dir(journal_dir)
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

fn write_journal(journal: &Path, text: &[u8]) -> Result<()> {
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
fn apply(entries: &[JournalEntry], crash_after: Option<usize>, sync_dirs: bool) -> Result<()> {
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

/// An exclusive lock on a certificate directory, held until dropped: `flock(2)` on the
/// directory itself, so that locking leaves no file behind. A second run finds the holder's pid
/// in /proc/locks.
#[derive(Debug)]
pub struct Lock {
    _dir: File,
    /// The directory was created to be locked; it is removed again if it is still empty.
    created: Option<PathBuf>,
}

impl Lock {
    /// Takes the lock, waiting up to `wait` for another run to release it. The directory is
    /// created if it does not exist (so that two first runs on it are serialised too).
    pub fn acquire(dir: &Path, wait: std::time::Duration) -> Result<Lock> {
        let created = (!exists(dir)).then(|| dir.to_path_buf());
        create_dir(dir)?;
        let handle = File::open(dir).map_err(|e| Error::io(dir, "open", e))?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            match handle.try_lock() {
                Ok(()) => {
                    return Ok(Lock {
                        _dir: handle,
                        created,
                    });
                }
                Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    let holder =
                        lock_holder(&handle).map_or("unknown".to_string(), |p| p.to_string());
                    return Err(Error::Locked {
                        path: dir.to_path_buf(),
                        message: format!(
                            "another kubepki run (pid {holder}) holds the lock on this directory; \
                             waited {} s",
                            wait.as_secs()
                        ),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io(dir, "lock", e)),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Some(dir) = &self.created {
            // Only succeeds when the run wrote nothing: a refused run leaves no directory.
            let _ = fs::remove_dir(dir);
        }
    }
}

/// The pid holding a flock on `file`, from /proc/locks (lines like
/// `1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF`).
fn lock_holder(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let inode = file.metadata().ok()?.ino();
    let locks = fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (pid, id) = (fields.get(4)?, fields.get(5)?);
        let ino: u64 = id.rsplit(':').next()?.parse().ok()?;
        (fields.get(1) == Some(&"FLOCK") && ino == inode).then(|| pid.parse().ok())?
    })
}

/// The directory a file is in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    parent(path)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `w` to a new temporary file in `dir` and closes it; with `sync`, fsyncs it first.
fn write_temporary(w: &FileWrite, dir: &Path, sync: bool) -> Result<tempfile::TempPath> {
    let name = w
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The mode is applied by open(2) itself: a secret is never on disk with wider permissions.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(w.kind.mode()))
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, "create a temporary file in", e))?;
    if !w.kind.is_secret() {
        // Public files get exactly 0644 whatever the umask; widening an empty file is harmless.
        tmp.as_file()
            .set_permissions(Permissions::from_mode(w.kind.mode()))
            .map_err(|e| Error::io(tmp.path(), "set permissions of", e))?;
    }
    tmp.write_all(&w.contents)
        .and_then(|()| {
            if sync {
                tmp.as_file().sync_all()
            } else {
                Ok(())
            }
        })
        .map_err(|e| Error::io(&w.path, "write", e))?;
    // Closed now: a batch of thousands of staged files holds no descriptors.
    Ok(tmp.into_temp_path())
}

fn keep_backup(path: &Path, backup: &Path, sync: bool) -> Result<()> {
    if exists(backup) {
        // Never overwrite a backup: it may be the only copy of what it holds.
        return Err(Error::conflict(
            backup,
            "a backup already exists here; not overwriting it",
        ));
    }
    create_dir(parent(backup))?;
    // A hard link keeps the old inode, mode and bytes exactly; copy where links are not possible.
    if fs::hard_link(path, backup).is_err() {
        let data = fs::read(path).map_err(|e| Error::io(path, "read", e))?;
        let mode = fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0o600);
        let kind = if mode & 0o077 == 0 {
            FileKind::PrivateKey
        } else {
            FileKind::Certificate
        };
        let tmp = write_temporary(
            &FileWrite {
                path: backup.to_path_buf(),
                kind,
                contents: data,
                backup: None,
            },
            parent(backup),
            sync,
        )?;
        tmp.persist(backup)
            .map_err(|e| Error::io(backup, "write backup", e.error))?;
    }
    // Backups live on the same filesystem as what they back up; a large batch syncs it whole.
    if sync {
        sync_dir(parent(backup))?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, "sync directory", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn writes_with_modes_and_keeps_backups() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("etcd/server.key");
        let crt = dir.path().join("etcd/server.crt");
        let batch = |k: &str, c: &str, backup: bool| {
            vec![
                FileWrite {
                    path: key.clone(),
                    kind: FileKind::PrivateKey,
                    contents: k.into(),
                    backup: backup.then(|| dir.path().join("b/server.key")),
                },
                FileWrite {
                    path: crt.clone(),
                    kind: FileKind::Certificate,
                    contents: c.into(),
                    backup: backup.then(|| dir.path().join("b/server.crt")),
                },
            ]
        };
        commit(&batch("k1", "c1", false), dir.path()).unwrap();
        assert_eq!(fs::metadata(&key).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&crt).unwrap().mode() & 0o777, 0o644);
        assert_eq!(
            fs::metadata(dir.path().join("etcd")).unwrap().mode() & 0o777,
            0o755
        );
        commit(&batch("k2", "c2", true), dir.path()).unwrap();
        assert_eq!(fs::read_to_string(&key).unwrap(), "k2");
        assert_eq!(
            fs::read_to_string(dir.path().join("b/server.key")).unwrap(),
            "k1"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("b/server.crt")).unwrap(),
            "c1"
        );
        // No temporary files are left behind.
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("etcd"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn a_failed_batch_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ca.crt");
        fs::write(&good, "old").unwrap();
        // A path below a regular file cannot be created: staging fails before any rename.
        let bad = good.join("impossible.key");
        let err = commit(
            &[
                FileWrite {
                    path: good.clone(),
                    kind: FileKind::Certificate,
                    contents: b"new".to_vec(),
                    backup: None,
                },
                FileWrite {
                    path: bad,
                    kind: FileKind::PrivateKey,
                    contents: b"x".to_vec(),
                    backup: None,
                },
            ],
            dir.path(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("ca.crt: cannot create directory"),
            "{err}"
        );
        assert_eq!(fs::read_to_string(&good).unwrap(), "old");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["ca.crt"], "the staged temporary file is removed");
    }

    #[test]
    fn a_crash_between_renames_is_completed_by_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("apiserver.key");
        let crt = dir.path().join("apiserver.crt");
        fs::write(&key, "old key").unwrap();
        fs::write(&crt, "old cert").unwrap();
        let batch = [
            FileWrite {
                path: key.clone(),
                kind: FileKind::PrivateKey,
                contents: b"new key".to_vec(),
                backup: None,
            },
            FileWrite {
                path: crt.clone(),
                kind: FileKind::Certificate,
                contents: b"new cert".to_vec(),
                backup: None,
            },
        ];
        inject_crash_after_renames(Some(1));
        assert!(commit(&batch, dir.path()).is_err());
        // Torn: a new key beside the old certificate, and the journal saying how to finish.
        assert_eq!(fs::read_to_string(&key).unwrap(), "new key");
        assert_eq!(fs::read_to_string(&crt).unwrap(), "old cert");
        assert!(interrupted(dir.path()));
        assert_eq!(recover(dir.path()).unwrap(), Some(2));
        assert_eq!(fs::read_to_string(&crt).unwrap(), "new cert");
        assert_eq!(fs::metadata(&crt).unwrap().mode() & 0o777, 0o644);
        assert_eq!(fs::metadata(&key).unwrap().mode() & 0o777, 0o600);
        assert!(!interrupted(dir.path()));
        assert_eq!(recover(dir.path()).unwrap(), None);
    }

    #[test]
    fn stale_temporaries_are_swept_but_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etcd")).unwrap();
        fs::create_dir_all(dir.path().join(BACKUP_DIR)).unwrap();
        for f in [
            ".ca.key.AbC123.tmp",
            "etcd/.peer.crt.x9Yz01.tmp",
            "ca.crt",
            ".hidden",
            "notes.tmp",
        ] {
            fs::write(dir.path().join(f), "x").unwrap();
        }
        fs::write(dir.path().join(BACKUP_DIR).join(".ca.key.AbC123.tmp"), "x").unwrap();
        assert_eq!(remove_stale_temporaries(dir.path(), false), 1);
        assert_eq!(remove_stale_temporaries(dir.path(), true), 1);
        assert!(dir.path().join("ca.crt").exists());
        assert!(dir.path().join(".hidden").exists());
        assert!(dir.path().join("notes.tmp").exists());
        assert!(
            dir.path()
                .join(BACKUP_DIR)
                .join(".ca.key.AbC123.tmp")
                .exists()
        );
    }

    #[test]
    fn a_held_lock_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::acquire(dir.path(), std::time::Duration::ZERO).unwrap();
        // flock locks belong to open file descriptions: a second open in the same process
        // conflicts like another process would.
        let err = Lock::acquire(dir.path(), std::time::Duration::from_millis(100)).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        Lock::acquire(dir.path(), std::time::Duration::ZERO).unwrap();
    }
}
