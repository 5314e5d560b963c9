//! Names: validation of the DNS names, IPs, CIDRs and endpoints users pass, and the SAN rules of
//! kubeadm (`GetAPIServerAltNames`, `getAltNames`, `RemoveDuplicateAltNames`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::Serialize;

use super::catalog::{Profile, SanRule};
use super::error::quote_input;

/// One subject alternative name as the user gave it: an IP or a DNS name (wildcards allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
}

impl FromStr for San {
    type Err = String;

    /// kubeadm classifies certSANs entries the same way: an IP, else a DNS-1123 subdomain, else a
    /// wildcard subdomain. It only warns about the rest; we refuse them, since a SAN the user
    /// asked for and did not get is a certificate that fails later.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(ip) = parse_ip(s) {
            return Ok(San::Ip(ip));
        }
        validate_dns_name(s, true).map(|()| San::Dns(s.to_string()))
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(d) => f.write_str(d),
            San::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Parses an IP address. IPv4-mapped IPv6 addresses are taken as IPv4, as Go's `To4` does when it
/// writes an IP SAN.
pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = s
        .parse()
        .map_err(|_| format!("{} is not an IP address", quote_input(s)))?;
    Ok(ip.to_canonical())
}

/// Checks a DNS-1123 subdomain (what Kubernetes accepts as a node name or SAN): lowercase
/// alphanumerics, '-' and '.', labels of 1–63 characters that start and end alphanumeric, at most
/// 253 characters. With `allow_wildcard`, a leading `*.` label is allowed.
pub fn validate_dns_name(s: &str, allow_wildcard: bool) -> Result<(), String> {
    let body = match s.strip_prefix("*.") {
        Some(rest) if allow_wildcard => rest,
        _ => s,
    };
    let why = if s.is_empty() {
        Some("is empty".to_string())
    } else if s.len() > 253 {
        Some("is longer than 253 characters".to_string())
    } else {
        body.split('.').find_map(|label| {
            let chars_ok = label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if label.is_empty() {
                Some("has an empty label".to_string())
            } else if label.len() > 63 {
                Some(format!(
                    "has a label longer than 63 characters ({})",
                    quote_input(label)
                ))
            } else if !chars_ok {
                Some(format!(
                    "may only hold lowercase letters, digits, '-' and '.' (label {})",
                    quote_input(label)
                ))
            } else if label.starts_with('-') || label.ends_with('-') {
                Some(format!(
                    "has a label that starts or ends with '-' ({})",
                    quote_input(label)
                ))
            } else {
                None
            }
        })
    };
    match why {
        None => Ok(()),
        Some(why) => Err(format!(
            "{} is neither an IP address nor a valid DNS name: it {why}",
            quote_input(s)
        )),
    }
}

/// `HOST[:PORT]` as kubeadm's `controlPlaneEndpoint`: host is an IP (IPv6 in brackets when a port
/// follows) or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: San,
    pub port: Option<u16>,
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let quoted = quote_input(s);
        if s.contains("://") || s.contains('/') {
            return Err(format!(
                "{quoted} must be HOST or HOST:PORT, without a scheme or path"
            ));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("{quoted} has an unclosed '['"))?;
            match after {
                "" => (host, None),
                p => match p.strip_prefix(':') {
                    Some(p) => (host, Some(p)),
                    None => return Err(format!("{quoted}: expected ':PORT' after ']'")),
                },
            }
        } else if s.parse::<IpAddr>().is_ok() {
            (s, None) // a bare IPv6 address has colons but no port
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        let port = port
            .map(|p| match p.parse::<u16>() {
                Ok(0) | Err(_) => Err(format!(
                    "{quoted} has an invalid port {} (1-65535)",
                    quote_input(p)
                )),
                Ok(n) => Ok(n),
            })
            .transpose()?;
        let host = host.parse::<San>().map_err(|e| format!("{quoted}: {e}"))?;
        if matches!(host, San::Dns(ref d) if d.starts_with("*.")) {
            return Err(format!("{quoted}: a wildcard is not a host"));
        }
        Ok(Endpoint { host, port })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.port) {
            (San::Ip(IpAddr::V6(ip)), Some(p)) => write!(f, "[{ip}]:{p}"),
            (host, Some(p)) => write!(f, "{host}:{p}"),
            (host, None) => write!(f, "{host}"),
        }
    }
}

