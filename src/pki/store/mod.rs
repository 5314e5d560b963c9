//! The on-disk layout, and the only code that writes files.
//!
//! [`Layout`] knows where every file lives. [`commit`] writes a batch of files the safe way:
//! each one into a temporary file in its target directory, created with its final mode (0600 for
//! anything secret, so a key is never readable by others, not even for a moment), then renamed
//! over the target. Every temporary file of the batch is written before the first rename, so a
//! failure while writing (a full disk, a permission problem) leaves the tree as it was; a journal
//! with the SHA-256 of each makes the renames complete after a crash, and two barriers (fsyncs,
//! or one `syncfs` per filesystem for a larger batch: before the first rename and after the
//! last) make it durable ([`commit_staged`]). A file that is replaced is first hard-linked into a
//! backup directory.

mod atomic;
mod batch;
mod journal;
mod layout;
mod lock;

use std::fs::{self, DirBuilder};
use std::io::ErrorKind as IoKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use super::error::{Error, Result};

pub use atomic::{FileKind, FileWrite, archive, exposed};
#[cfg(feature = "test-hooks")]
pub use batch::inject_crash_after_renames;
pub use batch::{Durability, Staged, commit, commit_staged, create_dirs, remove_empty_dirs, stage};
pub use journal::{JOURNAL, Recovered, interrupted, pending, recover, remove_stale_temporaries};
pub use layout::{
    BACKUP_DIR, ETCD_MEMBERS_DIR, Layout, NODE_DIR, NODE_KUBECONFIG_DIR, is_kubepki_file,
};
pub use lock::Lock;

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

/// The largest file kubepki reads: far above any real PEM file or kubeconfig (a kubeconfig with
/// a few embedded certificates is under 20 KiB), far below what would hurt to hold in memory.
pub const MAX_FILE_SIZE: u64 = 1 << 20;

/// A file's bytes and the facts of its inode that matter for trust.
#[derive(Debug, Clone)]
pub struct FileData {
    /// The contents (at most [`MAX_FILE_SIZE`]).
    pub bytes: Vec<u8>,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// The owner's user id.
    pub uid: u32,
}

/// Reads a file, `None` when it does not exist. Only regular files are read (a FIFO, a device or
/// a directory is refused without blocking: the file is opened with `O_NONBLOCK` and checked
/// with `fstat` before any read), and at most [`MAX_FILE_SIZE`] bytes.
pub fn read_file(path: &Path) -> Result<Option<FileData>> {
    read_file_capped(path, MAX_FILE_SIZE)
}

/// [`read_file`], with at most `cap` bytes.
pub(crate) fn read_file_capped(path: &Path, cap: u64) -> Result<Option<FileData>> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, "read", e)),
    };
    let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
    if !meta.file_type().is_file() {
        return Err(Error::bad_file(
            path,
            format!("is not a regular file (it is {})", describe_type(&meta)),
        ));
    }
    if meta.len() > cap {
        return Err(Error::bad_file(path, too_large(cap)));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, "read", e))?;
    if bytes.len() as u64 > cap {
        return Err(Error::bad_file(path, too_large(cap)));
    }
    Ok(Some(FileData {
        bytes,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
    }))
}

/// Reads a file as [`read_file`] does, `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    Ok(read_file(path)?.map(|f| f.bytes))
}

/// Reads stdin (an input given as `-`) to its end, at most [`MAX_FILE_SIZE`] bytes; more is an
/// error naming `<stdin>`.
pub fn read_stdin() -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("<stdin>", "read", e))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(Error::bad_file("<stdin>", too_large(MAX_FILE_SIZE)));
    }
    Ok(bytes)
}

fn too_large(cap: u64) -> String {
    if cap == MAX_FILE_SIZE {
        format!(
            "is larger than {} KiB, far more than any certificate, key or kubeconfig",
            cap / 1024
        )
    } else {
        format!("is larger than {} MiB", cap >> 20)
    }
}

