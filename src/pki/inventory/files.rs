//! One file as read: found or missing or unusable (with the problem, never the contents), its
//! mode and owner, and what it holds (a certificate chain, a key).

use std::path::{Path, PathBuf};

use crate::pki::cert::{self, CertFacts};
use crate::pki::error::{Error, ErrorKind};
use crate::pki::keys::PrivateKey;
use crate::pki::store::{self, FileData};

/// What a read found at a path.
#[derive(Debug)]
pub enum Found<T> {
    /// Nothing at the path.
    Missing,
    /// Present but unusable: unreadable, not a regular file, too large, or not parseable.
    Broken(Problem),
    /// Boxed: an inventory of thousands of nodes holds thousands of these, mostly missing.
    Present(Box<T>),
}

impl<T> Found<T> {
    /// What it holds, when it is present and usable.
    pub fn present(&self) -> Option<&T> {
        match self {
            Found::Present(t) => Some(t.as_ref()),
            _ => None,
        }
    }

    /// Why it is unusable, when it is.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Found::Broken(p) => Some(p),
            _ => None,
        }
    }

    /// Whether there is something at the path, usable or not.
    pub fn exists(&self) -> bool {
        !matches!(self, Found::Missing)
    }
}

/// Why a file cannot be used: the kind of error it would be, and a message that names the
/// problem (never the file's contents).
#[derive(Debug, Clone)]
pub struct Problem {
    /// The kind of [`Error`] it becomes ([`Problem::to_error`]): I/O, or a bad file.
    pub kind: ErrorKind,
    /// What is wrong, never quoting the file's contents; [`Problem::to_error`] adds the path.
    pub message: String,
    /// For I/O problems: what could not be done ("read", "stat").
    action: Option<&'static str>,
}

impl Problem {
    pub(super) fn bad(message: impl Into<String>) -> Self {
        Problem {
            kind: ErrorKind::BadFile,
            message: message.into(),
            action: None,
        }
    }

    /// The typed error for this problem at `path`.
    pub fn to_error(&self, path: &Path) -> Error {
        match (self.kind, self.action) {
            (ErrorKind::Io, Some(action)) => {
                Error::io(path, action, std::io::Error::other(self.message.clone()))
            }
            _ => Error::bad_file(path, self.message.clone()),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.action {
            Some(action) => write!(f, "cannot {action}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        let kind = e.kind();
        match e {
            Error::Io { action, cause, .. } => Problem {
                kind,
                message: cause.to_string(),
                action: Some(action),
            },
            Error::BadFile { message, .. }
            | Error::Conflict { message, .. }
            | Error::Locked { message, .. } => Problem {
                kind,
                message,
                action: None,
            },
            other => Problem {
                kind,
                message: other.to_string(),
                action: None,
            },
        }
    }
}

/// A file's mode and owner.
#[derive(Debug, Clone, Copy)]
pub struct FileMeta {
    /// The permission bits (`st_mode & 0o7777`, e.g. `0o600`).
    pub mode: u32,
    /// The owner's user id.
    pub uid: u32,
}

/// A certificate file: the chain it holds (a bundle gives several) and the first one's facts.
#[derive(Debug)]
pub struct CertFile {
    /// Every certificate of the file (DER), in file order; never empty.
    pub chain: Vec<Vec<u8>>,
    /// What the first certificate holds.
    pub facts: CertFacts,
    /// The file's mode and owner.
    pub meta: FileMeta,
}

/// A private key file.
#[derive(Debug)]
pub struct KeyFile {
    /// The key, whichever PEM encoding it was in.
    pub key: PrivateKey,
    /// The file's mode and owner.
    pub meta: FileMeta,
}

/// A certificate of the catalog and its key.
#[derive(Debug)]
pub struct Pair {
    /// Where the certificate is (`<cert-dir>/<base>.crt`, or below a node's directory).
    pub cert_path: PathBuf,
    /// Where its key is (`<base>.key` beside it).
    pub key_path: PathBuf,
    /// What was found at `cert_path`.
    pub cert: Found<CertFile>,
    /// What was found at `key_path`.
    pub key: Found<KeyFile>,
    /// For a leaf: whether the certificate chains to its CA's certificate file (`Err` says why
    /// not); `None` when either cannot be read, or for a CA.
    pub chain: Option<Result<(), String>>,
}

impl Pair {
    /// Whether the key is the certificate's; `None` when either is unusable.
    pub fn key_matches(&self) -> Option<bool> {
        let (cert, key) = (self.cert.present()?, self.key.present()?);
        Some(key.key.public_key_raw() == cert.facts.public_key_raw)
    }
}

/// The service-account key pair: `sa.key` and `sa.pub` (kept as read: a public key PEM).
#[derive(Debug)]
pub struct ServiceAccountFiles {
    /// `<cert-dir>/sa.key`.
    pub key_path: PathBuf,
    /// `<cert-dir>/sa.pub`.
    pub pub_path: PathBuf,
    /// What was found at `key_path`.
    pub key: Found<KeyFile>,
    /// The bytes found at `pub_path`, unparsed (during a key rotation it holds two keys).
    pub public: Found<Vec<u8>>,
}

pub(super) fn read(path: &Path) -> Found<FileData> {
    match store::read_file(path) {
        Ok(None) => Found::Missing,
        Ok(Some(f)) => Found::Present(Box::new(f)),
        Err(e) => Found::Broken(e.into()),
    }
}

/// Reads a certificate file (a bundle is fine; the first certificate is the one described).
pub fn read_cert(path: &Path) -> Found<CertFile> {
    let data = match read(path) {
        Found::Present(d) => *d,
        Found::Missing => return Found::Missing,
        Found::Broken(p) => return Found::Broken(p),
    };
    let parsed = cert::certs_from_pem(&data.bytes).and_then(|chain| {
        let facts = CertFacts::from_der(&chain[0])?;
        Ok((chain, facts))
    });
    match parsed {
        Ok((chain, facts)) => Found::Present(Box::new(CertFile {
            chain,
            facts,
            meta: FileMeta {
                mode: data.mode,
                uid: data.uid,
            },
        })),
        Err(e) => Found::Broken(Problem::bad(e)),
    }
}

/// Reads a private key file.
pub fn read_key(path: &Path) -> Found<KeyFile> {
    let data = match read(path) {
        Found::Present(d) => *d,
        Found::Missing => return Found::Missing,
        Found::Broken(p) => return Found::Broken(p),
    };
    match PrivateKey::from_pem(&data.bytes) {
        Ok(key) => Found::Present(Box::new(KeyFile {
            key,
            meta: FileMeta {
                mode: data.mode,
                uid: data.uid,
            },
        })),
        Err(e) => Found::Broken(Problem::bad(e)),
    }
}
