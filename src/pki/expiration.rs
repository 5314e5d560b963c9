//! The expiry report (`check-expiration`): every catalog certificate, per-node kubelet
//! certificate and kubeconfig client certificate, plus anything found under extra paths, each
//! with its status at an injected "now".
//!
//! A file that is missing or does not parse is a row with that status, never an abort: the
//! report is what an operator looks at when things are already broken.

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::catalog::{self, KubeconfigPlacement};
use super::cert::{self, CertFacts};
use super::inventory::{self, Found, Inventory, KubeconfigFile, chain_problem};
use super::store::{self, BACKUP_DIR, Layout};

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
        api_version: "kubepki/v1",
        now: request.now,
        warn_within_seconds: warn.whole_seconds(),
        fail_within_seconds: request.fail_within.map(|d| d.whole_seconds()),
        certificates,
        certificate_authorities: authorities,
        warnings,
    }
}

fn catalog_entries(
    layout: &Layout,
    request: &Request,
    certificates: &mut Vec<Entry>,
    authorities: &mut Vec<Entry>,
    warnings: &mut Vec<FileWarning>,
) {
    let inventory = Inventory::read_tree(layout);
    let ca_key_present =
        |ca: &catalog::Profile| inventory.pair(ca, "").is_some_and(|p| p.key.exists());
    let ca_certs = |ca: &catalog::Profile| -> Option<&[Vec<u8>]> {
        inventory
            .pair(ca, "")
            .and_then(|p| p.cert.present())
            .map(|c| &c.chain[..])
    };
    let pair_entry = |profile: &catalog::Profile, node: &str| -> Option<Entry> {
        let pair = inventory.pair(profile, node)?;
        let mut entry = match &pair.cert {
            Found::Missing => blank(profile.name, &pair.cert_path, Status::Missing, None),
            Found::Broken(p) => blank(
                profile.name,
                &pair.cert_path,
                Status::Invalid,
                Some(p.to_string()),
            ),
            Found::Present(c) => from_facts(profile.name, &pair.cert_path, &c.facts, request),
        };
        if let Found::Present(c) = &pair.cert {
            let mut problems = Vec::new();
            if !profile.is_ca() {
                match &pair.key {
                    Found::Missing => {
                        problems.push(format!("its key {} is missing", pair.key_path.display()))
                    }
                    Found::Broken(p) => {
                        problems.push(format!("its key {}: {p}", pair.key_path.display()))
                    }
                    Found::Present(_) if pair.key_matches() == Some(false) => problems.push(
                        format!("its key {} does not match it", pair.key_path.display()),
                    ),
                    Found::Present(_) => {}
                }
                if let Some(cas) = ca_certs(profile.issuer())
                    && let Some(e) = chain_problem(&c.chain, cas)
                {
                    problems.push(format!(
                        "it does not chain to {}: {e}",
                        layout.cert_path(profile.issuer(), "").display()
                    ));
                }
            } else if pair.key_matches() == Some(false) {
                problems.push(format!(
                    "its key {} does not match it",
                    pair.key_path.display()
                ));
            }
            invalidate(&mut entry, problems);
        }
        entry.certificate_authority = (!profile.is_ca()).then(|| profile.issuer().name.to_string());
        entry.externally_managed = !ca_key_present(profile.issuer());
        Some(entry)
    };
    for profile in catalog::CATALOG.iter().filter(|p| !p.per_node()) {
        let Some(entry) = pair_entry(profile, "") else {
            continue;
        };
        if profile.is_ca() {
            authorities.push(entry);
        } else {
            certificates.push(entry);
        }
    }
    for node in inventory::cert_nodes(layout) {
        for profile in catalog::node_leaves() {
            let Some(mut entry) = pair_entry(profile, &node) else {
                continue;
            };
            entry.node = Some(node.clone());
            // The kubelet rotates only the certificates it obtained itself (its client
            // certificate); a serving certificate given to it by file is never rotated.
            if profile.usages.contains(&catalog::ExtUsage::ClientAuth) {
                entry.kubelet_rotation = rotation(&entry);
            }
            certificates.push(entry);
        }
    }
    let ca = inventory::kubeconfig_ca();
    let nodes = inventory::kubeconfig_nodes(layout);
    for profile in catalog::KUBECONFIGS {
        let targets: Vec<(String, Option<String>)> = match profile.placement {
            KubeconfigPlacement::ControlPlane => vec![(String::new(), None)],
            KubeconfigPlacement::PerNode => {
                nodes.iter().map(|n| (n.clone(), Some(n.clone()))).collect()
            }
        };
        for (node, node_label) in targets {
            let path = layout.kubeconfig_path(profile, &node);
            let mut entry = match inventory.kubeconfig(&path) {
                None | Some(Found::Missing) => {
                    blank(profile.file_name, &path, Status::Missing, None)
                }
                Some(Found::Broken(p)) => blank(
                    profile.file_name,
                    &path,
                    Status::Invalid,
                    Some(p.to_string()),
                ),
                Some(Found::Present(file)) => {
                    kubeconfig_entry(profile.file_name, &path, file, ca_certs(ca), request)
                }
            };
            entry.node = node_label;
            entry.certificate_authority = Some(ca.name.to_string());
            entry.externally_managed = !ca_key_present(ca);
            if profile.name.ends_with("kubelet") {
                entry.kubelet_rotation = rotation(&entry);
            }
            certificates.push(entry);
        }
    }
    for path in inventory::unusable_node_dirs(layout) {
        warnings.push(FileWarning {
            message: "not a node name; ignored".into(),
            path,
        });
    }
    for (path, mode) in inventory.exposed_secrets() {
        warnings.push(FileWarning {
            message: format!(
                "mode {mode:04o}: readable or writable by group or others; a private key or \
                 kubeconfig should be 0600 (chmod 600 {})",
                path.display()
            ),
            path,
        });
    }
}

