//! The audit's checks of certificates: key, chain, validity, strength, usages for the role,
//! the API server's SANs, duplicate serials.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Finding, Request, Severity, finding};
use crate::pki::catalog;
use crate::pki::inspect::cert::{CertView, describe};
use crate::pki::inventory::{Found, Inventory, Part};

/// Certificates seen so far, by (issuer, serial): serials must be unique per CA across the tree.
pub(super) type Serials = HashMap<(String, String), Vec<PathBuf>>;

/// Every certificate of the tree.
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

pub(super) fn validity(
    request: &Request,
    path: &Path,
    view: &CertView,
    name: &str,
    out: &mut Vec<Finding>,
) {
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
    let missing: Vec<&str> = profile
        .usages
        .iter()
        .map(|u| u.openssl_name())
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
