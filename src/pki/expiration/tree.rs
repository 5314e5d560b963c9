//! The rows of the kubeadm tree: catalog certificates, per-node kubelet certificates and
//! kubeconfigs, from one read of the tree, each checked against its CA and its key.

use std::path::Path;

use super::rows::{blank, from_facts, invalidate, rotation};
use super::{Entry, FileWarning, Request, Status};
use crate::pki::catalog::{self, KubeconfigPlacement};
use crate::pki::inventory::{self, Found, Inventory, KubeconfigFile, Part, chain_problem};
use crate::pki::store::Layout;

/// Nodes read and reported at a time: a report over 10,000 nodes holds this many nodes' keys
/// and certificates, not all of them.
const NODES_PER_PART: usize = 256;

pub(super) fn catalog_entries(
    layout: &Layout,
    request: &Request,
    certificates: &mut Vec<Entry>,
    authorities: &mut Vec<Entry>,
    warnings: &mut Vec<FileWarning>,
) {
    Inventory::read_tree_in_parts(layout, NODES_PER_PART, |inventory, part| {
        let rows = Rows {
            inventory,
            layout,
            request,
        };
        match part {
            Part::ControlPlane => {
                for profile in catalog::CATALOG.iter().filter(|p| !p.per_node()) {
                    let Some(entry) = rows.pair_entry(profile, "") else {
                        continue;
                    };
                    if profile.is_ca() {
                        // During a CA rotation the CA file is a bundle: a row for each CA.
                        let more = rows.bundle_rows(profile, &entry);
                        authorities.push(entry);
                        authorities.extend(more);
                    } else {
                        certificates.push(entry);
                    }
                }
                for profile in catalog::control_plane_kubeconfigs() {
                    certificates.push(rows.kubeconfig_row(profile, ""));
                }
            }
            Part::Kubelets(nodes) => {
                for node in nodes {
                    for profile in catalog::node_leaves() {
                        let Some(mut entry) = rows.pair_entry(profile, node) else {
                            continue;
                        };
                        entry.node = Some(node.clone());
                        // The kubelet rotates only the certificates it obtained itself (its
                        // client certificate); a serving certificate given to it is never rotated.
                        if profile.usages.contains(&catalog::ExtUsage::ClientAuth) {
                            entry.kubelet_rotation = rotation(&entry);
                        }
                        certificates.push(entry);
                    }
                }
            }
            Part::EtcdMembers(nodes) => {
                for node in nodes {
                    for profile in catalog::etcd_member_leaves() {
                        let Some(mut entry) = rows.pair_entry(profile, node) else {
                            continue;
                        };
                        entry.node = Some(node.clone());
                        certificates.push(entry);
                    }
                    if let Some(w) = rows.member_ca_copy(node) {
                        warnings.push(w);
                    }
                }
            }
            Part::NodeKubeconfigs(nodes) => {
                for profile in catalog::KUBECONFIGS
                    .iter()
                    .filter(|k| k.placement == KubeconfigPlacement::PerNode)
                {
                    for node in nodes {
                        certificates.push(rows.kubeconfig_row(profile, node));
                    }
                }
            }
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
    });
    for path in inventory::unusable_node_dirs(layout) {
        warnings.push(FileWarning {
            message: "not a node name; ignored".into(),
            path,
        });
    }
}

/// Rows from one part of the tree.
struct Rows<'a> {
    inventory: &'a Inventory,
    layout: &'a Layout,
    request: &'a Request,
}

impl Rows<'_> {
    fn ca_key_present(&self, ca: &catalog::Profile) -> bool {
        self.inventory.pair(ca, "").is_some_and(|p| p.key.exists())
    }

    fn ca_certs(&self, ca: &catalog::Profile) -> Option<&[Vec<u8>]> {
        self.inventory
            .pair(ca, "")
            .and_then(|p| p.cert.present())
            .map(|c| &c.chain[..])
    }

    fn pair_entry(&self, profile: &catalog::Profile, node: &str) -> Option<Entry> {
        let (request, layout) = (self.request, self.layout);
        let pair = self.inventory.pair(profile, node)?;
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
        entry.externally_managed = !self.ca_key_present(profile.issuer());
        Some(entry)
    }

    /// Rows for the second and later certificates of a CA file (`ca#2`), as CA rotation leaves
    /// it; none for a CA file of one certificate.
    fn bundle_rows(&self, profile: &catalog::Profile, first: &Entry) -> Vec<Entry> {
        let Some(pair) = self.inventory.pair(profile, "") else {
            return Vec::new();
        };
        let Some(cert) = pair.cert.present() else {
            return Vec::new();
        };
        cert.chain
            .iter()
            .enumerate()
            .skip(1)
            .filter_map(|(i, der)| {
                let facts = crate::pki::cert::CertFacts::from_der(der).ok()?;
                let name = format!("{}#{}", profile.name, i + 1);
                let mut entry = from_facts(&name, &pair.cert_path, &facts, self.request);
                entry.certificate_authority = first.certificate_authority.clone();
                entry.externally_managed = first.externally_managed;
                Some(entry)
            })
            .collect()
    }

    /// A warning when an etcd member's copy of the etcd CA is not the tree's.
    fn member_ca_copy(&self, node: &str) -> Option<FileWarning> {
        let layout = self.layout;
        let copy = layout.etcd_member_ca(node);
        let etcd_ca = catalog::etcd_ca();
        let cas = self.ca_certs(etcd_ca);
        let stale = match (self.inventory.cert_file(&copy), cas) {
            (Some(Found::Present(c)), Some(cas)) => (c.chain != cas).then_some("differs from"),
            (Some(Found::Missing), _) => Some("is missing; copy"),
            (Some(Found::Broken(_)), _) => Some("is unreadable; copy"),
            _ => None,
        }?;
        Some(FileWarning {
            message: format!(
                "the member's etcd CA {stale} {} (issue its etcd-member-server again to refresh it)",
                layout.cert_path(etcd_ca, "").display()
            ),
            path: copy,
        })
    }

    fn kubeconfig_row(&self, profile: &catalog::KubeconfigProfile, node: &str) -> Entry {
        let ca = catalog::kubeconfig_ca();
        let path = self.layout.kubeconfig_path(profile, node);
        let mut entry = match self.inventory.kubeconfig(&path) {
            None | Some(Found::Missing) => blank(profile.file_name, &path, Status::Missing, None),
            Some(Found::Broken(p)) => blank(
                profile.file_name,
                &path,
                Status::Invalid,
                Some(p.to_string()),
            ),
            Some(Found::Present(file)) => kubeconfig_entry(
                profile.file_name,
                &path,
                file,
                self.ca_certs(ca),
                self.request,
            ),
        };
        entry.node = (profile.placement == KubeconfigPlacement::PerNode).then(|| node.to_string());
        entry.certificate_authority = Some(ca.name.to_string());
        entry.externally_managed = !self.ca_key_present(ca);
        if profile.common_name == catalog::CommonName::NodeIdentity {
            entry.kubelet_rotation = rotation(&entry);
        }
        entry
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
