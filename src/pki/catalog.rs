//! The certificate catalog: every certificate kubepki makes, as data.
//!
//! This mirrors kubeadm's `cmd/kubeadm/app/phases/certs/certlist.go`: each entry names the
//! certificate, its file stem, its signer, its subject and usages, and a rule for its SANs. Every
//! subcommand reads this table; adding a certificate means adding one entry here. The order is
//! kubeadm's `GetDefaultCertList` order (each CA before the leaves it signs), followed by the
//! per-node kubelet certificates.

use serde::Serialize;

/// Who signs a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// A self-signed certificate authority.
    SelfSigned,
    /// Signed by the CA with this catalog name.
    Ca(&'static str),
}

/// How the subject common name is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommonName {
    /// The same for every node (`kube-apiserver`, `kubernetes-admin`).
    Fixed(&'static str),
    /// The (control-plane) node name, as kubeadm uses for the etcd server and peer certificates.
    NodeName,
    /// `system:node:<node>`, the identity the Node authorizer expects from a kubelet.
    NodeIdentity,
}

impl CommonName {
    /// The CN for `node` (the node's name; ignored by [`CommonName::Fixed`]).
    pub fn for_node(self, node: &str) -> String {
        match self {
            CommonName::Fixed(cn) => cn.to_string(),
            CommonName::NodeName => node.to_string(),
            CommonName::NodeIdentity => format!("{NODE_USER_PREFIX}{node}"),
        }
    }
}

/// Extended key usages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ExtUsage {
    /// TLS server authentication (id-kp-serverAuth).
    ServerAuth,
    /// TLS client authentication (id-kp-clientAuth).
    ClientAuth,
}

impl ExtUsage {
    /// The usage's name as RFC 5280 and Go's `x509.ExtKeyUsage` spell it (`serverAuth`,
    /// `clientAuth`), also its serialised form.
    pub fn name(self) -> &'static str {
        match self {
            ExtUsage::ServerAuth => "serverAuth",
            ExtUsage::ClientAuth => "clientAuth",
        }
    }

    /// The name `openssl x509 -text` prints for the usage.
    pub fn openssl_name(self) -> &'static str {
        match self {
            ExtUsage::ServerAuth => "TLS Web Server Authentication",
            ExtUsage::ClientAuth => "TLS Web Client Authentication",
        }
    }
}

/// Which rule computes the subject alternative names (see `names::alt_names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SanRule {
    /// No SANs (client certificates).
    None,
    /// A CA carries its own CN as a DNS name, as kubeadm's CA certificates do.
    OwnCommonName,
    /// kubeadm's API server rule: the node name, `kubernetes`, `kubernetes.default`,
    /// `kubernetes.default.svc`, `kubernetes.default.svc.<dns domain>`, the `kubernetes`
    /// Service's IP (the first address of the first service CIDR), the advertise address, the
    /// control-plane endpoint's host, and the API server extra SANs.
    ApiServer,
    /// kubeadm's etcd rule: the node name, `localhost`, the advertise address, `127.0.0.1`,
    /// `::1`, and the etcd server extra SANs.
    EtcdServer,
    /// The same as [`SanRule::EtcdServer`], with the etcd peer extra SANs.
    EtcdPeer,
    /// The node name and the node's addresses.
    KubeletServing,
    /// An etcd member's serving certificate: kubeadm's etcd rule for that member (its name,
    /// `localhost`, its addresses, the loopback addresses) plus the etcd server extra SANs.
    EtcdMemberServer,
    /// The same for a member's peer certificate, with the etcd peer extra SANs.
    EtcdMemberPeer,
}

/// Where a certificate belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One of the cluster's certificate authorities.
    Authority,
    /// The control-plane set (`issue all`, kubeadm's `init phase certs all`).
    ControlPlane,
    /// Issued per node, into the node's own directory.
    Node,
    /// Only exists when etcd is local; skipped with external etcd.
    LocalEtcd,
    /// One per member of a local etcd cluster, into the member's own directory (a `pki/etcd/`
    /// tree to copy to it); skipped with external etcd.
    EtcdMember,
}

