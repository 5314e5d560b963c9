//! Typed errors of the PKI core.
//!
//! Every error names the thing it is about (a file, a flag, a certificate) so the command line can
//! print it as is. [`ErrorKind`] groups them into the classes the CLI maps to exit codes.

use std::path::{Path, PathBuf};

// The helpers for messages about untrusted input live in `untrusted`; quoting is public because
// a caller building its own message about input needs it too.
pub use super::untrusted::quote_input;

/// What class of failure an [`Error`] is; the CLI turns this into the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A flag or argument value is malformed or not allowed.
    Usage,
    /// A file on disk exists but does not match what was asked; `--force` would replace it.
    Conflict,
    /// A file on disk cannot be used: unreadable, malformed, a key that does not match its
    /// certificate, a CA whose key is absent when one is needed.
    BadFile,
    /// Reading or writing failed, or a crypto operation failed.
    Io,
    /// Another kubepki process holds the lock on the certificate directory.
    Locked,
}

/// An error of the PKI core; it displays as `<flag or file>: <message>`, ready to print.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or argument value is malformed or not allowed.
    #[error("{flag}: {message}")]
    Usage {
        /// The flag (`--node-name`) or argument the value came from.
        flag: String,
        /// What is wrong with the value.
        message: String,
    },

    /// A file exists but does not match what was asked; `--force` would replace it.
    #[error("{}: {message}", path.display())]
    Conflict {
        /// The file.
        path: PathBuf,
        /// How it differs from what was asked.
        message: String,
    },

    /// A file cannot be used: malformed, a key that does not match its certificate, a CA whose
    /// key is absent when one is needed.
    #[error("{}: {message}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    // The OS error is part of the message (and not a `#[source]`), so it is printed once both
    // by `to_string` (as in `Many`) and by anyhow's `{:#}` chain.
    /// Reading or writing a file failed.
    #[error("{}: cannot {action}: {cause}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done, as a verb phrase (`read`, `create directory`).
        action: &'static str,
        /// The OS error.
        cause: std::io::Error,
    },

    /// A cryptographic operation (key generation, signing, encoding) failed, or an internal
    /// invariant did not hold (the message then starts with `internal:`).
    #[error("{0}")]
    Crypto(String),

    /// Another kubepki run holds the lock on a certificate directory.
    #[error("{}: {message}", path.display())]
    Locked {
        /// The locked directory.
        path: PathBuf,
        /// Who holds it and for how long kubepki waited.
        message: String,
    },

    /// Several independent problems found while planning; all are reported at once so the user
    /// can fix them in one go.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),
}

impl Error {
    /// The class of the error (of the first one for [`Error::Many`]), which the CLI maps to an
    /// exit code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Usage { .. } => ErrorKind::Usage,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::BadFile { .. } => ErrorKind::BadFile,
            Error::Io { .. } | Error::Crypto(_) => ErrorKind::Io,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::Many(all) => all.first().map_or(ErrorKind::Io, Error::kind),
        }
    }

    /// An [`Error::Usage`] about `flag`.
    pub fn usage(flag: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Usage {
            flag: flag.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Conflict`] about the file at `path`.
    pub fn conflict(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Conflict {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    /// An [`Error::BadFile`] about the file at `path`.
    pub fn bad_file(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    /// An [`Error::Io`]: `action` (a verb phrase such as `read`) on `path` failed with `cause`.
    pub fn io(path: impl AsRef<Path>, action: &'static str, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            action,
            cause,
        }
    }

    /// One error from many, or `Ok` when there are none.
    pub fn from_all(mut errors: Vec<Error>) -> Result<()> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Many(errors)),
        }
    }
}

impl From<rcgen::Error> for Error {
    fn from(e: rcgen::Error) -> Self {
        Error::Crypto(format!("certificate generation failed: {e}"))
    }
}

/// The result type of the PKI core: its errors are [`Error`]s.
pub type Result<T, E = Error> = std::result::Result<T, E>;
