//! The audit's checks of files and kubeconfigs: modes, owners, CA keys on workers; each
//! kubeconfig against the cluster CA. Certificate checks are in `certs`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::certs::validity;
use super::{Finding, Request, Severity, finding};
use crate::pki::catalog;
use crate::pki::inspect::cert::describe;
use crate::pki::inventory::{Found, Inventory, chain_problem};
use crate::pki::store::{self, BACKUP_DIR};

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
        if secret && store::exposed(mode) {
            out.push(secret_mode(
                &path,
                mode,
                "a private key or kubeconfig",
                "readable",
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

/// Every kubeconfig: its CA is the cluster's, its client certificate chains to it and matches
/// its key, and only super-admin.conf holds system:masters.
pub(super) fn kubeconfigs(request: &Request, inventory: &Inventory, out: &mut Vec<Finding>) {
    let ca = inventory
        .pair(catalog::kubeconfig_ca(), "")
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
        if store::exposed(mode) {
            out.push(secret_mode(
                path,
                mode,
                "a kubeconfig",
                "its client key is readable",
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
            if !super_admin
                && facts
                    .organizations
                    .iter()
                    .any(|o| o == catalog::MASTERS_GROUP)
            {
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

/// A secret (`what`) whose mode lets others at it: an error when anyone may, a warning when the
/// group may.
fn secret_mode(path: &Path, mode: u32, what: &str, exposure: &str) -> Finding {
    let severity = if mode & 0o007 != 0 {
        Severity::Error
    } else {
        Severity::Warning
    };
    finding(
        severity,
        "secret-mode",
        path,
        format!("{what} with mode {mode:04o}: {exposure} beyond its owner"),
        format!("chmod 600 {}", path.display()),
    )
}
