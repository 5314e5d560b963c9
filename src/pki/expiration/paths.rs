//! Extra PATHs: files and directories scanned for certificates, bundles and kubeconfigs.

use std::path::{Path, PathBuf};

use super::rows::{blank, from_facts, rotation};
use super::tree::kubeconfig_entry;
use super::{Entry, Request, Status};
use crate::pki::catalog;
use crate::pki::cert::{self, CertFacts};
use crate::pki::inventory::{self, Found};
use crate::pki::store::{self, BACKUP_DIR};

/// Adds rows for a file or directory given on the command line. Directories are walked
/// recursively (not following symbolic links to directories, skipping kubepki's backups);
/// files with PEM certificates give one row per certificate, kubeconfigs one row for their
/// client certificate; other files in directories are skipped.
pub(super) fn scan(path: &Path, explicit: bool, request: &Request, out: &mut Vec<Entry>) {
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
                            if facts.common_name.starts_with(catalog::NODE_USER_PREFIX) {
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
            .is_some_and(|s| s.contains(&format!("CN={}", catalog::NODE_USER_PREFIX)))
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
