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

pub use format::{expires, short_human_duration};
use paths::scan;
use tree::catalog_entries;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    /// Expires within --warn-within (or --fail-within).
    Warning,
    NotYetValid,
    Expired,
    Missing,
    Invalid,
}

impl Status {
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
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub path: PathBuf,
    /// The catalog CA name for catalog certificates, else the issuer's CN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_before: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
    /// NotAfter − now in whole seconds (negative once expired).
    pub residual_seconds: Option<i64>,
    pub status: Status,
    /// The signing CA's key is absent (kubeadm's external CA mode).
    pub externally_managed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubelet_rotation: Option<RotationWindow>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub kind: &'static str,
    pub api_version: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    pub warn_within_seconds: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_within_seconds: Option<i64>,
    pub certificates: Vec<Entry>,
    pub certificate_authorities: Vec<Entry>,
    /// Files that are usable but unsafe (a key readable by others), with what to do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<FileWarning>,
}

/// A problem with a file that does not make its row invalid.
#[derive(Debug, Clone, Serialize)]
pub struct FileWarning {
    pub path: PathBuf,
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
    pub now: OffsetDateTime,
    pub warn_within: Duration,
    pub fail_within: Option<Duration>,
}

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
