//! What is on disk, read once.
//!
//! Every command that decides anything about the tree first reads what it needs into an
//! [`Inventory`]: certificates parsed, keys loaded, kubeconfigs parsed down to their current
//! user's credentials, each file's mode and owner. Problems are data ([`Found::Broken`], with a
//! message that names the problem and never quotes the file). The planner, the expiry report and
//! every later reader (audit, inspect, CA rotation status) decide from this, never from disk, so
//! what one learned about the tree the others can reuse, and deciding is a pure function.
//!
//! Reading goes through [`store::read_file`]: regular files only, never blocking, at most
//! [`store::MAX_FILE_SIZE`] bytes.

mod csr;
mod files;
mod kubeconfig;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::catalog::{self, KubeconfigPlacement, Profile};
use super::cert::{self, CertFacts};
use super::names;
use super::store::{self, ETCD_MEMBERS_DIR, Layout, NODE_DIR, NODE_KUBECONFIG_DIR};

pub use csr::{CsrFile, read_csr};
pub use files::{
    CertFile, FileMeta, Found, KeyFile, Pair, Problem, ServiceAccountFiles, read_cert, read_key,
};
pub use kubeconfig::{KubeconfigFile, UserCredentials};

/// A file the caller wants read.
#[derive(Debug, Clone)]
pub enum Wanted {
    /// A catalog certificate and its key, for a node (empty for control-plane files).
    Pair(&'static Profile, String),
    /// The service-account key pair, `sa.key` and `sa.pub`.
    ServiceAccount,
    /// A kubeconfig anywhere (catalog ones, `--out` files, files renewed by path).
    Kubeconfig(PathBuf),
    /// A certificate request (`generate-csr`'s `<base>.csr`, `admin.conf.csr`).
    Csr(PathBuf),
    /// A certificate file outside the catalog's pairs (an etcd member's copy of the etcd CA).
    Cert(PathBuf),
    /// A private key outside the catalog's pairs (a CA rotation's pending new CA key).
    Key(PathBuf),
}

/// Which part of the tree a part read by [`Inventory::read_tree_in_parts`] holds.
#[derive(Debug, Clone)]
pub enum Part {
    /// The catalog's control-plane files, sa, and kubeadm's kubeconfigs.
    ControlPlane,
    /// These nodes' kubelet certificates.
    Kubelets(Vec<String>),
    /// These etcd members' certificates and CA copies.
    EtcdMembers(Vec<String>),
    /// These nodes' kubeconfigs.
    NodeKubeconfigs(Vec<String>),
}

/// Everything read from the tree for one run.
#[derive(Debug)]
pub struct Inventory {
    layout: Layout,
    pairs: HashMap<(&'static str, String), Pair>,
    service_account: Option<ServiceAccountFiles>,
    kubeconfigs: HashMap<PathBuf, Found<KubeconfigFile>>,
    csrs: HashMap<PathBuf, Found<CsrFile>>,
    certs: HashMap<PathBuf, Found<CertFile>>,
    keys: HashMap<PathBuf, Found<KeyFile>>,
}

impl Inventory {
    /// Reads the files in `wanted` (each once), plus the CA of every certificate and of the
    /// kubeconfigs among them.
    pub fn read(layout: &Layout, wanted: &[Wanted]) -> Inventory {
        let mut inventory = Inventory {
            layout: layout.clone(),
            pairs: HashMap::with_capacity(wanted.len() + 3),
            service_account: None,
            kubeconfigs: HashMap::new(),
            csrs: HashMap::new(),
            certs: HashMap::new(),
            keys: HashMap::new(),
        };
        // Which pairs, each once: the CAs first (every leaf is checked against its CA file),
        // then the rest, read and checked on all cores (10,000 node certificates).
        let mut ids: Vec<(&'static Profile, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut push = |profile: &'static Profile, node: &str| {
            let node = if profile.per_node() { node } else { "" };
            if seen.insert((profile.name, node.to_string())) {
                ids.push((profile, node.to_string()));
            }
        };
        for w in wanted {
            match w {
                Wanted::Pair(profile, node) => {
                    push(profile.issuer(), "");
                    push(profile, node);
                }
                Wanted::Kubeconfig(_) => push(catalog::kubeconfig_ca(), ""),
                Wanted::ServiceAccount | Wanted::Csr(_) | Wanted::Cert(_) | Wanted::Key(_) => {}
            }
        }
        let (cas, leaves): (Vec<_>, Vec<_>) = ids.into_iter().partition(|(p, _)| p.is_ca());
        for (profile, node) in cas {
            let pair = read_pair(layout, profile, &node, None);
            inventory.pairs.insert((profile.name, node), pair);
            // During a cross-signed rotation, what the CA writes after each certificate it
            // signs (`renew` keeps it there as `reissue` put it).
            let cross = layout.rotation_cross_cert(profile);
            if store::exists(&cross) {
                let found = read_cert(&cross);
                inventory.certs.insert(cross, found);
            }
        }
        let ca_certs = |profile: &Profile| -> Option<&[Vec<u8>]> {
            let ca = inventory
                .pairs
                .get(&(profile.issuer().name, String::new()))?;
            ca.cert.present().map(|c| &c.chain[..])
        };
        let read_all =
            |share: &[(&'static Profile, String)]| -> Vec<((&'static str, String), Pair)> {
                share
                    .iter()
                    .map(|(profile, node)| {
                        let pair = read_pair(layout, profile, node, ca_certs(profile));
                        ((profile.name, node.clone()), pair)
                    })
                    .collect()
            };
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(leaves.len() / 256 + 1);
        let read: Vec<_> = if threads <= 1 {
            read_all(&leaves)
        } else {
            let chunk = leaves.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = leaves
                    .chunks(chunk)
                    .map(|share| scope.spawn(|| read_all(share)))
                    .collect();
                handles
                    .into_iter()
                    // A reading thread that panicked is a bug: raise it here rather than
                    // report a tree without the files that thread read.
                    .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect()
            })
        };
        inventory.pairs.extend(read);
        for w in wanted {
            match w {
                Wanted::ServiceAccount => inventory.read_service_account(),
                Wanted::Kubeconfig(path) if !inventory.kubeconfigs.contains_key(path) => {
                    let found = kubeconfig::read(path);
                    inventory.kubeconfigs.insert(path.clone(), found);
                }
                Wanted::Csr(path) if !inventory.csrs.contains_key(path) => {
                    inventory.csrs.insert(path.clone(), read_csr(path));
                }
                Wanted::Cert(path) if !inventory.certs.contains_key(path) => {
                    inventory.certs.insert(path.clone(), read_cert(path));
                }
                Wanted::Key(path) if !inventory.keys.contains_key(path) => {
                    inventory.keys.insert(path.clone(), read_key(path));
                }
                _ => {}
            }
        }
        inventory
    }