/// One certificate profile.
#[derive(Debug, PartialEq, Eq)]
pub struct Profile {
    /// The name users type (`kubepki issue apiserver`), as kubeadm's `certs renew <name>`.
    pub name: &'static str,
    /// File stem below the certificate directory (`etcd/server` → `etcd/server.crt`).
    pub base_name: &'static str,
    /// What kubeadm calls it in messages.
    pub long_name: &'static str,
    /// Who signs it.
    pub signer: Signer,
    /// How its subject CN is formed.
    pub common_name: CommonName,
    /// Its subject O values (the groups of a client identity).
    pub organizations: &'static [&'static str],
    /// Its extended key usages; empty for a CA.
    pub usages: &'static [ExtUsage],
    /// How its SANs are computed.
    pub sans: SanRule,
    /// Where it belongs: which commands make it, and where its files go.
    pub scope: Scope,
}

impl Profile {
    /// A self-signed certificate authority (CA:TRUE).
    pub fn is_ca(&self) -> bool {
        self.signer == Signer::SelfSigned
    }

    /// Issued once per node (kubelet certificates) or per etcd member, each into a directory of
    /// its own.
    pub fn per_node(&self) -> bool {
        matches!(self.scope, Scope::Node | Scope::EtcdMember)
    }

    /// The CA profile that signs this one (itself for a CA).
    pub fn issuer(&self) -> &'static Profile {
        match self.signer {
            Signer::SelfSigned => find(self.name).expect("catalog entry"),
            Signer::Ca(ca) => find(ca).expect("catalog invariant: signer is a CA in the catalog"),
        }
    }

    /// Its CN for `node`.
    pub fn common_name(&self, node: &str) -> String {
        self.common_name.for_node(node)
    }
}

const SERVER: &[ExtUsage] = &[ExtUsage::ServerAuth];
const CLIENT: &[ExtUsage] = &[ExtUsage::ClientAuth];
// etcd 3.2+ makes outgoing connections with its serving certificate too (grpc-gateway, peer
// dials), so kubeadm gives both etcd certificates serverAuth and clientAuth; see
// https://github.com/etcd-io/etcd/issues/9785.
const SERVER_CLIENT: &[ExtUsage] = &[ExtUsage::ServerAuth, ExtUsage::ClientAuth];

/// Since Kubernetes 1.29 kubeadm puts its admin identities in this group, bound to cluster-admin
/// by a ClusterRoleBinding, instead of the unrevokable `system:masters`.
pub const CLUSTER_ADMINS_GROUP: &str = "kubeadm:cluster-admins";
/// The group of every kubelet's identity, which the Node authorizer and the kubelet signers
/// expect.
pub const NODES_GROUP: &str = "system:nodes";
/// A kubelet's user name is this prefix and its node name (the Node authorizer's rule).
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The group the API server lets past every authorizer; no certificate of ours but the
/// break-glass super-admin carries it.
pub const MASTERS_GROUP: &str = "system:masters";

