//! `audit`: what is wrong with a tree, each finding with its severity, the file, what is wrong and
//! how to fix it. It reads the tree once (the inventory, as the planner does) and checks what the
//! Kubernetes docs' PKI best practices and kubeadm's own rules ask: file modes and owners, keys
//! that match, chains to the expected CA, validity, key and signature strength, usages for the
//! role, the API server's SANs, duplicate serials, kubeconfigs against the cluster CA, and who
//! holds `system:masters` or a CA key.

mod certs;
mod checks;

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::inventory::{Inventory, Part};
use super::store::Layout;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, often by design (kubeadm does it too).
    Info,
    /// Not broken yet, but should be fixed.
    Warning,
    /// Broken or unsafe now.
    Error,
}

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// A short stable name for the check (`key-mode`, `chain`, `weak-key`, ...).
    pub check: &'static str,
    pub file: PathBuf,
    /// What is wrong (never file contents).
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

/// What to audit.
#[derive(Debug, Clone)]
pub struct Request {
    pub layout: Layout,
    pub now: OffsetDateTime,
    /// Certificates expiring within this are warnings.
    pub warn_within: Duration,
    /// The node is a worker: no CA key may be on it, and control-plane files are not expected.
    pub worker: bool,
    /// etcd is external: its CA and certificates are not expected.
    pub external_etcd: bool,
    /// The cluster's service CIDR VIP and DNS domain, for the API server's SANs.
    pub service_vip: Option<std::net::IpAddr>,
    pub dns_domain: String,
}

/// The audit's result.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub cert_dir: PathBuf,
    pub kubeconfig_dir: PathBuf,
    /// Worst first, then by file.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Audits the tree in `request.layout`.
pub fn audit(request: &Request) -> Report {
    let mut findings = Vec::new();
    let mut serials = certs::Serials::new();
    // One part of the tree at a time: 10,000 nodes are audited holding 256 nodes' files.
    Inventory::read_tree_in_parts(&request.layout, 256, |inventory, part| {
        if matches!(part, Part::ControlPlane) {
            checks::files(request, inventory, &mut findings);
        }
        certs::certificates(request, inventory, part, &mut serials, &mut findings);
        checks::kubeconfigs(request, inventory, &mut findings);
    });
    certs::duplicate_serials(serials, &mut findings);
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.file.cmp(&b.file))
            .then_with(|| a.check.cmp(b.check))
    });
    Report {
        kind: "AuditReport",
        api_version: crate::pki::REPORT_API_VERSION,
        cert_dir: request.layout.cert_dir().to_path_buf(),
        kubeconfig_dir: request.layout.kubeconfig_dir().to_path_buf(),
        findings,
    }
}

/// One finding, as the checks make them.
fn finding(
    severity: Severity,
    check: &'static str,
    file: &Path,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> Finding {
    Finding {
        severity,
        check,
        file: file.to_path_buf(),
        message: message.into(),
        fix: fix.into(),
    }
}
