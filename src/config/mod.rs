//! kubeadm configuration files as input (`--config`): the multi-document YAML an operator passes
//! to `kubeadm init --config`, `kubeadm.k8s.io/v1beta3` or `v1beta4` `InitConfiguration` and
//! `ClusterConfiguration`. Every field kubeadm knows is modelled, so a misspelt field is an error
//! naming the field, the document and the line; only the fields that shape the PKI are read.
//! Documents of other components (KubeletConfiguration, KubeProxyConfiguration) and kubeadm kinds
//! that do not concern the PKI (JoinConfiguration, ...) are ignored with a note.
//!
//! This file holds [`KubeadmConfig`] and the entry points ([`load`], [`parse_bytes`], [`parse`]),
//! which tell the documents of a file apart by apiVersion and kind. `schema` holds kubeadm's
//! types, `document` splits a file into documents and locates fields, `apply` turns the parsed
//! documents into a [`KubeadmConfig`].

mod apply;
mod document;
mod schema;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use time::Duration;

use crate::pki::keys::KeyAlgorithm;
use crate::pki::names::{Endpoint, San};
use crate::pki::untrusted::{is_showable, show_untrusted};
use crate::pki::yaml_error::describe_yaml_error;
use crate::pki::{Error, Result, store};
use apply::{ApplyError, apply_cluster, apply_init};
use document::{Document, documents, unquoted};
use schema::{ClusterConfiguration, InitConfiguration, V1BETA3, V1BETA4};

/// What a kubeadm configuration says about the PKI. `None` means the file leaves it to the
/// flags (or the defaults).
#[derive(Debug, Default, Clone)]
pub struct KubeadmConfig {
    /// The file read, as given; errors and notes name it.
    pub path: PathBuf,
    /// ClusterConfiguration.certificatesDir, an absolute path (a relative one is refused).
    pub cert_dir: Option<PathBuf>,
    /// ClusterConfiguration.clusterName: the cluster's name in the kubeconfigs.
    pub cluster_name: Option<String>,
    /// ClusterConfiguration.controlPlaneEndpoint: the address (and port) the kubeconfigs point
    /// at and the API server's certificate names.
    pub control_plane_endpoint: Option<Endpoint>,
    /// ClusterConfiguration.apiServer.certSANs: extra names of the API server's certificate.
    pub apiserver_cert_sans: Vec<San>,
    /// ClusterConfiguration.etcd.local.serverCertSANs: extra names of etcd's server certificate.
    pub etcd_server_cert_sans: Vec<San>,
    /// ClusterConfiguration.etcd.local.peerCertSANs: extra names of etcd's peer certificate.
    pub etcd_peer_cert_sans: Vec<San>,
    /// etcd.external is set: kubeadm makes no etcd certificates, and the API server's etcd
    /// client certificate is the one the external etcd's operator issued (the path is
    /// etcd.external.certFile).
    pub external_etcd: Option<PathBuf>,
    /// ClusterConfiguration.networking.serviceSubnet: one CIDR, or an IPv4 and an IPv6 one;
    /// the API server's service IP is the first host address of the first.
    pub service_cidrs: Option<Vec<IpNet>>,
    /// ClusterConfiguration.networking.dnsDomain (`cluster.local` when unset), for the API
    /// server's `kubernetes.default.svc.<domain>` name.
    pub dns_domain: Option<String>,
    /// InitConfiguration.nodeRegistration.name: the node the per-node certificates are for.
    pub node_name: Option<String>,
    /// InitConfiguration.localAPIEndpoint.advertiseAddress: the API server's address on this
    /// node.
    pub advertise_address: Option<IpAddr>,
    /// InitConfiguration.localAPIEndpoint.bindPort: the API server's port (0 reads as unset).
    pub bind_port: Option<u16>,
    /// ClusterConfiguration.encryptionAlgorithm (v1beta4), or ECDSA-P256 when v1beta3's
    /// `PublicKeysECDSA` feature gate is on.
    pub key_algorithm: Option<KeyAlgorithm>,
    /// ClusterConfiguration.certificateValidityPeriod (v1beta4): how long leaf certificates
    /// are valid.
    pub validity: Option<Duration>,
    /// ClusterConfiguration.caCertificateValidityPeriod (v1beta4): how long CA certificates are
    /// valid.
    pub ca_validity: Option<Duration>,
    /// Things worth telling the user (documents ignored, ...).
    pub notes: Vec<String>,
    /// InitConfiguration.bootstrapTokens is set. Not read: `bootstrap-token` takes its token
    /// from its flags and refuses a config that names tokens rather than ignore them.
    pub bootstrap_tokens: bool,
}