/// kubeadm's `MinimumAddressesInServiceSubnet`: the API server's service IP is the first
/// address of the service subnet and the cluster DNS service the tenth.
pub const MIN_SERVICE_SUBNET_ADDRESSES: u128 = 10;

/// kubeadm's `MaximumBitsForServiceSubnet` (the API server's own limit): a service subnet has at
/// most 20 bits of host part, so an IPv4 mask of at least /12 and an IPv6 mask of at least /108.
pub const MAX_SERVICE_SUBNET_HOST_BITS: u8 = 20;

/// Parses `networking.serviceSubnet` / `--service-cidr`: one CIDR, or two comma-separated for
/// dual stack (one per family), validated as kubeadm's `ValidateIPNetFromString` and
/// `ValidateServiceSubnetSize` do. Like Go's `net.ParseCIDR`, an address with host bits set
/// (`10.96.3.7/12`) stands for its network (`10.96.0.0/12`). Every error quotes the CIDR at
/// fault (and the whole value when it holds two).
pub fn parse_service_cidrs(s: &str) -> Result<Vec<IpNet>, String> {
    let items: Vec<&str> = s.split(',').map(str::trim).collect();
    // With two CIDRs, say which one is wrong and in what value.
    let context = if items.len() > 1 {
        format!("{}: ", quote_input(s))
    } else {
        String::new()
    };
    let nets = items
        .iter()
        .map(|c| {
            let net = c.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| {
                format!(
                    "{context}{} is not a CIDR (e.g. 10.96.0.0/12)",
                    quote_input(c)
                )
            })?;
            check_service_subnet_size(c, net).map_err(|e| format!("{context}{e}"))?;
            Ok(net)
        })
        .collect::<Result<Vec<_>, String>>()?;
    match nets.as_slice() {
        [_] => Ok(nets),
        [a, b] if a.addr().is_ipv4() != b.addr().is_ipv4() => Ok(nets),
        [_, _] => Err(format!(
            "{}: a dual-stack pair must be one IPv4 and one IPv6 CIDR",
            quote_input(s)
        )),
        _ => Err(format!(
            "{}: at most two CIDRs (one per IP family)",
            quote_input(s)
        )),
    }
}

/// kubeadm's two size limits on one service CIDR, `text` being how the user wrote it.
fn check_service_subnet_size(text: &str, net: IpNet) -> Result<(), String> {
    let bits = net.max_prefix_len();
    let host_bits = bits - net.prefix_len();
    let addresses = 1u128.checked_shl(u32::from(host_bits)).unwrap_or(u128::MAX);
    if addresses < MIN_SERVICE_SUBNET_ADDRESSES {
        return Err(format!(
            "{} is too small for a service subnet: it holds {addresses} address{}, and kubeadm \
             needs at least {MIN_SERVICE_SUBNET_ADDRESSES} (the API server's service IP is the \
             first address, the cluster DNS the tenth); use a /{} or wider",
            quote_input(text),
            if addresses == 1 { "" } else { "es" },
            bits - 4
        ));
    }
    if host_bits > MAX_SERVICE_SUBNET_HOST_BITS {
        return Err(format!(
            "{} is too large for a service subnet: for {bits}-bit addresses the mask must be \
             >= {} (kubeadm and the API server allow at most {MAX_SERVICE_SUBNET_HOST_BITS} \
             bits of host part)",
            quote_input(text),
            bits - MAX_SERVICE_SUBNET_HOST_BITS
        ));
    }
    Ok(())
}

