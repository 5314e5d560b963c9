//! The audit's checks, by what they look at: files (modes, owners, CA keys on workers),
//! certificates (key, chain, validity, strength, usages, SANs, serials) and kubeconfigs.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{Finding, Request, Severity};
use crate::pki::catalog::{self, ExtUsage};
use crate::pki::inspect::cert::{CertView, describe};
use crate::pki::inventory::{Found, Inventory, Part, chain_problem};
use crate::pki::store::BACKUP_DIR;

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

/// Modes and owners of every file and directory of the tree, and CA keys where none belong.
pub(super) fn files(request: &Request, inventory: &Inventory, out: &mut Vec<Finding>) {
    let layout = &request.layout;
    let root_run = rustix::process::geteuid().is_root();
    let mut visit = vec![layout.cert_dir().to_path_buf()];
    let mut seen_files: Vec<(PathBuf, std::fs::Metadata)> = Vec::new();
    while let Some(dir) = visit.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&dir) else {
            continue;
        };
        if meta.is_dir() {
            if meta.mode() & 0o022 != 0 {
                out.push(finding(
                    Severity::Error,
                    "dir-mode",
                    &dir,
                    format!(
                        "directory mode {:04o}: others can add or replace files in it",
                        meta.mode() & 0o7777
                    ),
                    format!("chmod go-w {}", dir.display()),
                ));
            }
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.file_name() != BACKUP_DIR {
                    visit.push(entry.path());
                }
            }
        } else if meta.is_file() {
            seen_files.push((dir, meta));
        }
    }
    for (path, meta) in seen_files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let secret = name.ends_with(".key") || name.ends_with(".conf");
        let mode = meta.mode() & 0o7777;
        if secret && mode & 0o077 != 0 {
            let severity = if mode & 0o007 != 0 {
                Severity::Error
            } else {
                Severity::Warning
            };
            out.push(finding(
                severity,
                "secret-mode",
                &path,
                format!(
                    "a private key or kubeconfig with mode {mode:04o}: readable beyond its owner"
                ),
                format!("chmod 600 {}", path.display()),
            ));
        } else if !secret && mode & 0o022 != 0 {
            out.push(finding(
                Severity::Error,
                "file-mode",
                &path,
                format!("mode {mode:04o}: others can replace it"),
                format!("chmod 644 {}", path.display()),
            ));
        }
        if root_run && meta.uid() != 0 {
            out.push(finding(
                Severity::Warning,
                "owner",
                &path,
                format!(
                    "owned by uid {}, not root: that user can replace it",
                    meta.uid()
                ),
                format!("chown root:root {}", path.display()),
            ));
        }
    }
    for ca in catalog::authorities() {
        let Some(pair) = inventory.pair(ca, "") else {
            continue;
        };
        if request.worker && pair.key.exists() {
            out.push(finding(
                Severity::Error,
                "ca-key-on-worker",
                &pair.key_path,
                format!(
                    "the {} CA key is on a worker node: whoever has it can mint any identity",
                    ca.name
                ),
                "keep CA keys on control-plane nodes (or offline) only; remove it from this node",
            ));
        }
    }
}

/// Every certificate of the tree.
/// Certificates seen so far, by (issuer, serial): serials must be unique per CA across the tree.
pub(super) type Serials = HashMap<(String, String), Vec<PathBuf>>;

pub(super) fn certificates(
    request: &Request,
    inventory: &Inventory,
    part: &Part,
    serials: &mut Serials,
    out: &mut Vec<Finding>,
) {
    for (name, _node, pair) in inventory.pairs() {
        let Some(profile) = catalog::find(name) else {
            continue;
        };
        // Every part holds the CAs; each certificate is audited in its own part only.
        if profile.per_node() == matches!(part, Part::ControlPlane) {
            continue;
        }
        let cert = match &pair.cert {
            Found::Missing => {
                let external_etcd =
                    request.external_etcd && profile.scope == catalog::Scope::LocalEtcd;
                let expected = !(profile.per_node() || request.worker || external_etcd);
                if expected {
                    out.push(finding(
                        Severity::Error,
                        "missing",
                        &pair.cert_path,
                        format!("the {} certificate is missing", profile.name),
                        format!("kubepki init (or kubepki issue {})", profile.name),
                    ));
                }
                continue;
            }
            Found::Broken(p) => {
                out.push(finding(
                    Severity::Error,
                    "unreadable",
                    &pair.cert_path,
                    p.to_string(),
                    "replace it (kubepki renew, or issue --force)",
                ));
                continue;
            }
            Found::Present(c) => c,
        };
        let path = &pair.cert_path;
        let Ok(view) = describe(&cert.chain[0], request.now) else {
            continue;
        };
        serials
            .entry((view.issuer.clone(), view.serial.clone()))
            .or_default()
            .push(path.clone());
        match &pair.key {
            Found::Missing if !profile.is_ca() => out.push(finding(
                Severity::Error,
                "key-missing",
                &pair.key_path,
                "the certificate's key is missing",
                format!("kubepki renew {name}"),
            )),
            Found::Broken(p) => out.push(finding(
                Severity::Error,
                "unreadable",
                &pair.key_path,
                p.to_string(),
                format!("kubepki renew {name}"),
            )),
            _ => {}
        }
        if pair.key_matches() == Some(false) {
            out.push(finding(
                Severity::Error,
                "key-mismatch",
                &pair.key_path,
                format!("is not the key of {}", path.display()),
                format!("kubepki renew {name} (a new key and certificate)"),
            ));
        }
        if let Some(Err(e)) = &pair.chain {
            out.push(finding(
                Severity::Error,
                "chain",
                path,
                format!("does not chain to the {} CA: {e}", profile.issuer().name),
                format!("kubepki renew {name}, signed by the CA in the tree"),
            ));
        }
        validity(request, path, &view, name, out);
        strength(path, &view, out);
        usages(path, &view, profile, out);
        if !profile.is_ca()
            && let Some(ca) = inventory
                .pair(profile.issuer(), "")
                .and_then(|p| p.cert.present())
            && ca.facts.not_after < view.not_after
        {
            out.push(finding(
                Severity::Warning,
                "outlives-ca",
                path,
                format!(
                    "expires {} but its CA expires {}: it stops working with the CA",
                    view.not_after.date(),
                    ca.facts.not_after.date()
                ),
                "plan the CA's rotation before it expires",
            ));
        }
        if name == "apiserver" {
            apiserver_sans(request, path, &view, out);
        }
    }
}