/// A row for a kubeconfig's client certificate, invalid when its key does not match it or it
/// does not chain to the cluster CA.
fn kubeconfig_entry(
    name: &str,
    path: &Path,
    file: &KubeconfigFile,
    cas: Option<&[Vec<u8>]>,
    request: &Request,
) -> Entry {
    let current = match &file.current {
        Ok(c) => c,
        Err(e) => return blank(name, path, Status::Invalid, Some(e.clone())),
    };
    let (chain, facts) = match &current.client {
        Ok(c) => c,
        Err(e) => return blank(name, path, Status::Invalid, Some(e.clone())),
    };
    let mut entry = from_facts(name, path, facts, request);
    let mut problems = Vec::new();
    match &current.client_key {
        Ok(k) if k.public_key_raw() == facts.public_key_raw => {}
        Ok(_) => problems.push("its client key does not match its client certificate".into()),
        Err(e) => problems.push(format!("its client key: {e}")),
    }
    if let Some(cas) = cas
        && let Some(e) = chain_problem(chain, cas)
    {
        problems.push(format!("its client certificate does not chain to ca: {e}"));
    }
    invalidate(&mut entry, problems);
    entry
}

fn invalidate(entry: &mut Entry, problems: Vec<String>) {
    if !problems.is_empty() {
        entry.status = Status::Invalid;
        entry.error = Some(problems.join("; "));
    }
}

fn blank(name: &str, path: &Path, status: Status, error: Option<String>) -> Entry {
    Entry {
        name: name.to_string(),
        node: None,
        path: path.to_path_buf(),
        certificate_authority: None,
        not_before: None,
        not_after: None,
        residual_seconds: None,
        status,
        externally_managed: false,
        subject: None,
        error,
        kubelet_rotation: None,
    }
}

fn from_facts(name: &str, path: &Path, facts: &CertFacts, request: &Request) -> Entry {
    let left = facts.not_after - request.now;
    let warn = request
        .warn_within
        .max(request.fail_within.unwrap_or(Duration::ZERO));
    let status = if request.now < facts.not_before {
        Status::NotYetValid
    } else if left <= Duration::ZERO {
        Status::Expired
    } else if left <= warn {
        Status::Warning
    } else {
        Status::Ok
    };
    Entry {
        not_before: Some(facts.not_before),
        not_after: Some(facts.not_after),
        residual_seconds: Some(left.whole_seconds()),
        status,
        subject: Some(facts.subject.clone()),
        ..blank(name, path, status, None)
    }
}

/// A row for a kubeconfig given as a PATH: its client certificate, with the issuer's CN as CA.
fn from_kubeconfig_file(name: &str, path: &Path, request: &Request) -> Entry {
    match inventory::read_kubeconfig(path) {
        Found::Missing => blank(name, path, Status::Missing, None),
        Found::Broken(p) => blank(name, path, Status::Invalid, Some(p.to_string())),
        Found::Present(file) => {
            let mut entry = kubeconfig_entry(name, path, &file, None, request);
            if let Ok(c) = &file.current
                && let Ok((_, facts)) = &c.client
            {
                entry.certificate_authority = Some(issuer_cn(facts));
            }
            entry
        }
    }
}