fn describe_type(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// The distinct directories of `dirs`, in first-seen order. A hash set: a batch for 1,000 nodes
/// has 1,000 directories, and comparing each with every other dominated such a run.
fn distinct_dirs<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Vec<std::path::PathBuf> {
    let mut seen = std::collections::HashSet::new();
    dirs.into_iter()
        .filter(|d| seen.insert(*d))
        .map(Path::to_path_buf)
        .collect()
}

/// Whether anything (a file, a directory, a dangling link) is at `path`, links not followed.
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
        assert_eq!(
            recover(dir.path()).unwrap(),
            Some(Recovered {
                listed: 2,
                renamed: 1,
                discarded: 0
            })
        );
        assert_eq!(fs::read_to_string(&crt).unwrap(), "new cert");
        assert_eq!(fs::metadata(&crt).unwrap().mode() & 0o777, 0o644);
        assert_eq!(fs::metadata(&key).unwrap().mode() & 0o777, 0o600);
        assert!(!interrupted(dir.path()));
        assert_eq!(recover(dir.path()).unwrap(), None);
    }

    /// A journalled file: target, staged name, the contents the journal lists, and what reached
    /// the disk of the staged file (`None`: not even its name).
    type Planted<'a> = (&'a str, &'a str, &'a [u8], Option<&'a [u8]>);

    /// A journal as a run leaves it when it stops before its first barrier (or after it).
    fn plant_batch(root: &Path, files: &[Planted]) {
        let entries: Vec<serde_json::Value> = files
            .iter()
            .map(|(target, staged, listed, on_disk)| {
                if let Some(bytes) = on_disk {
                    fs::write(root.join(staged), bytes).unwrap();
                }
                serde_json::json!({
                    "staged": staged,
                    "target": target,
                    "sha256": journal::hex(&journal::sha256(listed)),
                })
            })
            .collect();
        let text = serde_json::json!({"version": 3, "entries": entries});
        fs::write(root.join(JOURNAL), text.to_string()).unwrap();
    }

    #[test]
    fn a_batch_cut_short_before_its_barrier_is_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let (key, crt) = (
            dir.path().join("apiserver.key"),
            dir.path().join("apiserver.crt"),
        );
        fs::write(&key, "old key").unwrap();
        fs::write(&crt, "old cert").unwrap();
        // The key's staged copy reached the disk, the certificate's is empty (its data did not):
        // renaming the key alone would tear the pair.
        plant_batch(
            dir.path(),
            &[
                (
                    "apiserver.key",
                    ".apiserver.key.AbC123.tmp",
                    b"new key",
                    Some(b"new key"),
                ),
                (
                    "apiserver.crt",
                    ".apiserver.crt.AbC123.tmp",
                    b"new cert",
                    Some(b""),
                ),
            ],
        );
        assert_eq!(
            recover(dir.path()).unwrap(),
            Some(Recovered {
                listed: 2,
                renamed: 0,
                discarded: 2
            })
        );
        assert_eq!(fs::read_to_string(&key).unwrap(), "old key");
        assert_eq!(fs::read_to_string(&crt).unwrap(), "old cert");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "only the two old files are left: {names:?}");

        // A staged file missing while its target still holds the old contents: not renamed,
        // so the batch never reached its barrier either.
        plant_batch(
            dir.path(),
            &[
                (
                    "apiserver.key",
                    ".apiserver.key.AbC123.tmp",
                    b"new key",
                    Some(b"new key"),
                ),
                (
                    "apiserver.crt",
                    ".apiserver.crt.AbC123.tmp",
                    b"new cert",
                    None,
                ),
            ],
        );
        assert_eq!(recover(dir.path()).unwrap().unwrap().renamed, 0);
        assert_eq!(fs::read_to_string(&key).unwrap(), "old key");
    }

    #[test]
    fn a_committed_batch_is_completed_from_its_digests() {
        let dir = tempfile::tempdir().unwrap();
        let (key, crt) = (
            dir.path().join("apiserver.key"),
            dir.path().join("apiserver.crt"),
        );
        fs::write(&key, "new key").unwrap(); // renamed before the crash
        fs::write(&crt, "old cert").unwrap();
        plant_batch(
            dir.path(),
            &[
                (
                    "apiserver.key",
                    ".apiserver.key.AbC123.tmp",
                    b"new key",
                    None,
                ),
                (
                    "apiserver.crt",
                    ".apiserver.crt.AbC123.tmp",
                    b"new cert",
                    Some(b"new cert"),
                ),
            ],
        );
        assert!(pending(dir.path()).unwrap());
        assert_eq!(
            recover(dir.path()).unwrap(),
            Some(Recovered {
                listed: 2,
                renamed: 1,
                discarded: 0
            })
        );
        assert_eq!(fs::read_to_string(&crt).unwrap(), "new cert");
        assert!(!interrupted(dir.path()));
    }

    #[test]
    fn an_empty_journal_lists_nothing_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("ca.crt"), "ca").unwrap();
        for contents in [&b""[..], &[0u8; 300][..]] {
            fs::write(dir.path().join(JOURNAL), contents).unwrap();
            assert_eq!(
                recover(dir.path()).unwrap(),
                Some(Recovered {
                    listed: 0,
                    renamed: 0,
                    discarded: 0
                })
            );
            assert!(!interrupted(dir.path()));
        }
        assert_eq!(fs::read_to_string(dir.path().join("ca.crt")).unwrap(), "ca");
    }

    #[test]
    fn digests_are_sha256_in_lower_case_hex() {
        // FIPS 180-2's "abc" example.
        assert_eq!(
            journal::hex(&journal::sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_format_3_entry_without_a_digest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text =
            r#"{"version": 3, "entries": [{"staged": ".ca.crt.AbC123.tmp", "target": "ca.crt"}]}"#;
        fs::write(dir.path().join(JOURNAL), text).unwrap();
        let err = recover(dir.path()).unwrap_err().to_string();
        assert!(err.contains("SHA-256"), "{err}");
        assert!(interrupted(dir.path()), "a refused journal is left alone");
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
