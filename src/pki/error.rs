//! Typed errors of the PKI core.
//!
//! Every error names the thing it is about (a file, a flag, a certificate) so the command line can
//! print it as is. [`ErrorKind`] groups them into the classes the CLI maps to exit codes.

use std::path::{Path, PathBuf};

// The helpers for messages about untrusted input live in `untrusted` and `yaml_error`; their
// old paths here stay valid.
pub use super::untrusted::{is_identifier, is_showable, quote_input, show_untrusted};
pub use super::yaml_error::describe_yaml_error;

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

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{flag}: {message}")]
    Usage { flag: String, message: String },

    #[error("{}: {message}", path.display())]
    Conflict { path: PathBuf, message: String },

    #[error("{}: {message}", path.display())]
    BadFile { path: PathBuf, message: String },

    // The OS error is part of the message (and not a `#[source]`), so it is printed once both
    // by `to_string` (as in `Many`) and by anyhow's `{:#}` chain.
    #[error("{}: cannot {action}: {cause}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        cause: std::io::Error,
    },

    #[error("{0}")]
    Crypto(String),

    #[error("{}: {message}", path.display())]
    Locked { path: PathBuf, message: String },

    /// Several independent problems found while planning; all are reported at once so the user
    /// can fix them in one go.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),
}

impl Error {
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

    pub fn usage(flag: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Usage {
            flag: flag.into(),
            message: message.into(),
        }
    }

    pub fn conflict(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Conflict {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    pub fn bad_file(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

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

pub type Result<T, E = Error> = std::result::Result<T, E>;