/// Parses a comma-separated list of SANs, as `--apiserver-cert-extra-sans` takes it. An error
/// quotes the list and the entry at fault.
pub fn parse_san_list(s: &str) -> Result<Vec<San>, String> {
    s.split(',')
        .enumerate()
        .map(|(i, item)| {
            if item.trim().is_empty() {
                return Err(format!("{}: entry {} is empty", quote_input(s), i + 1));
            }
            item.parse::<San>()
                .map_err(|e| format!("{}: {e}", quote_input(s)))
        })
        .collect()
}

/// Checks a subject value the user gives for a certificate (`--client-name` as the CN, `--org`
/// as an O): not empty, no control characters (a newline in a name forges output lines and
/// breaks RBAC group matching), at most 64 characters (X.520's ub-common-name and
/// ub-organization-name, which count characters, not bytes).
pub fn validate_subject_value(s: &str) -> Result<(), String> {
    const UPPER_BOUND: usize = 64;
    let why = if s.trim().is_empty() {
        "is empty".to_string()
    } else if s.chars().any(char::is_control) {
        "holds a control character".to_string()
    } else if s.chars().count() > UPPER_BOUND {
        format!(
            "is longer than {UPPER_BOUND} characters (X.520's upper bound for a common name or \
             organization)"
        )
    } else {
        return Ok(());
    };
    Err(format!("{} {why}", quote_input(s)))
}

/// The API server's in-cluster virtual IP: the network address + 1 of the first service CIDR.
pub fn apiserver_virtual_ip(service_cidrs: &[IpNet]) -> Option<IpAddr> {
    let net = service_cidrs.first()?;
    match net {
        IpNet::V4(n) if n.prefix_len() < 32 => {
            Some(IpAddr::V4((u32::from(n.network()) + 1).into()))
        }
        IpNet::V6(n) if n.prefix_len() < 128 => {
            Some(IpAddr::V6((u128::from(n.network()) + 1).into()))
        }
        _ => None,
    }
}

/// A node to issue per-node certificates for: its name and the extra addresses its kubelet
/// serving certificate must carry. Written `NAME` or `NAME=ADDR[,ADDR...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub addresses: Vec<San>,
}