/// Every certificate profile, in kubeadm's order (each CA before the leaves it signs), then the
/// per-node kubelet certificates and the per-member etcd certificates.
pub static CATALOG: &[Profile] = &[
    Profile {
        name: "ca",
        base_name: "ca",
        long_name: "self-signed Kubernetes CA to provision identities for other Kubernetes components",
        signer: Signer::SelfSigned,
        common_name: CommonName::Fixed("kubernetes"),
        organizations: &[],
        usages: &[],
        sans: SanRule::OwnCommonName,
        scope: Scope::Authority,
    },
    Profile {
        name: "apiserver",
        base_name: "apiserver",
        long_name: "certificate for serving the Kubernetes API",
        signer: Signer::Ca("ca"),
        common_name: CommonName::Fixed("kube-apiserver"),
        organizations: &[],
        usages: SERVER,
        sans: SanRule::ApiServer,
        scope: Scope::ControlPlane,
    },
    Profile {
        name: "apiserver-kubelet-client",
        base_name: "apiserver-kubelet-client",
        long_name: "certificate for the API server to connect to kubelet",
        signer: Signer::Ca("ca"),
        common_name: CommonName::Fixed("kube-apiserver-kubelet-client"),
        organizations: &[CLUSTER_ADMINS_GROUP],
        usages: CLIENT,
        sans: SanRule::None,
        scope: Scope::ControlPlane,
    },
    Profile {
        name: "front-proxy-ca",
        base_name: "front-proxy-ca",
        long_name: "self-signed CA to provision identities for front proxy",
        signer: Signer::SelfSigned,
        common_name: CommonName::Fixed("front-proxy-ca"),
        organizations: &[],
        usages: &[],
        sans: SanRule::OwnCommonName,
        scope: Scope::Authority,
    },
    Profile {
        name: "front-proxy-client",
        base_name: "front-proxy-client",
        long_name: "certificate for the front proxy client",
        signer: Signer::Ca("front-proxy-ca"),
        // Must equal kube-apiserver's --requestheader-allowed-names.
        common_name: CommonName::Fixed("front-proxy-client"),
        organizations: &[],
        usages: CLIENT,
        sans: SanRule::None,
        scope: Scope::ControlPlane,
    },
    Profile {
        name: "etcd-ca",
        base_name: "etcd/ca",
        long_name: "self-signed CA to provision identities for etcd",
        signer: Signer::SelfSigned,
        common_name: CommonName::Fixed("etcd-ca"),
        organizations: &[],
        usages: &[],
        sans: SanRule::OwnCommonName,
        scope: Scope::LocalEtcd,
    },
    Profile {
        name: "etcd-server",
        base_name: "etcd/server",
        long_name: "certificate for serving etcd",
        signer: Signer::Ca("etcd-ca"),
        common_name: CommonName::NodeName,
        organizations: &[],
        usages: SERVER_CLIENT,
        sans: SanRule::EtcdServer,
        scope: Scope::LocalEtcd,
    },
    Profile {
        name: "etcd-peer",
        base_name: "etcd/peer",
        long_name: "certificate for etcd nodes to communicate with each other",
        signer: Signer::Ca("etcd-ca"),
        common_name: CommonName::NodeName,
        organizations: &[],
        usages: SERVER_CLIENT,
        sans: SanRule::EtcdPeer,
        scope: Scope::LocalEtcd,
    },
    Profile {
        name: "etcd-healthcheck-client",
        base_name: "etcd/healthcheck-client",
        long_name: "certificate for liveness probes to healthcheck etcd",
        signer: Signer::Ca("etcd-ca"),
        common_name: CommonName::Fixed("kube-etcd-healthcheck-client"),
        organizations: &[],
        usages: CLIENT,
        sans: SanRule::None,
        scope: Scope::LocalEtcd,
    },
    Profile {
        name: "apiserver-etcd-client",
        base_name: "apiserver-etcd-client",
        long_name: "certificate the apiserver uses to access etcd",
        signer: Signer::Ca("etcd-ca"),
        common_name: CommonName::Fixed("kube-apiserver-etcd-client"),
        organizations: &[],
        usages: CLIENT,
        sans: SanRule::None,
        scope: Scope::LocalEtcd,
    },
    Profile {
        name: "kubelet-client",
        base_name: "kubelet-client",
        long_name: "client certificate for a kubelet to authenticate to the API server",
        signer: Signer::Ca("ca"),
        common_name: CommonName::NodeIdentity,
        organizations: &[NODES_GROUP],
        usages: CLIENT,
        sans: SanRule::None,
        scope: Scope::Node,
    },
    Profile {
        name: "kubelet-server",
        // kubelet's own name for its serving pair in --cert-dir (/var/lib/kubelet/pki).
        base_name: "kubelet",
        long_name: "serving certificate for a kubelet's HTTPS endpoint",
        signer: Signer::Ca("ca"),
        // What the kubernetes.io/kubelet-serving signer requires of a kubelet serving cert.
        common_name: CommonName::NodeIdentity,
        organizations: &[NODES_GROUP],
        usages: SERVER,
        sans: SanRule::KubeletServing,
        scope: Scope::Node,
    },
    // The members of an HA etcd cluster: `issue etcd-server etcd-peer` for several nodes (or these
    // names) writes each member's pair into `etcd-members/<node>/etcd/`, a tree to copy to
    // that member's `/etc/kubernetes/pki/`.
    Profile {
        name: "etcd-member-server",
        base_name: "etcd/server",
        long_name: "certificate for serving etcd, for one member of an etcd cluster",
        signer: Signer::Ca("etcd-ca"),
        common_name: CommonName::NodeName,
        organizations: &[],
        usages: SERVER_CLIENT,
        sans: SanRule::EtcdMemberServer,
        scope: Scope::EtcdMember,
    },
    Profile {
        name: "etcd-member-peer",
        base_name: "etcd/peer",
        long_name: "certificate for one member of an etcd cluster to talk to the others",
        signer: Signer::Ca("etcd-ca"),
        common_name: CommonName::NodeName,
        organizations: &[],
        usages: SERVER_CLIENT,
        sans: SanRule::EtcdMemberPeer,
        scope: Scope::EtcdMember,
    },
];

