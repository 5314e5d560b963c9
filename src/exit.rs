//! Exit codes: one enum, mapped to numbers in one place, documented in `--help`.

use crate::pki::ErrorKind;

/// How a run ended, as the process exit code [`ExitStatus::code`] gives; [`crate::cli::run`]
/// returns it and `--help` lists it ([`EXIT_CODES_HELP`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The command did what was asked; for check-expiration and audit, nothing reached a
    /// failing status.
    Success = 0,
    /// An I/O or internal failure.
    Failure = 1,
    /// A flag or argument is malformed or not allowed (also clap's own usage errors).
    Usage = 2,
    /// A file exists but does not match what was asked (`--force` replaces it).
    Conflict = 3,
    /// A file cannot be used: malformed, a key that does not match, a CA key that is absent.
    BadFile = 4,
    /// check-expiration: a certificate has expired, or expires within --fail-within.
    Expiring = 5,
    /// check-expiration: a certificate is missing or invalid.
    MissingOrInvalid = 6,
    /// Another kubepki run holds the lock on the certificate directory.
    Locked = 7,
    /// audit: a finding at or above `--fail-on`.
    AuditFindings = 8,
}

impl ExitStatus {
    /// The exit status of a failed run, by the kind of the [`crate::pki::Error`] that ended it.
    pub fn from_kind(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Usage => ExitStatus::Usage,
            ErrorKind::Conflict => ExitStatus::Conflict,
            ErrorKind::BadFile => ExitStatus::BadFile,
            ErrorKind::Io => ExitStatus::Failure,
            ErrorKind::Locked => ExitStatus::Locked,
        }
    }

    /// The number the process exits with (0–8).
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The exit-code table shown at the end of `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  I/O or internal failure
  2  usage error: a malformed or disallowed flag or argument
  3  conflict: a file exists but does not match the request (--force replaces it, keeping a backup)
  4  unusable file: malformed certificate or key, key not matching its certificate, CA key absent
  5  check-expiration: a certificate has expired or expires within --fail-within
  6  check-expiration: a certificate is missing or invalid
  7  another kubepki run holds the lock on the certificate directory
  8  audit: a finding at or above --fail-on (default: error)";