impl FromStr for NodeSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, addrs) = match s.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a)),
            None => (s.trim(), None),
        };
        // With addresses, the message names the whole value as well as the part at fault.
        let context = if addrs.is_some() {
            format!("{}: ", quote_input(s))
        } else {
            String::new()
        };
        validate_dns_name(name, false).map_err(|e| {
            format!(
                "{context}node name {}",
                e.replace(
                    " is neither an IP address nor a valid DNS name",
                    " is not a valid node name"
                )
            )
        })?;
        let addresses = addrs
            .map(|a| {
                a.split(',')
                    .filter(|x| !x.trim().is_empty())
                    .map(|x| x.parse::<San>().map_err(|e| format!("{context}{e}")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(NodeSpec {
            name: name.to_string(),
            addresses,
        })
    }
}

/// Parses a node list file (`--node-list`): one node per line, `NAME [ADDR...]` with the
/// addresses separated by spaces or commas (or `NAME=ADDR,...` as `--node-name` takes it); `#`
/// starts a comment, blank lines are skipped. Errors start with `line N:`; a node named twice and
/// a list without any node are errors too. The caller names the file.
pub fn parse_node_list(text: &str) -> Result<Vec<NodeSpec>, String> {
    let mut nodes: Vec<(NodeSpec, usize)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let line = line.split('#').next().unwrap_or("").trim();
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        let mut node = first
            .parse::<NodeSpec>()
            .map_err(|e| format!("line {number}: {e}"))?;
        for field in fields {
            for address in field.split(',').filter(|a| !a.is_empty()) {
                node.addresses.push(
                    address
                        .parse::<San>()
                        .map_err(|e| format!("line {number}: node {:?}: {e}", node.name))?,
                );
            }
        }
        if let Some((_, first_line)) = nodes.iter().find(|(n, _)| n.name == node.name) {
            return Err(format!(
                "line {number}: node {:?} is already listed on line {first_line}",
                node.name
            ));
        }
        nodes.push((node, number));
    }
    if nodes.is_empty() {
        return Err("lists no nodes (every line is blank or a comment)".into());
    }
    Ok(nodes.into_iter().map(|(n, _)| n).collect())
}

/// The cluster facts that decide certificate contents (kubeadm's InitConfiguration and
/// ClusterConfiguration, as far as the PKI is concerned).
#[derive(Debug, Clone)]
pub struct Cluster {
    /// This control-plane node's name (nodeRegistration.name).
    pub node_name: String,
    /// localAPIEndpoint.advertiseAddress.
    pub advertise_address: IpAddr,
    pub control_plane_endpoint: Option<Endpoint>,
    /// apiServer.certSANs.
    pub apiserver_extra_sans: Vec<San>,
    /// networking.serviceSubnet.
    pub service_cidrs: Vec<IpNet>,
    /// networking.dnsDomain.
    pub dns_domain: String,
    /// etcd.local.serverCertSANs / peerCertSANs.
    pub etcd_server_extra_sans: Vec<San>,
    pub etcd_peer_extra_sans: Vec<San>,
    /// localAPIEndpoint.bindPort.
    pub bind_port: u16,
    /// clusterName: the cluster's name inside kubeconfig files.
    pub cluster_name: String,
}

impl Cluster {
    /// `https://<advertise address>:<bind port>`, the local API endpoint.
    pub fn local_endpoint_url(&self) -> String {
        url(&San::Ip(self.advertise_address), self.bind_port)
    }

    /// The control-plane endpoint URL (its port, else the bind port), or the local endpoint
    /// when no control-plane endpoint is set.
    pub fn control_plane_url(&self) -> String {
        match &self.control_plane_endpoint {
            Some(e) => url(&e.host, e.port.unwrap_or(self.bind_port)),
            None => self.local_endpoint_url(),
        }
    }
}

fn url(host: &San, port: u16) -> String {
    match host {
        San::Ip(IpAddr::V6(ip)) => format!("https://[{ip}]:{port}"),
        other => format!("https://{other}:{port}"),
    }
}

/// The SANs of one certificate: DNS names sorted and de-duplicated, IPs de-duplicated in
/// first-seen order, exactly as kubeadm's `RemoveDuplicateAltNames` leaves them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AltNames {
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
}

impl AltNames {
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.ips.is_empty()
    }

    fn push(&mut self, san: &San) {
        match san {
            San::Dns(d) => self.dns.push(d.clone()),
            San::Ip(ip) => self.ips.push(*ip),
        }
    }

    fn finish(mut self) -> Self {
        self.dns.sort();
        self.dns.dedup();
        let mut seen = Vec::with_capacity(self.ips.len());
        self.ips.retain(|ip| {
            let fresh = !seen.contains(ip);
            seen.push(*ip);
            fresh
        });
        self
    }
}