/// Two certificates of one CA with the same serial.
pub(super) fn duplicate_serials(serials: Serials, out: &mut Vec<Finding>) {
    for ((issuer, serial), files) in serials {
        if files.len() > 1 {
            for f in &files {
                out.push(finding(
                    Severity::Error,
                    "duplicate-serial",
                    f,
                    format!(
                        "serial {serial} of {issuer} is used by {} certificates",
                        files.len()
                    ),
                    "renew all but one (serials must be unique per CA)",
                ));
            }
        }
    }
}

fn validity(request: &Request, path: &Path, view: &CertView, name: &str, out: &mut Vec<Finding>) {
    if view.not_before > request.now {
        out.push(finding(
            Severity::Error,
            "not-yet-valid",
            path,
            format!("not valid before {}", view.not_before),
            "check the clock of the machine that issued it",
        ));
    } else if view.seconds_left <= 0 {
        out.push(finding(
            Severity::Error,
            "expired",
            path,
            format!("expired on {}", view.not_after.date()),
            format!("kubepki renew {name}"),
        ));
    } else if view.seconds_left <= request.warn_within.whole_seconds() {
        out.push(finding(
            Severity::Warning,
            "expiring",
            path,
            format!("expires on {}", view.not_after.date()),
            format!("kubepki renew {name}"),
        ));
    }
}

fn strength(path: &Path, view: &CertView, out: &mut Vec<Finding>) {
    if let Some(bits) = view
        .public_key
        .strip_prefix("RSA-")
        .and_then(|b| b.parse::<u32>().ok())
        && bits < 2048
    {
        out.push(finding(
            Severity::Error,
            "weak-key",
            path,
            format!("an RSA key of {bits} bits (at least 2048 are needed)"),
            "reissue it with a new key (kubepki renew --key-algorithm RSA-2048 or ECDSA-P256)",
        ));
    }
    let sig = view.signature_algorithm.to_ascii_lowercase();
    if sig.contains("sha1") || sig.contains("md5") {
        out.push(finding(
            Severity::Error,
            "weak-signature",
            path,
            format!("signed with {} (broken hash)", view.signature_algorithm),
            "reissue it (kubepki signs with SHA-256 or SHA-384)",
        ));
    }
    if !view.public_key.starts_with("RSA") && view.key_usage.iter().any(|u| u == "Key Encipherment")
    {
        out.push(finding(
            Severity::Info,
            "key-encipherment",
            path,
            "keyEncipherment on a non-RSA key (RFC 8813: meaningless; kubeadm sets it anyway)",
            "nothing to do; kubepki leaves it out on new certificates",
        ));
    }
}

fn usages(path: &Path, view: &CertView, profile: &catalog::Profile, out: &mut Vec<Finding>) {
    let names = |u: &ExtUsage| match u {
        ExtUsage::ServerAuth => "TLS Web Server Authentication",
        ExtUsage::ClientAuth => "TLS Web Client Authentication",
    };
    let missing: Vec<&str> = profile
        .usages
        .iter()
        .map(names)
        .filter(|n| !view.extended_key_usage.iter().any(|e| e == n))
        .collect();
    if !missing.is_empty() {
        out.push(finding(
            Severity::Error,
            "usage",
            path,
            format!(
                "lacks {} for its role ({})",
                missing.join(", "),
                profile.name
            ),
            format!("kubepki issue {} --force", profile.name),
        ));
    }
    if profile.is_ca() && !view.is_ca {
        out.push(finding(
            Severity::Error,
            "usage",
            path,
            "a CA file whose certificate is not a CA (CA:FALSE)",
            "restore the CA certificate",
        ));
    }
    if !profile.is_ca() && view.is_ca {
        out.push(finding(
            Severity::Error,
            "usage",
            path,
            "a leaf certificate with CA:TRUE: it can sign certificates",
            format!("kubepki issue {} --force", profile.name),
        ));
    }
}

