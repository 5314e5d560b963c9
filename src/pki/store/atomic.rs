//! Atomic, durable writes of single files: a temporary file beside its target, created with its
//! final mode, fsynced; backups of what is replaced. The batch that renames them into place is in
//! [`super::batch`].

use std::fs::{self, File, Permissions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{exists, parent};
use crate::pki::error::{Error, Result};

/// The kinds of file kubepki writes, each with its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// A private key: 0600, created so at open time.
    PrivateKey,
    /// A certificate or CA bundle: 0644.
    Certificate,
    /// sa.pub. kubeadm writes it 0600 through its key writer; it is not secret, so 0644.
    PublicKey,
    /// Kubeconfigs embed a private key.
    Kubeconfig,
    /// A PKCS#10 request (`generate-csr`). Not secret, but kubeadm's `WriteCSR` makes it 0600,
    /// and so does kubepki.
    CertificateRequest,
    /// Manifests that hold a credential (`bootstrap-token`'s Secret): 0600.
    SecretManifest,
    /// A report others read (`check-expiration --textfile` for node_exporter): 0644.
    Report,
}

impl FileKind {
    /// The permission bits a file of this kind is created with.
    pub fn mode(self) -> u32 {
        match self {
            FileKind::PrivateKey
            | FileKind::Kubeconfig
            | FileKind::CertificateRequest
            | FileKind::SecretManifest => 0o600,
            FileKind::Certificate | FileKind::PublicKey | FileKind::Report => 0o644,
        }
    }

    /// Whether the file is readable by its owner only (its backups are made so too).
    pub fn is_secret(self) -> bool {
        !exposed(self.mode())
    }
}

/// Whether a file mode lets group or others at the file: wrong for a key or a kubeconfig.
pub fn exposed(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// One file to write.
#[derive(Debug)]
pub struct FileWrite {
    /// Where the file goes.
    pub path: PathBuf,
    /// What it is, which sets its mode.
    pub kind: FileKind,
    /// Its whole contents.
    pub contents: Vec<u8>,
    /// When the target exists, keep the old file here first.
    pub backup: Option<PathBuf>,
}

/// Writes `w` to a new temporary file in `dir` and closes it; with `sync`, fsyncs it first.
pub(super) fn write_temporary(w: &FileWrite, dir: &Path, sync: bool) -> Result<tempfile::TempPath> {
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

/// Keeps the file at `path` as `backup` before it is replaced. Backups of secrets (keys,
/// kubeconfigs) are 0600 whatever the original's mode, in directories that are 0700: a backup
/// never widens who can read a key. A hard link keeps the old inode exactly where that holds
/// (a public file, or a secret already 0600); otherwise the bytes are copied.
pub(super) fn keep_backup(path: &Path, backup: &Path, secret: bool, sync: bool) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if exists(backup) {
        // Never overwrite a backup: it may be the only copy of what it holds.
        return Err(Error::conflict(
            backup,
            "a backup already exists here; not overwriting it",
        ));
    }
    let dir = parent(backup);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, "create directory", e))?;
    // The backup root and this run's directory are private even if an older run made them 0755.
    for d in dir.ancestors() {
        fs::set_permissions(d, Permissions::from_mode(0o700))
            .map_err(|e| Error::io(d, "set permissions of", e))?;
        if d.file_name().is_some_and(|n| n == super::BACKUP_DIR) {
            break;
        }
    }
    let mode = fs::symlink_metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0);
    let link_keeps_it_private = !secret || !exposed(mode);
    if !(link_keeps_it_private && fs::hard_link(path, backup).is_ok()) {
        let data = super::read_optional(path)?.unwrap_or_default();
        let kind = if secret {
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
            dir,
            sync,
        )?;
        tmp.persist(backup)
            .map_err(|e| Error::io(backup, "write backup", e.error))?;
    }
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}

pub(super) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, "sync directory", e))
}

/// Moves `path` out of the tree into `backup` (a private copy when it is secret), then removes
/// it: how a CA rotation archives files that no longer belong. A missing `path` is already done.
pub fn archive(path: &Path, backup: &Path, secret: bool) -> Result<()> {
    if !exists(path) {
        return Ok(());
    }
    if !exists(backup) {
        keep_backup(path, backup, secret, true)?;
    }
    fs::remove_file(path).map_err(|e| Error::io(path, "remove", e))?;
    sync_dir(parent(path))
}