/// Reads a kubeadm configuration file as [`store::read_file`] does: a regular file of at most
/// [`store::MAX_FILE_SIZE`] (a FIFO or a device is refused without blocking).
pub fn load(path: &Path) -> Result<KubeadmConfig> {
    let file = store::read_file(path)?.ok_or_else(|| Error::bad_file(path, "does not exist"))?;
    parse_bytes(&file.bytes, path)
}

/// Parses a configuration file's bytes: UTF-8 text (else an error naming the line), then
/// [`parse`].
pub fn parse_bytes(data: &[u8], path: &Path) -> Result<KubeadmConfig> {
    match std::str::from_utf8(data) {
        Ok(text) => parse(text, path),
        Err(e) => {
            let before = &data[..e.valid_up_to()];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
            Err(Error::bad_file(
                path,
                format!("line {line} column {column}: is not UTF-8 text"),
            ))
        }
    }
}

/// Parses a configuration file's text, its documents told apart by apiVersion and kind;
/// `path` is only used to name the file in errors. Errs (naming the document, the field and
/// its line) on YAML that does not parse, an unknown kind or field, an unsupported apiVersion,
/// a second InitConfiguration or ClusterConfiguration, a file with neither, or a value kubeadm
/// would refuse.
pub fn parse(text: &str, path: &Path) -> Result<KubeadmConfig> {
    let bad = |msg: String| Error::bad_file(path, msg);
    let mut config = KubeadmConfig {
        path: path.to_path_buf(),
        ..Default::default()
    };
    let mut init: Option<(InitConfiguration, Document<'_>)> = None;
    let mut cluster: Option<(ClusterConfiguration, String, Document<'_>)> = None;
    for doc in documents(text) {
        // The kind is the file's: named only when it looks like one.
        let where_ = |what: &str| {
            if is_showable(what) {
                format!("document {} ({what})", doc.number)
            } else {
                format!("document {} (line {})", doc.number, doc.first_line)
            }
        };
        let located = |e: &yaml_serde::Error| describe_yaml_error(e, doc.first_line);
        let head: yaml_serde::Value = yaml_serde::from_str(doc.text)
            .map_err(|e| bad(format!("{}: {}", where_("YAML"), located(&e))))?;
        let field = |name: &str| {
            head.get(name)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let (api_version, kind) = (field("apiVersion"), field("kind"));
        if api_version.is_empty() || kind.is_empty() {
            return Err(bad(format!(
                "document {} (line {}) has no apiVersion or kind",
                doc.number, doc.first_line
            )));
        }
        let group = api_version.split('/').next().unwrap_or("");
        match (group, kind.as_str()) {
            ("kubeadm.k8s.io", _) if api_version != V1BETA3 && api_version != V1BETA4 => {
                return Err(bad(format!(
                    "{}: apiVersion {} is not supported; kubepki reads {V1BETA3} and \
                     {V1BETA4} (`kubeadm config migrate` converts older files)",
                    where_(&kind),
                    unquoted(&api_version)
                )));
            }
            ("kubeadm.k8s.io", "InitConfiguration") => {
                if init.is_some() {
                    return Err(bad(format!(
                        "{}: a second InitConfiguration",
                        where_(&kind)
                    )));
                }
                let parsed = yaml_serde::from_str(doc.text)
                    .map_err(|e| bad(format!("{}: {}", where_(&kind), located(&e))))?;
                init = Some((parsed, doc));
            }
            ("kubeadm.k8s.io", "ClusterConfiguration") => {
                if cluster.is_some() {
                    return Err(bad(format!(
                        "{}: a second ClusterConfiguration",
                        where_(&kind)
                    )));
                }
                let parsed = yaml_serde::from_str(doc.text)
                    .map_err(|e| bad(format!("{}: {}", where_(&kind), located(&e))))?;
                cluster = Some((parsed, api_version.clone(), doc));
            }
            (
                "kubeadm.k8s.io",
                "JoinConfiguration" | "ResetConfiguration" | "UpgradeConfiguration",
            ) => {
                config.notes.push(format!(
                    "{}: ignored (does not shape the PKI)",
                    where_(&kind)
                ));
            }
            ("kubeadm.k8s.io", _) => {
                return Err(bad(format!(
                    "{}: unknown kubeadm kind {} (expected InitConfiguration or \
                     ClusterConfiguration)",
                    where_(&kind),
                    show_untrusted(&kind)
                )));
            }
            ("kubelet.config.k8s.io", "KubeletConfiguration")
            | ("kubeproxy.config.k8s.io", "KubeProxyConfiguration") => {
                config
                    .notes
                    .push(format!("{}: ignored (not kubeadm's)", where_(&kind)));
            }
            _ => {
                return Err(bad(format!(
                    "{}: unknown kind {} with apiVersion {}",
                    where_(&kind),
                    show_untrusted(&kind),
                    unquoted(&api_version)
                )));
            }
        }
    }
    if init.is_none() && cluster.is_none() {
        return Err(bad(
            "holds neither an InitConfiguration nor a ClusterConfiguration".into(),
        ));
    }
    // A value kubepki refuses is a usage error, as the same value given as a flag is.
    let applied = |e: ApplyError| match e {
        ApplyError::Malformed(m) => bad(m),
        ApplyError::Refused(m) => Error::usage(path.display().to_string(), m),
    };
    if let Some((init, doc)) = init {
        apply_init(&mut config, init, &doc).map_err(applied)?;
    }
    if let Some((cluster, api_version, doc)) = cluster {
        apply_cluster(&mut config, cluster, &api_version, &doc).map_err(applied)?;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const V4: &str = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 192.168.1.10
  bindPort: 6443
nodeRegistration:
  name: cp-1
  criSocket: unix:///var/run/containerd/containerd.sock
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.31.0
clusterName: prod
controlPlaneEndpoint: lb.example.com:8443
certificatesDir: /srv/pki
encryptionAlgorithm: ECDSA-P384
certificateValidityPeriod: 2160h0m0s
caCertificateValidityPeriod: 43800h0m0s
networking:
  serviceSubnet: 10.100.0.0/16,fd00:100::/108
  dnsDomain: corp.local
apiServer:
  certSANs: [10.0.0.100, api.example.com]
etcd:
  local:
    serverCertSANs: [etcd.example.com]
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
";

    #[test]
    fn errors_name_field_document_and_line() {
        let text = V4.replace("  dnsDomain: corp.local", "  dnsDomian: corp.local");
        let err = parse(&text, Path::new("k.yaml")).unwrap_err().to_string();
        assert!(err.contains("document 2 (ClusterConfiguration)"), "{err}");
        assert!(err.contains("dnsDomian"), "{err}");
        assert!(err.contains("line 21"), "{err}");

        let err = parse(
            "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n",
            Path::new("k"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("v1beta2 is not supported"), "{err}");
        let err = parse("apiVersion: v1\nkind: Pod\n", Path::new("k"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown kind \"Pod\""), "{err}");
        let err = parse("kind: [\n", Path::new("k")).unwrap_err().to_string();
        assert!(err.contains("line"), "{err}");
        let v3 = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nencryptionAlgorithm: RSA-4096\n";
        let err = parse(v3, Path::new("k")).unwrap_err().to_string();
        assert!(err.contains("only in kubeadm.k8s.io/v1beta4"), "{err}");
    }

    #[test]
    fn load_reads_only_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is not a regular file"), "{err}");
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; store::MAX_FILE_SIZE as usize + 1]).unwrap();
        let err = load(&big).unwrap_err().to_string();
        assert!(err.contains("is larger than"), "{err}");
        let ok = dir.path().join("k.yaml");
        std::fs::write(&ok, V4).unwrap();
        assert_eq!(load(&ok).unwrap().node_name.as_deref(), Some("cp-1"));
    }
}