/// The SANs a profile gets for this cluster and node; `None` when the profile's rule needs
/// cluster settings and none were given (CAs and per-node certificates do without).
pub fn alt_names(
    profile: &Profile,
    cluster: Option<&Cluster>,
    node: &NodeSpec,
) -> Option<AltNames> {
    let mut names = AltNames::default();
    let localhost = [
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1u16]),
    ];
    match profile.sans {
        SanRule::None => {}
        SanRule::OwnCommonName => names.dns.push(profile.common_name(&node.name)),
        SanRule::ApiServer => {
            let cluster = cluster?;
            names.dns.push(cluster.node_name.clone());
            names.dns.extend(
                ["kubernetes", "kubernetes.default", "kubernetes.default.svc"].map(String::from),
            );
            names
                .dns
                .push(format!("kubernetes.default.svc.{}", cluster.dns_domain));
            names
                .ips
                .extend(apiserver_virtual_ip(&cluster.service_cidrs));
            names.ips.push(cluster.advertise_address);
            if let Some(endpoint) = &cluster.control_plane_endpoint {
                names.push(&endpoint.host);
            }
            cluster
                .apiserver_extra_sans
                .iter()
                .for_each(|s| names.push(s));
        }
        SanRule::EtcdServer | SanRule::EtcdPeer => {
            let cluster = cluster?;
            names.dns.push(cluster.node_name.clone());
            names.dns.push("localhost".into());
            names.ips.push(cluster.advertise_address);
            names.ips.extend(localhost);
            let extra = if profile.sans == SanRule::EtcdServer {
                &cluster.etcd_server_extra_sans
            } else {
                &cluster.etcd_peer_extra_sans
            };
            extra.iter().for_each(|s| names.push(s));
        }
        SanRule::KubeletServing => {
            names.dns.push(node.name.clone());
            node.addresses.iter().for_each(|s| names.push(s));
        }
    }
    Some(names.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::catalog::find;

    fn cluster() -> Cluster {
        Cluster {
            node_name: "node-1".into(),
            advertise_address: "192.168.1.10".parse().unwrap(),
            control_plane_endpoint: Some("lb.example.com:6443".parse().unwrap()),
            apiserver_extra_sans: vec![
                "10.0.0.5".parse().unwrap(),
                "api.example.com".parse().unwrap(),
            ],
            service_cidrs: parse_service_cidrs("10.96.0.0/12,fd00::/108").unwrap(),
            dns_domain: "cluster.local".into(),
            etcd_server_extra_sans: vec![],
            etcd_peer_extra_sans: vec![],
            bind_port: 6443,
            cluster_name: "kubernetes".into(),
        }
    }

    #[test]
    fn server_urls() {
        let mut c = cluster();
        assert_eq!(c.control_plane_url(), "https://lb.example.com:6443");
        assert_eq!(c.local_endpoint_url(), "https://192.168.1.10:6443");
        c.control_plane_endpoint = None;
        c.advertise_address = "fd00::10".parse().unwrap();
        c.bind_port = 8443;
        assert_eq!(c.control_plane_url(), "https://[fd00::10]:8443");
    }

    fn node(name: &str) -> NodeSpec {
        name.parse().unwrap()
    }

    #[test]
    fn apiserver_sans_follow_kubeadm_order_rules() {
        let names = alt_names(
            find("apiserver").unwrap(),
            Some(&cluster()),
            &node("node-1"),
        )
        .unwrap();
        assert_eq!(
            names.dns,
            [
                "api.example.com",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                "lb.example.com",
                "node-1"
            ]
        );
        let ips: Vec<String> = names.ips.iter().map(|i| i.to_string()).collect();
        assert_eq!(ips, ["10.96.0.1", "192.168.1.10", "10.0.0.5"]);
    }

    #[test]
    fn etcd_sans_include_loopback() {
        let names = alt_names(
            find("etcd-peer").unwrap(),
            Some(&cluster()),
            &node("node-1"),
        )
        .unwrap();
        assert_eq!(names.dns, ["localhost", "node-1"]);
        let ips: Vec<String> = names.ips.iter().map(|i| i.to_string()).collect();
        assert_eq!(ips, ["192.168.1.10", "127.0.0.1", "::1"]);
    }

    #[test]
    fn virtual_ip_is_network_plus_one_of_the_first_cidr() {
        let v6_first = parse_service_cidrs("fd00:10:96::/112,10.96.0.0/12").unwrap();
        assert_eq!(
            apiserver_virtual_ip(&v6_first).unwrap().to_string(),
            "fd00:10:96::1"
        );
        let host_bits = parse_service_cidrs("10.96.3.7/12").unwrap();
        assert_eq!(
            apiserver_virtual_ip(&host_bits).unwrap().to_string(),
            "10.96.0.1"
        );
        assert!(parse_service_cidrs("10.96.0.0/12,10.97.0.0/16").is_err());
        assert!(parse_service_cidrs("10.96.0.0/33").is_err());
    }

    #[test]
    fn endpoints() {
        let e: Endpoint = "[fd00::1]:6443".parse().unwrap();
        assert_eq!(e.to_string(), "[fd00::1]:6443");
        let e: Endpoint = "fd00::1".parse().unwrap();
        assert_eq!(e.port, None);
        assert!("https://x:6443".parse::<Endpoint>().is_err());
        assert!("x:0".parse::<Endpoint>().is_err());
        assert!("x:99999".parse::<Endpoint>().is_err());
        assert!("Bad_Host:6443".parse::<Endpoint>().is_err());
    }

    #[test]
    fn sans_and_node_names_are_validated() {
        assert!("*.example.com".parse::<San>().is_ok());
        assert!("foo_bar".parse::<San>().is_err());
        assert!("UPPER.example".parse::<San>().is_err());
        assert!(
            "1.2.3.4.5".parse::<San>().is_err()
                || matches!("1.2.3.4.5".parse::<San>(), Ok(San::Dns(_)))
        );
        assert!("../etc".parse::<NodeSpec>().is_err());
        let n: NodeSpec = "worker-1=10.0.0.11,fd00::11,worker-1.lan".parse().unwrap();
        assert_eq!(n.addresses.len(), 3);
        assert!("worker-1=not_an_ip".parse::<NodeSpec>().is_err());
    }

    #[test]
    fn service_cidrs_are_refused_where_kubeadm_refuses_them() {
        // No room for the API server's service IP (and the cluster DNS, the tenth address).
        for (cidr, why) in [
            ("10.96.0.5/32", "too small"),
            ("10.96.0.0/29", "too small"),
            ("fd00::/125", "too small"),
            ("0.0.0.0/0", "too large"),
            ("10.0.0.0/11", "too large"),
            ("fd00::/64", "too large"),
            ("::/0", "too large"),
        ] {
            let err = parse_service_cidrs(cidr).unwrap_err();
            assert!(err.contains(cidr) && err.contains(why), "{cidr}: {err}");
        }
        let err = parse_service_cidrs("0.0.0.0/0").unwrap_err();
        assert!(err.contains("mask must be >= 12"), "{err}");
        let err = parse_service_cidrs("fd00::/107").unwrap_err();
        assert!(err.contains("mask must be >= 108"), "{err}");
        let err = parse_service_cidrs("10.96.0.5/32").unwrap_err();
        assert!(err.contains("1 address,") && err.contains("/28"), "{err}");

        // The edges kubeadm accepts.
        for ok in [
            "10.96.0.0/12",
            "10.96.0.0/28",
            "fd00::/108",
            "fd00::/124",
            "10.96.0.0/12,fd00::/108",
            "fd00:10:96::/112, 10.96.0.0/16",
        ] {
            parse_service_cidrs(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        // In a dual-stack value the message names the whole value and the CIDR at fault.
        let err = parse_service_cidrs("10.96.0.0/12,fd00::/64").unwrap_err();
        assert!(
            err.contains("\"10.96.0.0/12,fd00::/64\"") && err.contains("\"fd00::/64\""),
            "{err}"
        );
        let err = parse_service_cidrs("10.96.0.0/12,").unwrap_err();
        assert!(err.contains("\"\" is not a CIDR"), "{err}");
        assert!(parse_service_cidrs("10.96.0.0/12,fd00::/108,10.0.0.0/16").is_err());
        // Host bits set: the network is meant, as Go's net.ParseCIDR (and so kubeadm) reads it.
        let nets = parse_service_cidrs("10.96.3.7/12").unwrap();
        assert_eq!(nets[0].to_string(), "10.96.0.0/12");
        assert_eq!(
            apiserver_virtual_ip(&nets).unwrap().to_string(),
            "10.96.0.1"
        );
    }

    #[test]
    fn flag_parsers_name_their_input() {
        let err = "foo bar".parse::<San>().unwrap_err();
        assert!(err.contains("\"foo bar\""), "{err}");
        let err = "lb:99999".parse::<Endpoint>().unwrap_err();
        assert!(err.contains("\"lb:99999\""), "{err}");
        let err = "worker-1=10.0.0.1,not_an_ip"
            .parse::<NodeSpec>()
            .unwrap_err();
        assert!(
            err.contains("\"worker-1=10.0.0.1,not_an_ip\"") && err.contains("\"not_an_ip\""),
            "{err}"
        );
        let err = "=10.0.0.1".parse::<NodeSpec>().unwrap_err();
        assert!(err.contains("\"=10.0.0.1\""), "{err}");
        // Control characters are escaped, so they cannot forge an output line.
        let err = "node\n[certs] renewed FAKE"
            .parse::<NodeSpec>()
            .unwrap_err();
        assert!(!err.contains('\n') && err.contains("\\n"), "{err}");
        // A long value is quoted abbreviated.
        let long = "a".repeat(300);
        let err = long.parse::<San>().unwrap_err();
        assert!(err.contains("(300 characters)") && err.len() < 250, "{err}");
    }

    #[test]
    fn san_lists() {
        let sans = parse_san_list("10.0.0.1,api.example.com,*.example.com").unwrap();
        assert_eq!(sans.len(), 3);
        let err = parse_san_list("api.example.com,Bad_Name").unwrap_err();
        assert!(
            err.contains("\"api.example.com,Bad_Name\"") && err.contains("\"Bad_Name\""),
            "{err}"
        );
        let err = parse_san_list("a.example,,b.example").unwrap_err();
        assert!(err.contains("entry 2 is empty"), "{err}");
    }

    #[test]
    fn node_lists() {
        let text = "\
# nodes of rack 1
worker-1 10.0.0.11 fd00::11
worker-2 10.0.0.12,worker-2.lan   # trailing comment

worker-3
worker-4=10.0.0.14
";
        let nodes = parse_node_list(text).unwrap();
        let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["worker-1", "worker-2", "worker-3", "worker-4"]);
        assert_eq!(nodes[0].addresses.len(), 2);
        assert_eq!(
            nodes[1].addresses,
            [
                San::Ip("10.0.0.12".parse().unwrap()),
                San::Dns("worker-2.lan".into())
            ]
        );
        assert!(nodes[2].addresses.is_empty());
        assert_eq!(nodes[3].addresses.len(), 1);
        // CRLF line ends are fine.
        assert_eq!(parse_node_list("a\r\nb\r\n").unwrap().len(), 2);

        for (text, want) in [
            ("worker-1\nWorker_2\n", "line 2:"),
            ("worker-1\n\nworker-2 not_an_ip\n", "line 3:"),
            (
                "worker-1\nworker-1 10.0.0.1\n",
                "line 2: node \"worker-1\" is already listed on line 1",
            ),
            ("a\u{7}b\n", "line 1:"),
            ("ok\nbad\u{1b}[31m 10.0.0.1\n", "line 2:"),
        ] {
            let err = parse_node_list(text).unwrap_err();
            assert!(err.starts_with(want), "{text:?}: {err}");
            assert!(!err.chars().any(char::is_control), "{err:?}");
        }
        for empty in ["", "\n\n", "# only comments\n   # more\n"] {
            let err = parse_node_list(empty).unwrap_err();
            assert!(err.contains("lists no nodes"), "{err}");
        }
    }

    #[test]
    fn subject_values() {
        for ok in [
            "jane",
            "system:masters",
            "ops team",
            "ünïcödé",
            &"x".repeat(64),
        ] {
            validate_subject_value(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
        }
        // 64 characters, more than 64 bytes: X.520 counts characters.
        validate_subject_value(&"é".repeat(64)).unwrap();
        for (bad, why) in [
            ("", "empty"),
            ("   ", "empty"),
            ("jane\n[certs] renewed FAKE", "control character"),
            ("a\tb", "control character"),
            ("a\u{7f}b", "control character"),
            ("a\u{85}b", "control character"),
            (&"x".repeat(65), "longer than 64"),
        ] {
            let err = validate_subject_value(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(!err.chars().any(char::is_control), "{err:?}");
        }
    }
}
