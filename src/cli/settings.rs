//! Settings resolution: flags, else the kubeadm config (`--config`), else kubeadm's defaults.
//! A flag that repeats what the config sets is refused, so no setting is ever silently ignored.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ipnet::IpNet;
use time::{Duration, OffsetDateTime};

use super::args::{CommonArgs, EndpointArgs, KubeconfigArgs, SanArgs};
use crate::config::{self, KubeadmConfig};
use crate::host;
use crate::pki::Error;
use crate::pki::cert::{DEFAULT_CA_VALIDITY, DEFAULT_VALIDITY};
use crate::pki::duration;
use crate::pki::keys::KeyAlgorithm;
use crate::pki::names::{self, Cluster, NodeSpec};
use crate::pki::plan::Options;
use crate::pki::selection::Selection;
use crate::pki::store::Layout;

pub(super) const DEFAULT_CERT_DIR: &str = "/etc/kubernetes/pki";
pub(super) const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
pub(super) const DEFAULT_DNS_DOMAIN: &str = "cluster.local";
pub(super) const DEFAULT_BIND_PORT: u16 = 6443;
pub(super) const DEFAULT_CLUSTER_NAME: &str = "kubernetes";

/// Reads `--config`, printing its notes (ignored documents) on stderr.
pub(super) fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Option<KubeadmConfig>> {
    let Some(path) = path else { return Ok(None) };
    if !path.exists() {
        return Err(Error::usage("--config", format!("{} does not exist", path.display())).into());
    }
    let config = config::load(path).context("--config")?;
    for note in &config.notes {
        eprintln!("[config] {}: {note}", path.display());
    }
    Ok(Some(config))
}

/// One setting from a flag or from the kubeadm config, never both: kubeadm refuses to mix
/// `--config` with flags; we accept flags for what the file leaves out, and refuse a flag that
/// repeats what the file sets (so no setting is ever silently ignored).
pub(super) fn pick<T>(
    flag: Option<T>,
    flag_name: &str,
    from_config: Option<T>,
    field: &str,
    config: Option<&KubeadmConfig>,
) -> anyhow::Result<Option<T>> {
    match (flag, from_config, config) {
        (Some(_), Some(_), Some(c)) => Err(Error::usage(
            flag_name,
            format!(
                "conflicts with {field} in {}; set it in one place",
                c.path.display()
            ),
        )
        .into()),
        (Some(v), _, _) | (None, Some(v), _) => Ok(Some(v)),
        (None, None, _) => Ok(None),
    }
}

/// A list setting: from the flag or the config, never both.
fn pick_list<T>(
    flag: &[T],
    flag_name: &str,
    from_config: &[T],
    field: &str,
    config: Option<&KubeadmConfig>,
) -> anyhow::Result<Vec<T>>
where
    T: Clone,
{
    let flag = (!flag.is_empty()).then(|| flag.to_vec());
    let from_config = (!from_config.is_empty()).then(|| from_config.to_vec());
    Ok(pick(flag, flag_name, from_config, field, config)?.unwrap_or_default())
}

/// The settings every file-writing command shares, resolved from flags, config and defaults.
pub(super) struct Resolved {
    config: Option<KubeadmConfig>,
    pub(super) cert_dir: PathBuf,
    /// `None` when neither a flag nor the config names one.
    pub(super) key_algorithm: Option<KeyAlgorithm>,
    validity: Duration,
    ca_validity: Duration,
}

impl Resolved {
    pub(super) fn new(
        common: &CommonArgs,
        validity: Option<Duration>,
        ca_validity: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let config = load_config(common.config.as_ref())?;
        Resolved::from_parts(
            config,
            common.cert_dir.clone(),
            common.key_algorithm,
            validity,
            ca_validity,
        )
    }

    pub(super) fn from_parts(
        config: Option<KubeadmConfig>,
        cert_dir: Option<PathBuf>,
        key_algorithm: Option<KeyAlgorithm>,
        validity: Option<Duration>,
        ca_validity: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let c = config.as_ref();
        let cert_dir = self::cert_dir(c, cert_dir)?;
        let key_algorithm = pick(
            key_algorithm,
            "--key-algorithm",
            c.and_then(|c| c.key_algorithm),
            "encryptionAlgorithm",
            c,
        )?;
        let validity = pick(
            validity,
            "--validity",
            c.and_then(|c| c.validity),
            "certificateValidityPeriod",
            c,
        )?
        .unwrap_or(DEFAULT_VALIDITY);
        let ca_validity = pick(
            ca_validity,
            "--ca-validity",
            c.and_then(|c| c.ca_validity),
            "caCertificateValidityPeriod",
            c,
        )?
        .unwrap_or(DEFAULT_CA_VALIDITY);
        Ok(Resolved {
            config,
            cert_dir,
            key_algorithm,
            validity,
            ca_validity,
        })
    }

    pub(super) fn config(&self) -> Option<&KubeadmConfig> {
        self.config.as_ref()
    }

