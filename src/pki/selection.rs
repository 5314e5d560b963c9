//! Command-line names turned into catalog profiles, in one place.
//!
//! The names `issue`, `write-kubeconfig` and `renew` accept, the help text that lists them and
//! the "expected one of" of an unknown name all come from the catalog here. The external-etcd
//! rule (kubeadm's `GetCertsWithoutEtcd`: with `etcd.external`, no etcd CA and no etcd
//! certificates are kubeadm's) is chosen once, when a [`Selection`] is made.

use super::catalog::{self, KubeconfigPlacement, KubeconfigProfile, Profile, Scope};
use super::error::{Error, Result};
use super::inventory;
use super::names::NodeSpec;
use super::plan::{CA_ROTATION, Target, Want};
use super::store::Layout;

/// The catalog as one run sees it.
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    external_etcd: bool,
}

impl Selection {
    /// With `external_etcd`, etcd's CA and certificates are left out of everything.
    pub fn new(external_etcd: bool) -> Self {
        Selection { external_etcd }
    }

    fn ours(&self, p: &Profile) -> bool {
        !(self.external_etcd && matches!(p.scope, Scope::LocalEtcd | Scope::EtcdMember))
    }

    /// Every certificate of the catalog this run makes, CAs first within each family (kubeadm's
    /// order).
    pub fn certificates(&self) -> impl Iterator<Item = &'static Profile> + '_ {
        catalog::CATALOG.iter().filter(|p| self.ours(p))
    }

    /// The CAs this run makes.
    pub fn authorities(&self) -> impl Iterator<Item = &'static Profile> + '_ {
        catalog::authorities().filter(|p| self.ours(p))
    }

    /// Whether a catalog name belongs to this run (false for etcd's with external etcd).
    pub fn includes(&self, name: &str) -> bool {
        catalog::find(name).is_none_or(|p| self.ours(p))
    }

    /// What `init` makes for the control-plane `node`, in kubeadm's order: each CA, then its
    /// leaves; the service-account key pair; the five kubeconfigs.
    pub fn init(&self, node: &NodeSpec) -> Vec<Want> {
        self.certificates()
            .filter(|p| !p.per_node())
            .map(|profile| Want::Cert {
                profile,
                node: node.clone(),
            })
            .chain([Want::ServiceAccount])
            .chain(
                catalog::control_plane_kubeconfigs().map(|profile| Want::Kubeconfig {
                    profile,
                    node: node.clone(),
                }),
            )
            .collect()
    }

    /// `init`'s wants less the phases skipped (kubeadm's names: `certs`, `certs/<name>` with
    /// `certs/sa` for the key pair, `kubeconfig`, `kubeconfig/<name>`); an unknown phase is a
    /// usage error listing the known ones.
    pub fn init_without(&self, node: &NodeSpec, skip: &[String]) -> Result<Vec<Want>> {
        let known = self.init_phases();
        for s in skip {
            if !known.iter().any(|k| k == s) {
                return Err(Error::usage(
                    "--skip-phases",
                    format!(
                        "unknown phase {}; the phases of init are: {}",
                        super::untrusted::quote_input(s),
                        known.join(", ")
                    ),
                ));
            }
        }
        let skipped = |group: &str, name: &str| {
            skip.iter()
                .any(|s| s == group || *s == format!("{group}/{name}"))
        };
        Ok(self
            .init(node)
            .into_iter()
            .filter(|w| match w {
                Want::Cert { profile, .. } => !skipped("certs", profile.name),
                Want::ServiceAccount => !skipped("certs", catalog::SERVICE_ACCOUNT_NAME),
                Want::Kubeconfig { profile, .. } => !skipped("kubeconfig", profile.name),
                _ => true,
            })
            .collect())
    }

    /// The phase names of `init`, as kubeadm names its `init phase certs|kubeconfig` steps.
    pub fn init_phases(&self) -> Vec<String> {
        let mut phases = vec!["certs".to_string()];
        phases.extend(
            self.certificates()
                .filter(|p| p.scope != Scope::Node && !p.per_node())
                .map(|p| format!("certs/{}", p.name)),
        );
        phases.push("certs/sa".into());
        phases.push("kubeconfig".into());
        phases
            .extend(catalog::control_plane_kubeconfigs().map(|k| format!("kubeconfig/{}", k.name)));
        phases
    }