/// The kubelet's rotation window for a certificate that has a validity period.
fn rotation(entry: &Entry) -> Option<RotationWindow> {
    let (from, to) = (entry.not_before?, entry.not_after?);
    let total = to - from;
    Some(RotationWindow {
        from: from + total * 0.7,
        to: from + total * 0.9,
    })
}

/// Adds rows for a file or directory given on the command line. Directories are walked
/// recursively (not following symbolic links to directories, skipping kubepki's backups);
/// files with PEM certificates give one row per certificate, kubeconfigs one row for their
/// client certificate; other files in directories are skipped.
fn scan(path: &Path, explicit: bool, request: &Request, out: &mut Vec<Entry>) {
    let name = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(_) if explicit => return out.push(blank(&name, path, Status::Missing, None)),
        Err(_) => return,
    };
    if meta.is_dir() {
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if path.file_name().is_some_and(|n| n == BACKUP_DIR) {
            return;
        }
        if is_link && !explicit {
            // Not followed (it could lead anywhere, or loop, as /proc/self/fd does), but named.
            return out.push(blank(
                &name,
                path,
                Status::Invalid,
                Some("is a symbolic link to a directory; not followed (pass it as a PATH)".into()),
            ));
        }
        let mut children: Vec<PathBuf> = std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        children.sort();
        for child in children {
            scan(&child, false, request, out);
        }
        return;
    }
    let data = match store::read_file(path) {
        Ok(Some(d)) => d.bytes,
        Ok(None) => return out.push(blank(&name, path, Status::Missing, None)),
        Err(e) => {
            let problem = inventory::Problem::from(e);
            return out.push(blank(
                &name,
                path,
                Status::Invalid,
                Some(problem.to_string()),
            ));
        }
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if contains(&data, b"-----BEGIN CERTIFICATE-----") {
        match cert::certs_from_pem(&data) {
            Ok(certs) => {
                let many = certs.len() > 1;
                for (i, der) in certs.iter().enumerate() {
                    let row = if many {
                        format!("{name}#{}", i + 1)
                    } else {
                        name.clone()
                    };
                    out.push(match CertFacts::from_der(der) {
                        Ok(facts) => {
                            let mut e = from_facts(&row, path, &facts, request);
                            e.certificate_authority = Some(issuer_cn(&facts));
                            if facts.common_name.starts_with("system:node:") {
                                e.kubelet_rotation = rotation(&e);
                            }
                            e
                        }
                        Err(err) => blank(&row, path, Status::Invalid, Some(err)),
                    });
                }
            }
            Err(e) => out.push(blank(&name, path, Status::Invalid, Some(e))),
        }
    } else if matches!(ext, "conf" | "kubeconfig")
        || (contains(&data, b"clusters:") && contains(&data, b"users:"))
    {
        let mut e = from_kubeconfig_file(&name, path, request);
        if e.subject
            .as_ref()
            .is_some_and(|s| s.contains("CN=system:node:"))
        {
            e.kubelet_rotation = rotation(&e);
        }
        out.push(e);
    } else if explicit || matches!(ext, "crt" | "pem" | "cert" | "cer") {
        out.push(blank(
            &name,
            path,
            Status::Invalid,
            Some("holds no PEM certificate".into()),
        ));
    }
}

fn issuer_cn(facts: &CertFacts) -> String {
    facts
        .issuer
        .split(", ")
        .find_map(|part| part.strip_prefix("CN="))
        .unwrap_or(&facts.issuer)
        .to_string()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// kubeadm's RESIDUAL TIME (apimachinery's `ShortHumanDuration`).
pub fn short_human_duration(seconds: i64) -> String {
    match seconds {
        s if s < -1 => "<invalid>".into(),
        s if s < 0 => "0s".into(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s if s < 365 * 86_400 => format!("{}d", s / 86_400),
        s => format!("{}y", s / (365 * 86_400)),
    }
}

/// kubeadm's EXPIRES column: `Jan 02, 2006 15:04 UTC`.
pub fn expires(t: OffsetDateTime) -> String {
    let f =
        time::macros::format_description!("[month repr:short] [day], [year] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_time_like_kubeadm() {
        assert_eq!(short_human_duration(-5), "<invalid>");
        assert_eq!(short_human_duration(-1), "0s");
        assert_eq!(short_human_duration(59), "59s");
        assert_eq!(short_human_duration(3599), "59m");
        assert_eq!(short_human_duration(86_399), "23h");
        assert_eq!(short_human_duration(364 * 86_400 + 5), "364d");
        assert_eq!(short_human_duration(10 * 365 * 86_400 - 300), "9y");
        let t = time::macros::datetime!(2027-01-02 15:04:05 UTC);
        assert_eq!(expires(t), "Jan 02, 2027 15:04 UTC");
    }
}
