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

/// Writes every file of `writes` atomically (see the module docs), in order.
pub fn commit(writes: &[FileWrite]) -> Result<()> {
    // Stage: every temporary file is complete and on disk before anything is replaced.
    let mut staged = Vec::with_capacity(writes.len());
    for w in writes {
        let dir = parent(&w.path);
        create_dir(dir)?;
        staged.push(stage(w, dir)?);
    }
    // Keep what will be replaced.
    for w in writes {
        if let Some(backup) = &w.backup
            && exists(&w.path)
        {
            keep_backup(&w.path, backup)?;
        }
    }
    // Replace, in order: callers put a key before its certificate.
    let mut dirs: Vec<&Path> = Vec::new();
    for (w, tmp) in writes.iter().zip(staged) {
        tmp.persist(&w.path)
            .map_err(|e| Error::io(&w.path, "replace", e.error))?;
        let dir = parent(&w.path);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for dir in dirs {
        sync_dir(dir)?;
    }
    Ok(())
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

fn stage(w: &FileWrite, dir: &Path) -> Result<tempfile::NamedTempFile> {
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
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io(&w.path, "write", e))?;
    Ok(tmp)
}

fn keep_backup(path: &Path, backup: &Path) -> Result<()> {
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
        let tmp = stage(
            &FileWrite {
                path: backup.to_path_buf(),
                kind,
                contents: data,
                backup: None,
            },
            parent(backup),
        )?;
        tmp.persist(backup)
            .map_err(|e| Error::io(backup, "write backup", e.error))?;
    }
    sync_dir(parent(backup))
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
        commit(&batch("k1", "c1", false)).unwrap();
        assert_eq!(fs::metadata(&key).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&crt).unwrap().mode() & 0o777, 0o644);
        assert_eq!(
            fs::metadata(dir.path().join("etcd")).unwrap().mode() & 0o777,
            0o755
        );
        commit(&batch("k2", "c2", true)).unwrap();
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
        let err = commit(&[
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
        ])
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
}