    /// What `init-ca` makes: the CAs and the service-account key pair.
    pub fn init_ca(&self) -> Vec<Want> {
        let no_node = NodeSpec {
            name: String::new(),
            addresses: vec![],
        };
        self.authorities()
            .map(|profile| Want::Cert {
                profile,
                node: no_node.clone(),
            })
            .chain([Want::ServiceAccount])
            .collect()
    }

    /// The profiles `issue NAME...` stands for, in the order given, without repeats.
    pub fn issue(&self, names: &[String]) -> Result<Vec<&'static Profile>> {
        let mut profiles: Vec<&'static Profile> = Vec::new();
        for name in names {
            let chosen: Vec<_> = match name.as_str() {
                "all" => catalog::control_plane_leaves()
                    .filter(|p| self.ours(p))
                    .collect(),
                "kubelet" => catalog::node_leaves().collect(),
                _ => match catalog::find(name) {
                    Some(p) if p.is_ca() => {
                        return Err(Error::usage(
                            "NAME",
                            format!("{name} is a CA; CAs are made by `kubepki init-ca`"),
                        ));
                    }
                    Some(p) if !self.ours(p) => {
                        return Err(Error::usage(
                            "NAME",
                            format!(
                                "{name}: etcd is external in the config (etcd.external); its \
                                 certificates are not kubeadm's to make"
                            ),
                        ));
                    }
                    Some(p) => vec![p],
                    None => return Err(unknown_name(name, &issue_choices())),
                },
            };
            for p in chosen {
                if !profiles.contains(&p) {
                    profiles.push(p);
                }
            }
        }
        Ok(profiles)
    }

    /// The kubeconfigs `write-kubeconfig NAME...` stands for, and whether `user` was named.
    pub fn kubeconfigs(&self, names: &[String]) -> Result<(Vec<&'static KubeconfigProfile>, bool)> {
        let mut profiles = Vec::new();
        let mut user = false;
        for name in names {
            match name.as_str() {
                "all" => profiles.extend(catalog::control_plane_kubeconfigs()),
                "user" => user = true,
                _ => match catalog::find_kubeconfig(name) {
                    Some(p) => profiles.push(p),
                    None => return Err(unknown_name(name, &kubeconfig_choices())),
                },
            }
        }
        Ok((profiles, user))
    }

    /// The targets `renew NAME` stands for: a catalog certificate name, `kubelet` (both
    /// kubelet certificates of every node), a kubeconfig file or profile name (`admin.conf`,
    /// `admin`), or `all`. Per-node targets cover `nodes`, or every node found on disk.
    /// External etcd's certificates are an error when named and left out of `all`.
    pub fn renew(&self, name: &str, layout: &Layout, nodes: &[String]) -> Result<Vec<Target>> {
        let targets = renew_targets(name, layout, nodes).map_err(|e| Error::usage("NAME", e))?;
        let explicit = name != "all";
        let mut kept = Vec::with_capacity(targets.len());
        for target in targets {
            if let Target::Cert { profile, .. } = &target
                && !self.ours(profile)
            {
                if explicit {
                    return Err(Error::usage(
                        "NAME",
                        format!(
                            "{name}: etcd is external in the config; its certificates are not \
                             kubeadm's"
                        ),
                    ));
                }
                continue;
            }
            kept.push(target);
        }
        Ok(kept)
    }
}