    /// Reads the whole kubeadm tree in parts of at most `nodes_per_part` nodes, handing each part
    /// to `each` and dropping it before the next is read, so that a report over 10,000 nodes
    /// holds one part's keys and certificates at a time. The first part is the control plane
    /// (catalog files, sa, kubeadm's kubeconfigs); then kubelet certificates, etcd members and
    /// per-node kubeconfigs, node by node. Every part also holds the CAs.
    pub fn read_tree_in_parts(
        layout: &Layout,
        nodes_per_part: usize,
        mut each: impl FnMut(&Inventory, &Part),
    ) {
        let mut wanted: Vec<Wanted> = catalog::CATALOG
            .iter()
            .filter(|p| !p.per_node())
            .map(|p| Wanted::Pair(p, String::new()))
            .collect();
        wanted.push(Wanted::ServiceAccount);
        wanted.extend(
            catalog::control_plane_kubeconfigs()
                .map(|k| Wanted::Kubeconfig(layout.kubeconfig_path(k, ""))),
        );
        each(&Inventory::read(layout, &wanted), &Part::ControlPlane);
        let size = nodes_per_part.max(1);
        for nodes in cert_nodes(layout).chunks(size) {
            let wanted: Vec<Wanted> = nodes
                .iter()
                .flat_map(|n| catalog::node_leaves().map(move |p| Wanted::Pair(p, n.clone())))
                .collect();
            each(
                &Inventory::read(layout, &wanted),
                &Part::Kubelets(nodes.to_vec()),
            );
        }
        for nodes in etcd_members(layout).chunks(size) {
            let mut wanted: Vec<Wanted> = Vec::new();
            for n in nodes {
                wanted.extend(catalog::etcd_member_leaves().map(|p| Wanted::Pair(p, n.clone())));
                wanted.push(Wanted::Cert(layout.etcd_member_ca(n)));
            }
            each(
                &Inventory::read(layout, &wanted),
                &Part::EtcdMembers(nodes.to_vec()),
            );
        }
        let per_node: Vec<_> = catalog::KUBECONFIGS
            .iter()
            .filter(|k| k.placement == KubeconfigPlacement::PerNode)
            .collect();
        for nodes in kubeconfig_nodes(layout).chunks(size) {
            let wanted: Vec<Wanted> = nodes
                .iter()
                .flat_map(|n| {
                    per_node
                        .iter()
                        .map(move |k| Wanted::Kubeconfig(layout.kubeconfig_path(k, n)))
                })
                .collect();
            each(
                &Inventory::read(layout, &wanted),
                &Part::NodeKubeconfigs(nodes.to_vec()),
            );
        }
    }

