//! The rows of the kubeadm tree: catalog certificates, per-node kubelet certificates and
//! kubeconfigs, from one read of the tree, each checked against its CA and its key.

use std::path::Path;

use super::rows::{blank, from_facts, invalidate, rotation};
use super::{Entry, FileWarning, Request, Status};
use crate::pki::catalog::{self, KubeconfigPlacement};
use crate::pki::inventory::{self, Found, Inventory, KubeconfigFile, chain_problem};
use crate::pki::store::Layout;

pub(super) fn catalog_entries(
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
        if let Found::Present(_) = &pair.cert {
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
                if let Some(Err(e)) = &pair.chain {
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
    for node in inventory::etcd_members(layout) {
        for profile in catalog::etcd_member_leaves() {
            let Some(mut entry) = pair_entry(profile, &node) else {
                continue;
            };
            entry.node = Some(node.clone());
            certificates.push(entry);
        }
        // The member's copy of the etcd CA must be the CA its certificates chain to.
        let copy = layout.etcd_member_ca(&node);
        let etcd_ca = catalog::find("etcd-ca").and_then(ca_certs);
        let stale = match (inventory.cert_file(&copy), etcd_ca) {
            (Some(Found::Present(c)), Some(cas)) => (c.chain != cas).then_some("differs from"),
            (Some(Found::Missing), _) => Some("is missing; copy"),
            (Some(Found::Broken(_)), _) => Some("is unreadable; copy"),
            _ => None,
        };
        if let Some(what) = stale {
            warnings.push(FileWarning {
                message: format!(
                    "the member's etcd CA {what} {} (issue its etcd-member-server again to \
                     refresh it)",
                    layout
                        .cert_path(catalog::find("etcd-ca").expect("catalog"), "")
                        .display()
                ),
                path: copy,
            });
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
pub(super) fn kubeconfig_entry(
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
