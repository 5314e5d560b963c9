//! Flag groups that several subcommands share (clap derive; the doc comments are the help).
// The doc comments here are the command-line help (clap), written for a terminal:
// `HOST[:PORT]` and `<cert-dir>` are not rustdoc links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use ipnet::IpNet;
use time::Duration;

use crate::output::OutputFormat;
use crate::pki::duration::parse_duration;
use crate::pki::keys::KeyAlgorithm;
use crate::pki::names::{self, Endpoint, NodeSpec, San};

/// Flags every file-writing command has.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// A kubeadm configuration file (kubeadm.k8s.io/v1beta3 or v1beta4 InitConfiguration and
    /// ClusterConfiguration); flags fill in what it leaves out, and may not repeat what it sets.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The certificate directory (kubeadm's certificatesDir) [default: /etc/kubernetes/pki].
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Algorithm of new keys: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384 or ED25519
    /// (kubeadm's encryptionAlgorithm names; ED25519 cannot be used for sa.key, and kubeadm
    /// itself cannot read Ed25519 keys) [default: RSA-2048].
    #[arg(long, value_name = "ALG", value_parser = KeyAlgorithm::from_str)]
    pub key_algorithm: Option<KeyAlgorithm>,

    /// Replace files that exist but do not match the request; the old files are kept under
    /// <cert-dir>/kubepki-backup/<time>/.
    #[arg(long)]
    pub force: bool,

    /// Print what would be done and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Output format: text for people, json or yaml for scripts.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// The nodes certificates and kubeconfigs are for.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Node name: the control-plane node for apiserver/etcd certificates and kubeconfigs
    /// (default: the hostname). For per-node certificates and kubeconfigs (kubelet-client,
    /// kubelet-server, node-kubelet) repeat it for many nodes; write NAME=ADDR[,ADDR...] to add
    /// addresses to a node's kubelet serving certificate.
    #[arg(long = "node-name", value_name = "NAME[=ADDRS]")]
    pub nodes: Vec<NodeSpec>,

    /// A file listing nodes, one per line: NAME [ADDR...]; '#' starts a comment.
    #[arg(long, value_name = "FILE")]
    pub node_list: Option<PathBuf>,
}

/// Where the API server is reached.
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// The IP address the API server advertises (default: the address of the default-route
    /// interface).
    #[arg(long, value_name = "IP", value_parser = names::parse_ip)]
    pub apiserver_advertise_address: Option<IpAddr>,

    /// A stable address for the control plane, HOST[:PORT] (an IP or a DNS name).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub control_plane_endpoint: Option<Endpoint>,
}

/// Flags that only shape the SANs of control-plane certificates (kubeadm's names).
#[derive(Debug, Args)]
pub struct SanArgs {
    /// Extra SANs (IPs or DNS names) for the API server serving certificate.
    #[arg(long, value_name = "SAN,...", value_delimiter = ',')]
    pub apiserver_cert_extra_sans: Vec<San>,

    /// Service CIDR(s); the first IP of the first CIDR is the API server's in-cluster SAN
    /// [default: 10.96.0.0/12].
    #[arg(long, value_name = "CIDR[,CIDR]")]
    pub service_cidr: Option<ServiceCidrs>,

    /// The cluster DNS domain [default: cluster.local].
    #[arg(long, value_name = "DOMAIN")]
    pub service_dns_domain: Option<String>,

    /// Extra SANs for the etcd serving certificate.
    #[arg(long, value_name = "SAN,...", value_delimiter = ',')]
    pub etcd_server_extra_sans: Vec<San>,

    /// Extra SANs for the etcd peer certificate.
    #[arg(long, value_name = "SAN,...", value_delimiter = ',')]
    pub etcd_peer_extra_sans: Vec<San>,
}

/// Where kubeconfigs go and what they name.
#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// Directory of the kubeconfig files (default: the parent of --cert-dir, i.e.
    /// /etc/kubernetes for /etc/kubernetes/pki).
    #[arg(long, value_name = "DIR")]
    pub kubeconfig_dir: Option<PathBuf>,

    /// The port the API server listens on (used when --control-plane-endpoint has no port, and
    /// for the local endpoint of controller-manager.conf and scheduler.conf).
    /// [default: 6443]
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub apiserver_bind_port: Option<u16>,

    /// The cluster name inside kubeconfig files [default: kubernetes].
    #[arg(long, value_name = "NAME")]
    pub cluster_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidityArgs {
    /// Validity of new leaf and client certificates, e.g. 1y, 365d, 8760h [default: 1y].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub validity: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct CaValidityArgs {
    /// Validity of new CA certificates, e.g. 10y, 87600h [default: 10y].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub ca_validity: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct ServiceCidrs(pub Vec<IpNet>);

impl FromStr for ServiceCidrs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        names::parse_service_cidrs(s).map(ServiceCidrs)
    }
}

/// `--explain`: the openssl and kubectl commands instead of the run.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Print, instead of doing it, a bash script that makes the same files with openssl and
    /// kubectl (the Kubernetes docs' walkthrough, generated from this run's plan); writes nothing.
    #[arg(long, conflicts_with = "dry_run")]
    pub explain: bool,
}