    /// Reads the whole kubeadm tree: every catalog file, every per-node directory found, every
    /// kubeconfig (control-plane and per-node).
    pub fn read_tree(layout: &Layout) -> Inventory {
        Inventory::read(layout, &tree_wanted(layout))
    }

    /// The layout the files were read from.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// A certificate and key that [`Inventory::read`] was asked for.
    pub fn pair(&self, profile: &Profile, node: &str) -> Option<&Pair> {
        let node = if profile.per_node() { node } else { "" };
        self.pairs.get(&(profile.name, node.to_string()))
    }

    /// Every certificate and key read: (catalog name, node, files), in no particular order.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str, &Pair)> {
        self.pairs
            .iter()
            .map(|((name, node), pair)| (*name, node.as_str(), pair))
    }

    /// Every kubeconfig read, by path.
    pub fn kubeconfigs(&self) -> impl Iterator<Item = (&Path, &Found<KubeconfigFile>)> {
        self.kubeconfigs.iter().map(|(p, k)| (p.as_path(), k))
    }

    /// The service-account key pair, when [`Inventory::read`] was asked for it.
    pub fn service_account(&self) -> Option<&ServiceAccountFiles> {
        self.service_account.as_ref()
    }

    /// A kubeconfig that [`Inventory::read`] was asked for, looked up by the same path.
    pub fn kubeconfig(&self, path: &Path) -> Option<&Found<KubeconfigFile>> {
        self.kubeconfigs.get(path)
    }

    /// A certificate request that [`Inventory::read`] was asked for.
    pub fn csr(&self, path: &Path) -> Option<&Found<CsrFile>> {
        self.csrs.get(path)
    }

    /// A certificate file that [`Inventory::read`] was asked for by path.
    pub fn cert_file(&self, path: &Path) -> Option<&Found<CertFile>> {
        self.certs.get(path)
    }

    /// A key file that [`Inventory::read`] was asked for by path.
    pub fn key_file(&self, path: &Path) -> Option<&Found<KeyFile>> {
        self.keys.get(path)
    }

    /// Every file read that holds a secret (keys, kubeconfigs) and is readable or writable by
    /// group or others, with its mode: kubepki warns about them on every run that reads them.
    pub fn exposed_secrets(&self) -> Vec<(PathBuf, u32)> {
        let key_mode = |found: &Found<KeyFile>| match found {
            Found::Present(k) => Some(k.meta.mode),
            _ => None,
        };
        let keys = self
            .pairs
            .values()
            .map(|pair| (&pair.key_path, key_mode(&pair.key)))
            .chain(
                self.service_account
                    .iter()
                    .map(|sa| (&sa.key_path, key_mode(&sa.key))),
            )
            .chain(
                self.keys
                    .iter()
                    .map(|(path, found)| (path, key_mode(found))),
            );
        let kubeconfigs = self.kubeconfigs.iter().map(|(path, found)| match found {
            Found::Present(k) => (path, Some(k.meta.mode)),
            _ => (path, None),
        });
        let mut out: Vec<(PathBuf, u32)> = keys
            .chain(kubeconfigs)
            .filter_map(|(path, mode)| Some((path.clone(), mode.filter(|m| store::exposed(*m))?)))
            .collect();
        out.sort();
        out
    }

    fn read_service_account(&mut self) {
        if self.service_account.is_some() {
            return;
        }
        let key_path = self.layout.sa_key();
        let pub_path = self.layout.sa_pub();
        let public = match store::read_file(&pub_path) {
            Ok(None) => Found::Missing,
            Ok(Some(f)) => Found::Present(Box::new(f.bytes)),
            Err(e) => Found::Broken(e.into()),
        };
        self.service_account = Some(ServiceAccountFiles {
            key: read_key(&key_path),
            public,
            key_path,
            pub_path,
        });
    }
}

/// Reads a certificate and its key; for a leaf whose CA certificate file was read (`ca_certs`),
/// also whether it chains to it.
fn read_pair(layout: &Layout, profile: &Profile, node: &str, ca_certs: Option<&[Vec<u8>]>) -> Pair {
    let cert_path = layout.cert_path(profile, node);
    let key_path = layout.key_path(profile, node);
    let cert = read_cert(&cert_path);
    let chain = match (&cert, ca_certs) {
        (Found::Present(c), Some(cas)) if !profile.is_ca() => {
            Some(chain_problem(&c.chain, cas).map_or(Ok(()), Err))
        }
        _ => None,
    };
    Pair {
        cert,
        key: read_key(&key_path),
        chain,
        cert_path,
        key_path,
    }
}