fn apiserver_sans(request: &Request, path: &Path, view: &CertView, out: &mut Vec<Finding>) {
    let mut missing: Vec<String> = [
        "kubernetes".to_string(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        format!("kubernetes.default.svc.{}", request.dns_domain),
    ]
    .into_iter()
    .filter(|d| !view.alt_names.dns.contains(d))
    .map(|d| format!("DNS:{d}"))
    .collect();
    if let Some(vip) = request.service_vip
        && !view.alt_names.ips.contains(&vip)
    {
        missing.push(format!("IP:{vip}"));
    }
    if !missing.is_empty() {
        out.push(finding(
            Severity::Error,
            "apiserver-sans",
            path,
            format!("lacks the in-cluster names {}: pods cannot verify the API server", missing.join(", ")),
            "kubepki issue apiserver --force (with the cluster's --service-cidr and --service-dns-domain)",
        ));
    }
}

/// Every kubeconfig: its CA is the cluster's, its client certificate chains to it and matches
/// its key, and only super-admin.conf holds system:masters.
pub(super) fn kubeconfigs(request: &Request, inventory: &Inventory, out: &mut Vec<Finding>) {
    let ca = inventory
        .pair(crate::pki::inventory::kubeconfig_ca(), "")
        .and_then(|p| p.cert.present());
    for (path, found) in inventory.kubeconfigs() {
        let file = match found {
            Found::Missing => {
                if !request.worker && path.parent() == Some(request.layout.kubeconfig_dir()) {
                    out.push(finding(
                        Severity::Warning,
                        "missing",
                        path,
                        "kubeadm's kubeconfig is missing",
                        "kubepki write-kubeconfig all",
                    ));
                }
                continue;
            }
            Found::Broken(p) => {
                out.push(finding(
                    Severity::Error,
                    "unreadable",
                    path,
                    p.to_string(),
                    "write it again (kubepki write-kubeconfig --force)",
                ));
                continue;
            }
            Found::Present(f) => f,
        };
        let mode = file.meta.mode;
        if mode & 0o077 != 0 {
            let severity = if mode & 0o007 != 0 {
                Severity::Error
            } else {
                Severity::Warning
            };
            out.push(finding(
                severity,
                "secret-mode",
                path,
                format!(
                    "a kubeconfig with mode {mode:04o}: its client key is readable beyond its owner"
                ),
                format!("chmod 600 {}", path.display()),
            ));
        }
        if rustix::process::geteuid().is_root() && file.meta.uid != 0 {
            out.push(finding(
                Severity::Warning,
                "owner",
                path,
                format!(
                    "owned by uid {}, not root: that user can replace it",
                    file.meta.uid
                ),
                format!("chown root:root {}", path.display()),
            ));
        }
        let Ok(cur) = &file.current else {
            continue;
        };
        if let (Some(ca), Ok(trusted)) = (ca, &cur.ca)
            && !trusted.iter().any(|t| ca.chain.contains(t))
        {
            out.push(finding(
                Severity::Error,
                "kubeconfig-ca",
                path,
                "its certificate-authority-data is not the cluster CA (ca.crt)",
                format!("kubepki renew {} (refreshes the CA)", path.display()),
            ));
        }
        if let Ok((chain, facts)) = &cur.client {
            if let Some(ca) = ca
                && let Some(e) = chain_problem(chain, &ca.chain)
            {
                out.push(finding(
                    Severity::Error,
                    "kubeconfig-client",
                    path,
                    format!("its client certificate is not signed by the cluster CA: {e}"),
                    format!("kubepki renew {}", path.display()),
                ));
            }
            if matches!(&cur.client_key, Ok(k) if k.public_key_raw() != facts.public_key_raw) {
                out.push(finding(
                    Severity::Error,
                    "key-mismatch",
                    path,
                    "its client key does not match its client certificate",
                    format!("kubepki renew {}", path.display()),
                ));
            }
            let super_admin = path.file_name().is_some_and(|n| n == "super-admin.conf");
            if !super_admin && facts.organizations.iter().any(|o| o == "system:masters") {
                out.push(finding(
                    Severity::Warning,
                    "system-masters",
                    path,
                    "its client certificate is in system:masters, which no RBAC rule can restrict and no revocation can take back",
                    "use a group bound to cluster-admin (kubeadm:cluster-admins) instead; keep system:masters to super-admin.conf",
                ));
            }
            if let Ok(view) = describe(&chain[0], request.now) {
                validity(request, path, &view, &path.display().to_string(), out);
            }
        }
    }
}