/// Which URL a kubeconfig points at (kubeadm's `getKubeConfigSpecsBase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerRule {
    /// `controlPlaneEndpoint` when set, else the local API endpoint.
    ControlPlaneEndpoint,
    /// `https://<advertise address>:<bind port>`: components on the control-plane node talk to
    /// their local API server.
    LocalEndpoint,
}

/// Where a kubeconfig file goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeconfigPlacement {
    /// `<kubeconfig-dir>/<file>`, for the control-plane node.
    ControlPlane,
    /// `<kubeconfig-dir>/nodes/<node>/<file>`, one per node.
    PerNode,
}

/// A kubeconfig file with an embedded client certificate signed by the cluster CA.
#[derive(Debug, PartialEq, Eq)]
pub struct KubeconfigProfile {
    /// The name users type (`kubepki write-kubeconfig admin`).
    pub name: &'static str,
    /// The file name in the kubeconfig directory (`admin.conf`), or in a node's directory.
    pub file_name: &'static str,
    /// The client certificate's CN, which is also the kubeconfig user name.
    pub common_name: CommonName,
    /// The client certificate's O values: the user's groups.
    pub organizations: &'static [&'static str],
    /// Which API server URL it points at.
    pub server: ServerRule,
    /// Where the file goes.
    pub placement: KubeconfigPlacement,
}

