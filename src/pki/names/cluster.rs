//! The cluster: the facts that decide certificate contents, the control-plane endpoint
//! (`HOST[:PORT]`), the server URLs of kubeconfigs, and kubeadm's SAN rules per profile
//! (`GetAPIServerAltNames`, `getAltNames`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use super::cidr::apiserver_virtual_ip;
use super::node::NodeSpec;
use super::san::{AltNames, San};
use crate::pki::catalog::{Profile, SanRule};
use crate::pki::untrusted::quote_input;

/// `HOST[:PORT]` as kubeadm's `controlPlaneEndpoint`: host is an IP (IPv6 in brackets when a port
/// follows) or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host: an IP or a DNS name.
    pub host: San,
    /// The port, when given; without one the API server's bind port is used.
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

/// The cluster facts that decide certificate contents (kubeadm's InitConfiguration and
/// ClusterConfiguration, as far as the PKI is concerned).
#[derive(Debug, Clone)]
pub struct Cluster {
    /// This control-plane node's name (nodeRegistration.name).
    pub node_name: String,
    /// localAPIEndpoint.advertiseAddress.
    pub advertise_address: IpAddr,
    /// controlPlaneEndpoint: the API servers' shared address (a load balancer), a SAN of the
    /// API server's certificate and the server of the kubeconfigs that use it.
    pub control_plane_endpoint: Option<Endpoint>,
    /// apiServer.certSANs.
    pub apiserver_extra_sans: Vec<San>,
    /// networking.serviceSubnet.
    pub service_cidrs: Vec<IpNet>,
    /// networking.dnsDomain.
    pub dns_domain: String,
    /// etcd.local.serverCertSANs.
    pub etcd_server_extra_sans: Vec<San>,
    /// etcd.local.peerCertSANs.
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
        // kubeadm's etcd rule with the member in place of the control-plane node: its name and
        // addresses where getAltNames has the node name and the advertise address. The extra
        // SANs come from the cluster settings when there are any.
        SanRule::EtcdMemberServer | SanRule::EtcdMemberPeer => {
            names.dns.push(node.name.clone());
            names.dns.push("localhost".into());
            node.addresses.iter().for_each(|s| names.push(s));
            names.ips.extend(localhost);
            if let Some(cluster) = cluster {
                let extra = if profile.sans == SanRule::EtcdMemberServer {
                    &cluster.etcd_server_extra_sans
                } else {
                    &cluster.etcd_peer_extra_sans
                };
                extra.iter().for_each(|s| names.push(s));
            }
        }
    }
    Some(names.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::catalog::find;
    use crate::pki::names::cidr::parse_service_cidrs;

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
    fn etcd_member_sans_are_the_members_own() {
        let mut c = cluster();
        c.etcd_server_extra_sans = vec!["etcd.example.com".parse().unwrap()];
        let m2: NodeSpec = "m2=10.0.0.2,m2.lan".parse().unwrap();
        let server = alt_names(find("etcd-member-server").unwrap(), Some(&c), &m2).unwrap();
        assert_eq!(
            server.dns,
            ["etcd.example.com", "localhost", "m2", "m2.lan"]
        );
        let ips: Vec<String> = server.ips.iter().map(|i| i.to_string()).collect();
        assert_eq!(ips, ["10.0.0.2", "127.0.0.1", "::1"]);
        // The server extras are not the peer's; without cluster settings there are none.
        let peer = alt_names(find("etcd-member-peer").unwrap(), Some(&c), &m2).unwrap();
        assert_eq!(peer.dns, ["localhost", "m2", "m2.lan"]);
        let bare = alt_names(find("etcd-member-server").unwrap(), None, &m2).unwrap();
        assert_eq!(bare.dns, ["localhost", "m2", "m2.lan"]);
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
}