    pub(super) fn external_etcd(&self) -> bool {
        self.config().is_some_and(|c| c.external_etcd.is_some())
    }

    /// The catalog for this run: without etcd's certificates when etcd is external.
    pub(super) fn selection(&self) -> Selection {
        Selection::new(self.external_etcd())
    }

    pub(super) fn layout(&self, kubeconfig_dir: Option<&PathBuf>) -> Layout {
        let kubeconfig_dir = kubeconfig_dir
            .cloned()
            .unwrap_or_else(|| Layout::default_kubeconfig_dir(&self.cert_dir));
        Layout::new(&self.cert_dir, kubeconfig_dir)
    }

    /// The run's options; the validity periods are checked against the clock here (a period
    /// that would end after year 9999, or one under 10 minutes, is a usage error naming where it
    /// came from).
    pub(super) fn options(&self, force: bool, now: OffsetDateTime) -> anyhow::Result<Options> {
        let from = |flag: &'static str, field: &'static str, in_config: bool| {
            if in_config { field } else { flag }
        };
        let c = self.config();
        let validity_from = from(
            "--validity",
            "certificateValidityPeriod",
            c.is_some_and(|c| c.validity.is_some()),
        );
        let ca_validity_from = from(
            "--ca-validity",
            "caCertificateValidityPeriod",
            c.is_some_and(|c| c.ca_validity.is_some()),
        );
        duration::check_validity(now, self.validity, validity_from)
            .map_err(|e| Error::usage(validity_from, strip_prefix(&e, validity_from)))?;
        duration::check_validity(now, self.ca_validity, ca_validity_from)
            .map_err(|e| Error::usage(ca_validity_from, strip_prefix(&e, ca_validity_from)))?;
        Ok(Options {
            key_algorithm: self.key_algorithm.unwrap_or(KeyAlgorithm::DEFAULT),
            validity: self.validity,
            ca_validity: self.ca_validity,
            force,
            reuse_key: false,
            keep_key_algorithm: false,
            now,
        })
    }
}

/// With external etcd there are no etcd certificates for etcd SAN flags to shape: refuse them
/// rather than ignore them.
pub(super) fn refuse_etcd_flags_with_external_etcd(
    resolved: &Resolved,
    sans: &SanArgs,
) -> anyhow::Result<()> {
    let Some(c) = resolved.config().filter(|c| c.external_etcd.is_some()) else {
        return Ok(());
    };
    for (flag, given) in [
        (
            "--etcd-server-extra-sans",
            !sans.etcd_server_extra_sans.is_empty(),
        ),
        (
            "--etcd-peer-extra-sans",
            !sans.etcd_peer_extra_sans.is_empty(),
        ),
    ] {
        if given {
            return Err(Error::usage(
                flag,
                format!(
                    "etcd is external in {} (etcd.external): no etcd certificates are made",
                    c.path.display()
                ),
            )
            .into());
        }
    }
    Ok(())
}

pub(super) fn external_etcd_note(resolved: &Resolved) {
    if let Some(c) = resolved.config().filter(|c| c.external_etcd.is_some()) {
        eprintln!(
            "[config] {}: etcd is external: no etcd CA or etcd certificates are made, and \
             apiserver-etcd-client is not ours to make (the API server uses etcd.external.certFile {})",
            c.path.display(),
            c.external_etcd
                .as_deref()
                .unwrap_or(Path::new(""))
                .display()
        );
    }
}