/// kubeadm's kubeconfig files, in the order `kubeadm init phase kubeconfig all` writes them, then
/// the per-node kubelet kubeconfig.
pub static KUBECONFIGS: &[KubeconfigProfile] = &[
    KubeconfigProfile {
        name: "admin",
        file_name: "admin.conf",
        common_name: CommonName::Fixed("kubernetes-admin"),
        organizations: &[CLUSTER_ADMINS_GROUP],
        server: ServerRule::ControlPlaneEndpoint,
        placement: KubeconfigPlacement::ControlPlane,
    },
    KubeconfigProfile {
        name: "super-admin",
        file_name: "super-admin.conf",
        // The break-glass identity: system:masters bypasses RBAC and cannot be revoked.
        common_name: CommonName::Fixed("kubernetes-super-admin"),
        organizations: &[MASTERS_GROUP],
        server: ServerRule::ControlPlaneEndpoint,
        placement: KubeconfigPlacement::ControlPlane,
    },
    KubeconfigProfile {
        name: "kubelet",
        file_name: "kubelet.conf",
        common_name: CommonName::NodeIdentity,
        organizations: &[NODES_GROUP],
        server: ServerRule::ControlPlaneEndpoint,
        placement: KubeconfigPlacement::ControlPlane,
    },
    KubeconfigProfile {
        name: "controller-manager",
        file_name: "controller-manager.conf",
        common_name: CommonName::Fixed("system:kube-controller-manager"),
        organizations: &[],
        server: ServerRule::LocalEndpoint,
        placement: KubeconfigPlacement::ControlPlane,
    },
    KubeconfigProfile {
        name: "scheduler",
        file_name: "scheduler.conf",
        common_name: CommonName::Fixed("system:kube-scheduler"),
        organizations: &[],
        server: ServerRule::LocalEndpoint,
        placement: KubeconfigPlacement::ControlPlane,
    },
    KubeconfigProfile {
        name: "node-kubelet",
        file_name: "kubelet.conf",
        common_name: CommonName::NodeIdentity,
        organizations: &[NODES_GROUP],
        server: ServerRule::ControlPlaneEndpoint,
        placement: KubeconfigPlacement::PerNode,
    },
];

/// The CA that signs every kubeconfig client certificate.
pub const KUBECONFIG_CA: &str = "ca";
/// What every kubeconfig client certificate may be used for.
pub const KUBECONFIG_USAGES: &[ExtUsage] = CLIENT;

impl KubeconfigProfile {
    /// The client certificate's CN (the user name) for `node`.
    pub fn common_name(&self, node: &str) -> String {
        self.common_name.for_node(node)
    }
}

/// Looks a kubeconfig profile up by its user-facing name (`admin`, not `admin.conf`).
pub fn find_kubeconfig(name: &str) -> Option<&'static KubeconfigProfile> {
    KUBECONFIGS.iter().find(|k| k.name == name)
}

/// The five files `kubeadm init` writes.
pub fn control_plane_kubeconfigs() -> impl Iterator<Item = &'static KubeconfigProfile> {
    KUBECONFIGS
        .iter()
        .filter(|k| k.placement == KubeconfigPlacement::ControlPlane)
}

/// The etcd CA's file stem, which every etcd member's directory holds a copy of.
pub const ETCD_CA_BASE: &str = "etcd/ca";
/// The etcd CA's catalog name.
pub const ETCD_CA: &str = "etcd-ca";

/// The service-account signing key pair is not a certificate; it has a fixed place.
pub const SERVICE_ACCOUNT_KEY_BASE: &str = "sa";
/// The service-account key pair's name in plans and phases (kubeadm's `certs/sa`).
pub const SERVICE_ACCOUNT_NAME: &str = "sa";

/// Looks a profile up by its user-facing name.
pub fn find(name: &str) -> Option<&'static Profile> {
    CATALOG.iter().find(|p| p.name == name)
}

/// The etcd CA's profile.
pub fn etcd_ca() -> &'static Profile {
    find(ETCD_CA).expect("catalog invariant: the etcd CA exists")
}

/// The CA that signs every kubeconfig's client certificate.
pub fn kubeconfig_ca() -> &'static Profile {
    find(KUBECONFIG_CA).expect("catalog invariant: the kubeconfig CA exists")
}

/// The certificate authorities, in catalog order.
pub fn authorities() -> impl Iterator<Item = &'static Profile> {
    CATALOG.iter().filter(|p| p.is_ca())
}

/// The control-plane leaves `issue all` makes, in catalog order.
pub fn control_plane_leaves() -> impl Iterator<Item = &'static Profile> {
    CATALOG
        .iter()
        .filter(|p| !p.is_ca() && matches!(p.scope, Scope::ControlPlane | Scope::LocalEtcd))
}