fn renew_targets(
    name: &str,
    layout: &Layout,
    nodes: &[String],
) -> std::result::Result<Vec<Target>, String> {
    let named_or = |found: fn(&Layout) -> Vec<String>| -> Vec<String> {
        if nodes.is_empty() {
            found(layout)
        } else {
            nodes.to_vec()
        }
    };
    let cert_nodes = |profile: &Profile| match profile.scope {
        Scope::EtcdMember => named_or(inventory::etcd_members),
        _ => named_or(inventory::cert_nodes),
    };
    let kubeconfig_nodes = || named_or(inventory::kubeconfig_nodes);
    let cert = |profile: &'static Profile| -> Vec<Target> {
        if profile.per_node() {
            cert_nodes(profile)
                .into_iter()
                .map(|node| Target::Cert { profile, node })
                .collect()
        } else {
            vec![Target::Cert {
                profile,
                node: String::new(),
            }]
        }
    };
    let kubeconfig = |profile: &'static KubeconfigProfile| -> Vec<Target> {
        match profile.placement {
            KubeconfigPlacement::ControlPlane => vec![Target::Kubeconfig {
                profile,
                node: String::new(),
            }],
            KubeconfigPlacement::PerNode => kubeconfig_nodes()
                .into_iter()
                .map(|node| Target::Kubeconfig { profile, node })
                .collect(),
        }
    };
    match name {
        "all" => Ok(catalog::CATALOG
            .iter()
            .filter(|p| !p.is_ca())
            .flat_map(cert)
            .chain(catalog::KUBECONFIGS.iter().flat_map(kubeconfig))
            .collect()),
        "kubelet" => Ok(catalog::node_leaves().flat_map(cert).collect()),
        _ => {
            if let Some(p) = catalog::find(name) {
                return if p.is_ca() {
                    Err(CA_ROTATION.to_string())
                } else {
                    Ok(cert(p))
                };
            }
            let by_file = catalog::KUBECONFIGS
                .iter()
                .find(|k| k.placement == KubeconfigPlacement::ControlPlane && k.file_name == name);
            match by_file.or_else(|| catalog::find_kubeconfig(name)) {
                Some(k) => Ok(kubeconfig(k)),
                // Any other kubeconfig, by its path (`write-kubeconfig user --out FILE`).
                None if std::path::Path::new(name).is_file() => {
                    Ok(vec![Target::KubeconfigFile(name.into())])
                }
                None => Err(format!(
                    "unknown name {name:?}; expected one of: {}",
                    renew_choices()
                )),
            }
        }
    }
}

fn unknown_name(name: &str, choices: &str) -> Error {
    Error::usage(
        "NAME",
        format!("unknown name {name:?}; expected one of: {choices}"),
    )
}

/// The names `issue` accepts.
pub(crate) fn issue_choices() -> String {
    format!("{}, kubelet, all", catalog::leaf_names().join(", "))
}

/// The names `write-kubeconfig` accepts.
pub(crate) fn kubeconfig_choices() -> String {
    let names: Vec<_> = catalog::KUBECONFIGS.iter().map(|k| k.name).collect();
    format!("{}, all, user", names.join(", "))
}

/// The names `renew` accepts.
pub(crate) fn renew_choices() -> String {
    format!(
        "{}, kubelet, {}, node-kubelet, all, or the path of a kubeconfig file",
        catalog::leaf_names().join(", "),
        catalog::control_plane_kubeconfigs()
            .map(|k| k.file_name)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The help of `issue NAME`.
pub(crate) fn issue_help() -> String {
    format!(
        "What to issue: a leaf of the catalog ({}), `kubelet` (both kubelet certificates), or \
         `all` (every control-plane certificate). With several --node-name, etcd-server and \
         etcd-peer are issued once per etcd member, into <cert-dir>/etcd-members/<node>/etcd/ \
         (as etcd-member-server and etcd-member-peer)",
        catalog::leaf_names().join(", ")
    )
}

/// The help of `renew NAME`.
pub(crate) fn renew_help() -> String {
    format!(
        "What to renew: a certificate ({}, or kubelet for both kubelet certificates), a kubeconfig \
         ({}, node-kubelet, or the path of any kubeconfig file), or all. In `all`, missing files \
         and certificates of an external CA are skipped",
        catalog::leaf_names().join(", "),
        catalog::control_plane_kubeconfigs()
            .map(|k| k.file_name)
            .collect::<Vec<_>>()
            .join(", ")
    )
}