/// Why `chain` is not signed by any certificate of the CA file `cas` (several during CA
/// rotation); `None` when one of them signs it. A certificate whose issuer has the CA's name but
/// not its key is called that: the CA was replaced, or the certificate is another cluster's.
pub fn chain_problem(chain: &[Vec<u8>], cas: &[Vec<u8>]) -> Option<String> {
    let mut last = None;
    for ca in cas {
        match cert::verify_chain(chain, ca) {
            Ok(()) => return None,
            Err(e) => last = Some(e),
        }
    }
    let issuer = CertFacts::from_der(chain.first()?).ok()?.issuer;
    let same_name = cas
        .iter()
        .filter_map(|ca| CertFacts::from_der(ca).ok())
        .any(|ca| ca.subject == issuer);
    if same_name {
        return Some(format!(
            "it is signed by a different key under the same name ({issuer}): the CA was \
             replaced since, or the certificate comes from another cluster"
        ));
    }
    last
}

/// Every file of the kubeadm tree: catalog files, per-node directories found, kubeconfigs.
pub fn tree_wanted(layout: &Layout) -> Vec<Wanted> {
    let mut wanted = Vec::new();
    for profile in catalog::CATALOG.iter().filter(|p| !p.per_node()) {
        wanted.push(Wanted::Pair(profile, String::new()));
    }
    for node in cert_nodes(layout) {
        for profile in catalog::node_leaves() {
            wanted.push(Wanted::Pair(profile, node.clone()));
        }
    }
    for node in etcd_members(layout) {
        for profile in catalog::etcd_member_leaves() {
            wanted.push(Wanted::Pair(profile, node.clone()));
        }
        wanted.push(Wanted::Cert(layout.etcd_member_ca(&node)));
    }
    wanted.push(Wanted::ServiceAccount);
    let nodes = kubeconfig_nodes(layout);
    for profile in catalog::KUBECONFIGS {
        match profile.placement {
            KubeconfigPlacement::ControlPlane => {
                wanted.push(Wanted::Kubeconfig(layout.kubeconfig_path(profile, "")));
            }
            KubeconfigPlacement::PerNode => wanted.extend(
                nodes
                    .iter()
                    .map(|n| Wanted::Kubeconfig(layout.kubeconfig_path(profile, n))),
            ),
        }
    }
    wanted
}

/// The per-node certificate directories found (`<cert-dir>/kubelet/<node>`), sorted. A
/// directory whose name is not a valid node name (it could carry a newline into the output, or
/// mean anything) is left out; [`unusable_node_dirs`] names them.
pub fn cert_nodes(layout: &Layout) -> Vec<String> {
    node_dirs(&layout.cert_dir().join(NODE_DIR)).0
}

/// The etcd members' directories found (`<cert-dir>/etcd-members/<node>`), sorted, as
/// [`cert_nodes`].
pub fn etcd_members(layout: &Layout) -> Vec<String> {
    node_dirs(&layout.cert_dir().join(ETCD_MEMBERS_DIR)).0
}

/// The per-node kubeconfig directories found (`<kubeconfig-dir>/nodes/<node>`), sorted, as
/// [`cert_nodes`].
pub fn kubeconfig_nodes(layout: &Layout) -> Vec<String> {
    node_dirs(&layout.kubeconfig_dir().join(NODE_KUBECONFIG_DIR)).0
}

/// The per-node directories whose names are not node names, which every command ignores.
pub fn unusable_node_dirs(layout: &Layout) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for root in [
        layout.cert_dir().join(NODE_DIR),
        layout.cert_dir().join(ETCD_MEMBERS_DIR),
        layout.kubeconfig_dir().join(NODE_KUBECONFIG_DIR),
    ] {
        out.extend(node_dirs(&root).1.into_iter().map(|n| root.join(n)));
    }
    out
}

fn node_dirs(root: &Path) -> (Vec<String>, Vec<String>) {
    store::subdirectories(root)
        .into_iter()
        .partition(|n| names::validate_dns_name(n, false).is_ok())
}

/// Reads a kubeconfig file anywhere, down to its current user's credentials.
pub fn read_kubeconfig(path: &Path) -> Found<KubeconfigFile> {
    kubeconfig::read(path)
}