/// The cluster settings: flags, else the kubeadm config, else kubeadm's defaults.
pub(super) fn cluster(
    a: &EndpointArgs,
    sans: Option<&SanArgs>,
    kubeconfig: Option<&KubeconfigArgs>,
    node: &NodeSpec,
    config: Option<&KubeadmConfig>,
) -> anyhow::Result<Cluster> {
    let c = config;
    let advertise_address = pick(
        a.apiserver_advertise_address,
        "--apiserver-advertise-address",
        c.and_then(|c| c.advertise_address),
        "localAPIEndpoint.advertiseAddress",
        c,
    )?;
    let advertise_address = match advertise_address {
        Some(ip) => ip,
        None => host::advertise_address().ok_or_else(|| {
            Error::usage(
                "--apiserver-advertise-address",
                "not given and this host has no default route to take it from",
            )
        })?,
    };
    if advertise_address.is_unspecified() || advertise_address.is_multicast() {
        return Err(Error::usage(
            "--apiserver-advertise-address",
            format!("{advertise_address} is not a unicast address"),
        )
        .into());
    }
    let control_plane_endpoint = pick(
        a.control_plane_endpoint.clone(),
        "--control-plane-endpoint",
        c.and_then(|c| c.control_plane_endpoint.clone()),
        "controlPlaneEndpoint",
        c,
    )?;
    let no_sans = SanArgs {
        apiserver_cert_extra_sans: vec![],
        service_cidr: None,
        service_dns_domain: None,
        etcd_server_extra_sans: vec![],
        etcd_peer_extra_sans: vec![],
    };
    let s = sans.unwrap_or(&no_sans);
    let empty = KubeadmConfig::default();
    let cfg = c.unwrap_or(&empty);
    let (service_cidrs, dns_domain) = service_network(
        s.service_cidr.clone().map(|c| c.0),
        s.service_dns_domain.clone(),
        c,
    )?;
    let no_kubeconfig = KubeconfigArgs {
        kubeconfig_dir: None,
        apiserver_bind_port: None,
        cluster_name: None,
    };
    let k = kubeconfig.unwrap_or(&no_kubeconfig);
    let bind_port = pick(
        k.apiserver_bind_port,
        "--apiserver-bind-port",
        cfg.bind_port,
        "localAPIEndpoint.bindPort",
        c,
    )?
    .unwrap_or(DEFAULT_BIND_PORT);
    let cluster_name = pick(
        k.cluster_name.clone(),
        "--cluster-name",
        cfg.cluster_name.clone(),
        "clusterName",
        c,
    )?
    .unwrap_or_else(|| DEFAULT_CLUSTER_NAME.to_string());
    names::validate_dns_name(&cluster_name, false)
        .map_err(|e| Error::usage("--cluster-name", e))?;
    Ok(Cluster {
        node_name: node.name.clone(),
        advertise_address,
        control_plane_endpoint,
        apiserver_extra_sans: pick_list(
            &s.apiserver_cert_extra_sans,
            "--apiserver-cert-extra-sans",
            &cfg.apiserver_cert_sans,
            "apiServer.certSANs",
            c,
        )?,
        service_cidrs,
        dns_domain,
        etcd_server_extra_sans: pick_list(
            &s.etcd_server_extra_sans,
            "--etcd-server-extra-sans",
            &cfg.etcd_server_cert_sans,
            "etcd.local.serverCertSANs",
            c,
        )?,
        etcd_peer_extra_sans: pick_list(
            &s.etcd_peer_extra_sans,
            "--etcd-peer-extra-sans",
            &cfg.etcd_peer_cert_sans,
            "etcd.local.peerCertSANs",
            c,
        )?,
        bind_port,
        cluster_name,
    })
}

/// `what: message` → `message` (the usage error names `what` itself).
fn strip_prefix<'a>(message: &'a str, what: &str) -> &'a str {
    message
        .strip_prefix(what)
        .and_then(|m| m.strip_prefix(": "))
        .unwrap_or(message)
}

/// The tree a reading command looks at: `--cert-dir`, else the config's certificatesDir, else
/// /etc/kubernetes/pki; `--kubeconfig-dir`, else the certificate directory's parent.
pub(super) fn read_layout(
    config: Option<&KubeadmConfig>,
    cert_dir: Option<PathBuf>,
    kubeconfig_dir: Option<PathBuf>,
) -> anyhow::Result<Layout> {
    let cert_dir = self::cert_dir(config, cert_dir)?;
    let kubeconfig_dir =
        kubeconfig_dir.unwrap_or_else(|| Layout::default_kubeconfig_dir(&cert_dir));
    Ok(Layout::new(cert_dir, kubeconfig_dir))
}

/// The certificate directory: `--cert-dir`, else the config's certificatesDir (a flag repeating
/// the config is refused), else /etc/kubernetes/pki.
pub(super) fn cert_dir(
    config: Option<&KubeadmConfig>,
    flag: Option<PathBuf>,
) -> anyhow::Result<PathBuf> {
    Ok(pick(
        flag,
        "--cert-dir",
        config.and_then(|c| c.cert_dir.clone()),
        "certificatesDir",
        config,
    )?
    .unwrap_or_else(|| PathBuf::from(DEFAULT_CERT_DIR)))
}

/// The service network: `--service-cidr` and `--service-dns-domain`, else the config's
/// networking.serviceSubnet and networking.dnsDomain (a flag repeating the config is refused),
/// else kubeadm's defaults. The DNS domain is checked to be a DNS name.
pub(super) fn service_network(
    service_cidrs: Option<Vec<IpNet>>,
    dns_domain: Option<String>,
    config: Option<&KubeadmConfig>,
) -> anyhow::Result<(Vec<IpNet>, String)> {
    let service_cidrs = pick(
        service_cidrs,
        "--service-cidr",
        config.and_then(|c| c.service_cidrs.clone()),
        "networking.serviceSubnet",
        config,
    )?
    .map_or_else(|| names::parse_service_cidrs(DEFAULT_SERVICE_CIDR), Ok)
    .map_err(anyhow::Error::msg)?;
    let dns_domain = pick(
        dns_domain,
        "--service-dns-domain",
        config.and_then(|c| c.dns_domain.clone()),
        "networking.dnsDomain",
        config,
    )?
    .unwrap_or_else(|| DEFAULT_DNS_DOMAIN.to_string());
    names::validate_dns_name(&dns_domain, false)
        .map_err(|e| Error::usage("--service-dns-domain", e))?;
    Ok((service_cidrs, dns_domain))
}
