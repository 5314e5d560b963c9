//! The expiry report (`check-expiration`): every catalog certificate, per-node kubelet
//! certificate and kubeconfig client certificate, plus anything found under extra paths, each
//! with its status at an injected "now".
//!
//! A file that is missing or does not parse is a row with that status, never an abort: the
//! report is what an operator looks at when things are already broken.

use std::path::PathBuf;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::store::Layout;

mod format;
mod paths;
mod rows;
mod tree;

pub(crate) use format::{expires, short_human_duration};
use paths::scan;
use tree::catalog_entries;

/// The state of one row at the report's "now", in order of gravity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Valid, and not expiring within the warning window.
    Ok,
    /// Expires within --warn-within (or --fail-within).
    Warning,
    /// Its notBefore is still in the future.
    NotYetValid,
    /// Its notAfter has passed.
    Expired,
    /// The file does not exist.
    Missing,
    /// The file exists but cannot be used: unreadable, not a certificate, or failing a check
    /// (its key, its chain); the row's `error` says why.
    Invalid,
}

impl Status {
    /// The status as the reports write it: `ok`, `warning`, `not-yet-valid`, `expired`,
    /// `missing`, `invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::NotYetValid => "not-yet-valid",
            Status::Expired => "expired",
            Status::Missing => "missing",
            Status::Invalid => "invalid",
        }
    }
}

/// When the kubelet will rotate a certificate: at a random point between 70% and 90% of its
/// lifetime (client-go's certificate manager, `nextRotationDeadline`).
#[derive(Debug, Clone, Serialize)]
pub struct RotationWindow {
    /// The earliest rotation: 70% of the way from notBefore to notAfter.
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    /// The latest rotation: 90% of the way.
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// What the row is: the catalog name (`apiserver`), the kubeconfig's file name
    /// (`admin.conf`), or, under an extra PATH, the file's path; `#2`, `#3`, ... number the
    /// certificates of a bundle.
    pub name: String,
    /// The node of a per-node certificate or kubeconfig.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The file read.
    pub path: PathBuf,
    /// The catalog CA name for catalog certificates, else the issuer's CN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    /// The certificate's notBefore; `None` when no certificate could be read.
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_before: Option<OffsetDateTime>,
    /// The certificate's notAfter; `None` when no certificate could be read.
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
    /// NotAfter − now in whole seconds (negative once expired).
    pub residual_seconds: Option<i64>,
    /// The row's state at the report's "now".
    pub status: Status,
    /// The signing CA's key is absent (kubeadm's external CA mode).
    pub externally_managed: bool,
    /// The certificate's subject, as `CN=..., O=...`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Why the row is missing or invalid, when there is more to say than its status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a certificate the kubelet rotates itself (its client certificate): when it will.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubelet_rotation: Option<RotationWindow>,
}

/// The expiry report, as `check-expiration -o json|yaml` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Always `CertificateExpirationReport`.
    pub kind: &'static str,
    /// Always [`crate::pki::REPORT_API_VERSION`].
    pub api_version: &'static str,
    /// The instant every status is computed at.
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    /// The warning window in seconds: the larger of `warn_within` and `fail_within`.
    pub warn_within_seconds: i64,
    /// `fail_within` in seconds, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_within_seconds: Option<i64>,
    /// The tree's leaf and kubeconfig client certificates and every certificate found under the
    /// extra paths, sorted by name, node and path.
    pub certificates: Vec<Entry>,
    /// The CA certificates of the kubeadm tree, sorted by name.
    pub certificate_authorities: Vec<Entry>,
    /// Files that are usable but unsafe (a key readable by others), with what to do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<FileWarning>,
}

/// A problem with a file that does not make its row invalid.
#[derive(Debug, Clone, Serialize)]
pub struct FileWarning {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it and what to do.
    pub message: String,
}

impl Report {
    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.certificates
            .iter()
            .chain(&self.certificate_authorities)
    }

    /// Something has expired, or expires within --fail-within.
    pub fn has_expiring(&self) -> bool {
        self.entries().any(|e| {
            e.status == Status::Expired
                || matches!((self.fail_within_seconds, e.residual_seconds),
                    (Some(limit), Some(left)) if left <= limit)
        })
    }

    /// Some row is missing or invalid.
    pub fn has_missing_or_invalid(&self) -> bool {
        self.entries()
            .any(|e| matches!(e.status, Status::Missing | Status::Invalid))
    }
}

/// What to report on.
pub struct Request {
    /// The kubeadm tree (catalog certificates, kubeconfigs); `None` to check only `paths`.
    pub layout: Option<Layout>,
    /// Extra files or directories, scanned recursively.
    pub paths: Vec<PathBuf>,
    /// The clock: every status is computed at this instant.
    pub now: OffsetDateTime,
    /// A certificate expiring within this is a [`Status::Warning`].
    pub warn_within: Duration,
    /// A certificate expiring within this makes [`Report::has_expiring`] true (and is a
    /// warning too).
    pub fail_within: Option<Duration>,
}

/// Reads the files and builds the report. It never fails: a file that is missing or does not
/// parse is a row with that status.
pub fn report(request: &Request) -> Report {
    let mut certificates = Vec::new();
    let mut authorities = Vec::new();
    let mut warnings = Vec::new();
    if let Some(layout) = &request.layout {
        catalog_entries(
            layout,
            request,
            &mut certificates,
            &mut authorities,
            &mut warnings,
        );
    }
    for path in &request.paths {
        scan(path, true, request, &mut certificates);
    }
    certificates.sort_by(|a, b| (&a.name, &a.node, &a.path).cmp(&(&b.name, &b.node, &b.path)));
    authorities.sort_by(|a, b| a.name.cmp(&b.name));
    let warn = request
        .warn_within
        .max(request.fail_within.unwrap_or(Duration::ZERO));
    Report {
        kind: "CertificateExpirationReport",
        api_version: crate::pki::REPORT_API_VERSION,
        now: request.now,
        warn_within_seconds: warn.whole_seconds(),
        fail_within_seconds: request.fail_within.map(|d| d.whole_seconds()),
        certificates,
        certificate_authorities: authorities,
        warnings,
    }
}