/// The per-node (kubelet) leaves.
pub fn node_leaves() -> impl Iterator<Item = &'static Profile> {
    CATALOG.iter().filter(|p| p.scope == Scope::Node)
}

/// The per-member etcd leaves.
pub fn etcd_member_leaves() -> impl Iterator<Item = &'static Profile> {
    CATALOG.iter().filter(|p| p.scope == Scope::EtcdMember)
}

/// The per-member profile of a control-plane etcd profile (`etcd-server` → `etcd-member-server`).
pub fn etcd_member_of(profile: &Profile) -> Option<&'static Profile> {
    etcd_member_leaves().find(|m| m.base_name == profile.base_name)
}

/// All names `issue` accepts, for help and error messages.
pub fn leaf_names() -> Vec<&'static str> {
    CATALOG
        .iter()
        .filter(|p| !p.is_ca())
        .map(|p| p.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_ca_comes_before_its_leaves_and_every_signer_is_a_ca() {
        let mut seen = HashSet::new();
        for p in CATALOG {
            if let Signer::Ca(ca) = p.signer {
                let signer = find(ca).unwrap_or_else(|| panic!("{}: unknown CA {ca}", p.name));
                assert!(signer.is_ca(), "{}: signer {ca} is not a CA", p.name);
                assert!(seen.contains(ca), "{}: CA {ca} comes after it", p.name);
            }
            seen.insert(p.name);
        }
    }

    #[test]
    fn names_and_files_are_unique() {
        let names: HashSet<_> = CATALOG.iter().map(|p| p.name).collect();
        assert_eq!(names.len(), CATALOG.len());
        let files: HashSet<_> = CATALOG
            .iter()
            .filter(|p| !p.per_node())
            .map(|p| p.base_name)
            .collect();
        assert_eq!(
            files.len(),
            CATALOG.iter().filter(|p| !p.per_node()).count()
        );
    }

    #[test]
    fn cas_have_no_usages_and_leaves_have_some() {
        for p in CATALOG {
            assert_eq!(p.is_ca(), p.usages.is_empty(), "{}", p.name);
            assert_eq!(
                p.is_ca(),
                p.scope == Scope::Authority || p.name == "etcd-ca"
            );
        }
    }

    #[test]
    fn kubeconfig_names_are_unique_and_signed_by_a_ca() {
        let names: HashSet<_> = KUBECONFIGS.iter().map(|k| k.name).collect();
        assert_eq!(names.len(), KUBECONFIGS.len());
        assert!(find(KUBECONFIG_CA).is_some_and(Profile::is_ca));
        assert_eq!(control_plane_kubeconfigs().count(), 5);
    }

    #[test]
    fn etcd_members_mirror_the_etcd_profiles() {
        assert_eq!(find("etcd-ca").map(|p| p.base_name), Some(ETCD_CA_BASE));
        for name in ["etcd-server", "etcd-peer"] {
            let p = find(name).unwrap();
            let m = etcd_member_of(p).unwrap();
            assert!(m.per_node() && m.scope == Scope::EtcdMember);
            assert_eq!(
                (m.signer, m.common_name, m.usages),
                (p.signer, p.common_name, p.usages)
            );
        }
        assert_eq!(etcd_member_leaves().count(), 2);
        assert!(node_leaves().all(|p| p.scope == Scope::Node));
    }

    #[test]
    fn kubeadm_catalog_order() {
        let order: Vec<_> = CATALOG.iter().map(|p| p.name).take(10).collect();
        assert_eq!(
            order,
            [
                "ca",
                "apiserver",
                "apiserver-kubelet-client",
                "front-proxy-ca",
                "front-proxy-client",
                "etcd-ca",
                "etcd-server",
                "etcd-peer",
                "etcd-healthcheck-client",
                "apiserver-etcd-client"
            ]
        );
    }
}
