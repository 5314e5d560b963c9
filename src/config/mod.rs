//! kubeadm configuration files as input (`--config`): the multi-document YAML an operator passes
//! to `kubeadm init --config`, `kubeadm.k8s.io/v1beta3` or `v1beta4` `InitConfiguration` and
//! `ClusterConfiguration`. Every field kubeadm knows is modelled, so a misspelt field is an error
//! naming the field, the document and the line; only the fields that shape the PKI are read.
//! Documents of other components (KubeletConfiguration, KubeProxyConfiguration) and kubeadm kinds
//! that do not concern the PKI (JoinConfiguration, ...) are ignored with a note.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;
use time::Duration;

use crate::pki::duration::{check_period, parse_duration};
use crate::pki::error::{describe_yaml_error, is_showable, show_untrusted};
use crate::pki::keys::KeyAlgorithm;
use crate::pki::names::{self, Endpoint, San};
use crate::pki::{Error, Result};

/// The largest configuration file read: far above any real kubeadm configuration.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

type Ignored = yaml_serde::Value;

const V1BETA3: &str = "kubeadm.k8s.io/v1beta3";
const V1BETA4: &str = "kubeadm.k8s.io/v1beta4";

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InitConfiguration {
    api_version: String,
    kind: String,
    bootstrap_tokens: Option<Ignored>,
    node_registration: Option<NodeRegistration>,
    #[serde(rename = "localAPIEndpoint")]
    local_api_endpoint: Option<ApiEndpoint>,
    certificate_key: Option<Ignored>,
    skip_phases: Option<Ignored>,
    patches: Option<Ignored>,
    // v1beta4
    timeouts: Option<Ignored>,
    dry_run: Option<Ignored>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NodeRegistration {
    name: Option<String>,
    cri_socket: Option<Ignored>,
    taints: Option<Ignored>,
    kubelet_extra_args: Option<Ignored>,
    ignore_preflight_errors: Option<Ignored>,
    image_pull_policy: Option<Ignored>,
    image_pull_serial: Option<Ignored>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ApiEndpoint {
    advertise_address: Option<String>,
    bind_port: Option<u16>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClusterConfiguration {
    api_version: String,
    kind: String,
    etcd: Option<Etcd>,
    networking: Option<Networking>,
    kubernetes_version: Option<Ignored>,
    control_plane_endpoint: Option<String>,
    api_server: Option<ApiServer>,
    controller_manager: Option<Ignored>,
    scheduler: Option<Ignored>,
    dns: Option<Ignored>,
    certificates_dir: Option<String>,
    image_repository: Option<Ignored>,
    feature_gates: Option<BTreeMap<String, bool>>,
    cluster_name: Option<String>,
    // v1beta4
    proxy: Option<Ignored>,
    upgrade: Option<Ignored>,
    encryption_algorithm: Option<String>,
    certificate_validity_period: Option<String>,
    ca_certificate_validity_period: Option<String>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Etcd {
    local: Option<LocalEtcd>,
    external: Option<ExternalEtcd>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LocalEtcd {
    image_repository: Option<Ignored>,
    image_tag: Option<Ignored>,
    data_dir: Option<Ignored>,
    extra_args: Option<Ignored>,
    extra_envs: Option<Ignored>,
    #[serde(rename = "serverCertSANs")]
    server_cert_sans: Option<Vec<String>>,
    #[serde(rename = "peerCertSANs")]
    peer_cert_sans: Option<Vec<String>>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExternalEtcd {
    endpoints: Option<Vec<String>>,
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Networking {
    service_subnet: Option<String>,
    pod_subnet: Option<Ignored>,
    dns_domain: Option<String>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ApiServer {
    #[serde(rename = "certSANs")]
    cert_sans: Option<Vec<String>>,
    extra_args: Option<Ignored>,
    extra_volumes: Option<Ignored>,
    extra_envs: Option<Ignored>,
    timeout_for_control_plane: Option<Ignored>,
}

/// What a kubeadm configuration says about the PKI. `None` means the file leaves it to the
/// flags (or the defaults).
#[derive(Debug, Default, Clone)]
pub struct KubeadmConfig {
    pub path: PathBuf,
    pub cert_dir: Option<PathBuf>,
    pub cluster_name: Option<String>,
    pub control_plane_endpoint: Option<Endpoint>,
    pub apiserver_cert_sans: Vec<San>,
    pub etcd_server_cert_sans: Vec<San>,
    pub etcd_peer_cert_sans: Vec<San>,
    /// etcd.external is set: kubeadm makes no etcd certificates, and the API server's etcd
    /// client certificate is the one the external etcd's operator issued.
    pub external_etcd: Option<PathBuf>,
    pub service_cidrs: Option<Vec<IpNet>>,
    pub dns_domain: Option<String>,
    pub node_name: Option<String>,
    pub advertise_address: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub key_algorithm: Option<KeyAlgorithm>,
    pub validity: Option<Duration>,
    pub ca_validity: Option<Duration>,
    /// Things worth telling the user (documents ignored, ...).
    pub notes: Vec<String>,
}

/// One YAML document of the file, with the line it starts on.
struct Document<'a> {
    number: usize,
    first_line: usize,
    text: &'a str,
}

fn documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") {
            docs.push((start, offset, first_line));
            start = offset + line.len();
            first_line = i + 2;
        }
        offset += line.len();
    }
    docs.push((start, text.len(), first_line));
    docs.into_iter()
        .map(|(s, e, l)| (&text[s..e], l))
        .filter(|(t, _)| {
            t.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .enumerate()
        .map(|(i, (text, first_line))| Document {
            number: i + 1,
            first_line,
            text,
        })
        .collect()
}

impl Document<'_> {
    /// The line of the file that holds the field at `path` (`["networking", "serviceSubnet"]`),
    /// found by indentation: each key is looked for below the previous one, more indented. Good
    /// enough to point at a line; `None` when the key is not written as a plain block key.
    fn line_of(&self, path: &[&str]) -> Option<usize> {
        let mut lines = self.text.lines().enumerate();
        let mut indent: Option<usize> = None;
        let mut found = None;
        for key in path {
            let quoted = [format!("\"{key}\""), format!("'{key}'")];
            let (i, this_indent) = lines.by_ref().find_map(|(i, line)| {
                let body = line.trim_start();
                let this_indent = line.len() - body.len();
                if indent.is_some_and(|outer| this_indent <= outer) {
                    return None;
                }
                let body = body.strip_prefix("- ").unwrap_or(body);
                let is_key = [*key, quoted[0].as_str(), quoted[1].as_str()]
                    .iter()
                    .any(|k| {
                        body.strip_prefix(k)
                            .is_some_and(|rest| rest.trim_start().starts_with(':'))
                    });
                is_key.then_some((i, this_indent))
            })?;
            indent = Some(this_indent);
            found = Some(self.first_line + i);
        }
        found
    }

    /// `FIELD: line N` (or just `FIELD` when the line is not found).
    fn field(&self, path: &[&str]) -> String {
        let name = path.join(".");
        match self.line_of(path) {
            Some(line) => format!("{name}: line {line}"),
            None => name,
        }
    }
}

/// An error about a field's value. The parsers of names and durations quote the value they
/// refuse; a value that does not look like one (a pasted key, a token) is not quoted, only
/// described, since the file is untrusted and may hold secrets.
fn value_error(field: &str, value: &str, what: &str, error: String) -> String {
    if is_showable(value) {
        format!("{field}: {error}")
    } else {
        format!("{field}: {} is not {what}", show_untrusted(value))
    }
}

/// A short value from the file as is (an apiVersion), or its description when it may not be
/// shown (see [`show_untrusted`]).
fn unquoted(value: &str) -> String {
    if is_showable(value) {
        value.to_string()
    } else {
        show_untrusted(value)
    }
}

/// Reads a kubeadm configuration file: a regular file of at most [`MAX_CONFIG_BYTES`] (a FIFO
/// or a device would block or never end).
pub fn load(path: &Path) -> Result<KubeadmConfig> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "read", e))?;
    if !meta.is_file() {
        return Err(Error::bad_file(path, "is not a regular file"));
    }
    let mut data = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut data))
        .map_err(|e| Error::io(path, "read", e))?;
    if data.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::bad_file(
            path,
            format!("is larger than {MAX_CONFIG_BYTES} bytes; not a kubeadm configuration"),
        ));
    }
    parse_bytes(&data, path)
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
    if let Some((init, doc)) = init {
        apply_init(&mut config, init, &doc).map_err(bad)?;
    }
    if let Some((cluster, api_version, doc)) = cluster {
        apply_cluster(&mut config, cluster, &api_version, &doc).map_err(bad)?;
    }
    Ok(config)
}

/// A list of SANs; an entry's error names its index (`apiServer.certSANs[1]`) and the line of
/// the list.
fn sans(
    list: Option<Vec<String>>,
    path: &[&str],
    doc_name: &str,
    doc: &Document<'_>,
) -> std::result::Result<Vec<San>, String> {
    list.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.parse::<San>().map_err(|e| {
                let field = match doc.line_of(path) {
                    Some(line) => format!("{}[{i}]: line {line}", path.join(".")),
                    None => format!("{}[{i}]", path.join(".")),
                };
                let e = value_error(&field, s, "an IP address or DNS name", e);
                format!("{doc_name}: {e}")
            })
        })
        .collect()
}

fn apply_init(
    c: &mut KubeadmConfig,
    init: InitConfiguration,
    doc: &Document<'_>,
) -> std::result::Result<(), String> {
    let doc_name = format!("document {} (InitConfiguration)", doc.number);
    let fail = |path: &[&str], value: &str, what: &str, e: String| {
        format!(
            "{doc_name}: {}",
            value_error(&doc.field(path), value, what, e)
        )
    };
    if let Some(name) = init.node_registration.and_then(|n| n.name) {
        names::validate_dns_name(&name, false)
            .map_err(|e| fail(&["nodeRegistration", "name"], &name, "a node name", e))?;
        c.node_name = Some(name);
    }
    if let Some(endpoint) = init.local_api_endpoint {
        if let Some(address) = endpoint.advertise_address.filter(|a| !a.is_empty()) {
            c.advertise_address = Some(names::parse_ip(&address).map_err(|e| {
                fail(
                    &["localAPIEndpoint", "advertiseAddress"],
                    &address,
                    "an IP address",
                    e,
                )
            })?);
        }
        if let Some(port) = endpoint.bind_port.filter(|p| *p != 0) {
            c.bind_port = Some(port);
        }
    }
    Ok(())
}

fn apply_cluster(
    c: &mut KubeadmConfig,
    cluster: ClusterConfiguration,
    api_version: &str,
    doc: &Document<'_>,
) -> std::result::Result<(), String> {
    let doc_name = format!(
        "document {} (ClusterConfiguration {api_version})",
        doc.number
    );
    let fail = |path: &[&str], value: &str, what: &str, e: String| {
        format!(
            "{doc_name}: {}",
            value_error(&doc.field(path), value, what, e)
        )
    };
    if api_version == V1BETA3 {
        for (field, set) in [
            (
                "encryptionAlgorithm",
                cluster.encryption_algorithm.is_some(),
            ),
            (
                "certificateValidityPeriod",
                cluster.certificate_validity_period.is_some(),
            ),
            (
                "caCertificateValidityPeriod",
                cluster.ca_certificate_validity_period.is_some(),
            ),
            ("proxy", cluster.proxy.is_some()),
            ("upgrade", cluster.upgrade.is_some()),
        ] {
            if set {
                return Err(format!(
                    "{doc_name}: {}: exists only in {V1BETA4}",
                    doc.field(&[field])
                ));
            }
        }
        // v1beta3 had one switch for key types: the PublicKeysECDSA feature gate.
        if cluster
            .feature_gates
            .as_ref()
            .and_then(|g| g.get("PublicKeysECDSA"))
            .copied()
            .unwrap_or(false)
        {
            c.key_algorithm = Some(KeyAlgorithm::EcdsaP256);
        }
    }
    if let Some(dir) = cluster.certificates_dir.filter(|d| !d.is_empty()) {
        // kubeadm's ValidateAbsolutePath: a relative directory would depend on where the
        // command happens to run.
        if !Path::new(&dir).is_absolute() {
            return Err(format!(
                "{doc_name}: {}: {} is not an absolute path (kubeadm requires one)",
                doc.field(&["certificatesDir"]),
                show_untrusted(&dir)
            ));
        }
        c.cert_dir = Some(PathBuf::from(dir));
    }
    if let Some(name) = cluster.cluster_name.filter(|n| !n.is_empty()) {
        c.cluster_name = Some(name);
    }
    if let Some(endpoint) = cluster.control_plane_endpoint.filter(|e| !e.is_empty()) {
        c.control_plane_endpoint = Some(
            endpoint
                .parse()
                .map_err(|e| fail(&["controlPlaneEndpoint"], &endpoint, "HOST or HOST:PORT", e))?,
        );
    }
    if let Some(api_server) = cluster.api_server {
        c.apiserver_cert_sans = sans(
            api_server.cert_sans,
            &["apiServer", "certSANs"],
            &doc_name,
            doc,
        )?;
    }
    if let Some(etcd) = cluster.etcd {
        match (etcd.local, etcd.external) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{doc_name}: {}: etcd.local and etcd.external are mutually exclusive",
                    doc.field(&["etcd"])
                ));
            }
            (Some(local), None) => {
                c.etcd_server_cert_sans = sans(
                    local.server_cert_sans,
                    &["etcd", "local", "serverCertSANs"],
                    &doc_name,
                    doc,
                )?;
                c.etcd_peer_cert_sans = sans(
                    local.peer_cert_sans,
                    &["etcd", "local", "peerCertSANs"],
                    &doc_name,
                    doc,
                )?;
            }
            (None, Some(external)) => {
                if external.endpoints.unwrap_or_default().is_empty() {
                    return Err(format!(
                        "{doc_name}: {}: is empty",
                        doc.field(&["etcd", "external", "endpoints"])
                    ));
                }
                let _ = (external.ca_file, external.key_file);
                c.external_etcd = Some(PathBuf::from(external.cert_file.unwrap_or_default()));
            }
            (None, None) => {}
        }
    }
    if let Some(networking) = cluster.networking {
        if let Some(subnet) = networking.service_subnet.filter(|s| !s.is_empty()) {
            c.service_cidrs = Some(names::parse_service_cidrs(&subnet).map_err(|e| {
                fail(
                    &["networking", "serviceSubnet"],
                    &subnet,
                    "a CIDR (or an IPv4,IPv6 pair)",
                    e,
                )
            })?);
        }
        if let Some(domain) = networking.dns_domain.filter(|d| !d.is_empty()) {
            names::validate_dns_name(&domain, false)
                .map_err(|e| fail(&["networking", "dnsDomain"], &domain, "a DNS domain", e))?;
            c.dns_domain = Some(domain);
        }
    }
    if let Some(alg) = cluster.encryption_algorithm {
        c.key_algorithm = Some(
            alg.parse()
                .map_err(|e| fail(&["encryptionAlgorithm"], &alg, "a key algorithm", e))?,
        );
    }
    let period =
        |v: Option<String>, field: &str| -> std::result::Result<Option<Duration>, String> {
            v.map(|p| {
                let d = parse_duration(&p).map_err(|e| fail(&[field], &p, "a duration", e))?;
                check_period(d, &doc.field(&[field])).map_err(|e| format!("{doc_name}: {e}"))?;
                Ok(d)
            })
            .transpose()
        };
    c.validity = period(
        cluster.certificate_validity_period,
        "certificateValidityPeriod",
    )?;
    c.ca_validity = period(
        cluster.ca_certificate_validity_period,
        "caCertificateValidityPeriod",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = "\
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
    fn reads_every_pki_field_of_v1beta4() {
        let c = parse(V4, Path::new("kubeadm.yaml")).unwrap();
        assert_eq!(c.node_name.as_deref(), Some("cp-1"));
        assert_eq!(c.advertise_address.unwrap().to_string(), "192.168.1.10");
        assert_eq!(c.cluster_name.as_deref(), Some("prod"));
        assert_eq!(
            c.control_plane_endpoint.unwrap().to_string(),
            "lb.example.com:8443"
        );
        assert_eq!(c.cert_dir.unwrap(), PathBuf::from("/srv/pki"));
        assert_eq!(c.key_algorithm, Some(KeyAlgorithm::EcdsaP384));
        assert_eq!(c.validity, Some(Duration::hours(2160)));
        assert_eq!(c.ca_validity, Some(Duration::hours(43800)));
        assert_eq!(c.service_cidrs.unwrap().len(), 2);
        assert_eq!(c.dns_domain.as_deref(), Some("corp.local"));
        assert_eq!(c.apiserver_cert_sans.len(), 2);
        assert_eq!(
            c.etcd_server_cert_sans,
            vec![San::Dns("etcd.example.com".into())]
        );
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
    }

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
    fn v1beta3_ecdsa_gate_and_external_etcd() {
        let v3 = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nfeatureGates:\n  PublicKeysECDSA: true\netcd:\n  external:\n    endpoints: [https://10.0.0.5:2379]\n    caFile: /etc/etcd/ca.crt\n    certFile: /etc/etcd/client.crt\n    keyFile: /etc/etcd/client.key\n";
        let c = parse(v3, Path::new("k")).unwrap();
        assert_eq!(c.key_algorithm, Some(KeyAlgorithm::EcdsaP256));
        assert_eq!(c.external_etcd, Some(PathBuf::from("/etc/etcd/client.crt")));
    }

    const MARKER: &str = "SECRETxMARKERxSECRET";

    fn pasted_key() -> String {
        format!(
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI{MARKER}+/0123456789abcdefABCDEF==\n-----END EC PRIVATE KEY-----"
        )
    }

    fn assert_no_secret(err: &Error, secrets: &[&str]) {
        let chained = anyhow::Error::from(Error::bad_file("x", err.to_string())).context("init");
        for text in [
            err.to_string(),
            format!("{err:?}"),
            format!("{chained:#}"),
            format!("{chained:?}"),
        ] {
            for secret in secrets {
                assert!(!text.contains(secret), "{secret:?} leaked in: {text}");
            }
        }
    }

    #[test]
    fn errors_never_quote_secrets_from_the_file() {
        let key = pasted_key();
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &key);
        let one_line = format!("{key:?}");
        let cluster = |body: &str| {
            format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n{body}")
        };
        let init = |body: &str| {
            format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n{body}")
        };
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "broken YAML around a key",
                cluster(&format!("networking:\n{key}\n")),
                "line 5 column 1",
            ),
            (
                "a key as a field name",
                cluster(&format!("{one_line}: 1\n")),
                "an unknown field",
            ),
            (
                "a base64 key as a field name",
                cluster(&format!("networking:\n  {b64}: 1\n")),
                "networking: line 4 column 3: an unknown field",
            ),
            (
                "a key where a mapping belongs",
                cluster(&format!("networking: {b64}\n")),
                "networking: line 3 column 13: expected a mapping, found a string",
            ),
            (
                "a key where a port belongs",
                init(&format!("localAPIEndpoint:\n  bindPort: {b64}\n")),
                "localAPIEndpoint.bindPort: line 4 column 13: expected an integer from 0 to 65535",
            ),
            (
                "a key as the kind",
                format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: {b64}\n"),
                "unknown kubeadm kind a value of",
            ),
            (
                "a key as the apiVersion",
                format!("apiVersion: {b64}\nkind: X\n"),
                "with apiVersion a value of",
            ),
            (
                "a key as the serviceSubnet",
                cluster(&format!("networking:\n  serviceSubnet: {b64}\n")),
                "networking.serviceSubnet: line 4: a value of",
            ),
            (
                "a key among the certSANs",
                cluster(&format!(
                    "apiServer:\n  certSANs:\n  - a.example\n  - {b64}\n"
                )),
                "apiServer.certSANs[1]: line 4: a value of",
            ),
            (
                "a key as the endpoint",
                cluster(&format!("controlPlaneEndpoint: {one_line}\n")),
                "controlPlaneEndpoint: line 3: a value of",
            ),
            (
                "a key as certificatesDir",
                cluster(&format!("certificatesDir: {b64}\n")),
                "certificatesDir: line 3: a value of",
            ),
            (
                "a key as the validity",
                cluster(&format!("certificateValidityPeriod: {b64}\n")),
                "certificateValidityPeriod: line 3: a value of",
            ),
            (
                "a key as the node name",
                init(&format!("nodeRegistration:\n  name: {b64}\n")),
                "nodeRegistration.name: line 4: a value of",
            ),
            (
                "a key as a feature gate",
                cluster(&format!("featureGates:\n  PublicKeysECDSA: {b64}\n")),
                "featureGates.PublicKeysECDSA: line 4 column 20: expected a boolean, found a string",
            ),
        ];
        for (what, text, want) in cases {
            let err = parse(&text, Path::new("kubeadm.yaml")).expect_err(what);
            let shown = err.to_string();
            assert!(shown.contains(want), "{what}: {want:?} in {shown}");
            assert!(shown.starts_with("kubeadm.yaml: "), "{what}: {shown}");
            assert_no_secret(&err, &[MARKER, &b64[..24]]);
        }

        // Bytes that are not UTF-8: the line, not the bytes.
        let mut data = cluster(&format!("clusterName: {MARKER}\n")).into_bytes();
        data.extend_from_slice(b"networking: \xff\xfe\n");
        let err = parse_bytes(&data, Path::new("k.yaml")).unwrap_err();
        assert!(
            err.to_string()
                .contains("line 4 column 13: is not UTF-8 text"),
            "{err}"
        );
        assert_no_secret(&err, &[MARKER]);
    }

    #[test]
    fn a_relative_certificates_dir_is_refused() {
        let text = V4.replace("certificatesDir: /srv/pki", "certificatesDir: srv/pki");
        let err = parse(&text, Path::new("k.yaml")).unwrap_err().to_string();
        assert!(
            err.contains("document 2 (ClusterConfiguration")
                && err.contains("certificatesDir: line 15")
                && err.contains("\"srv/pki\" is not an absolute path"),
            "{err}"
        );
        let text = V4.replace("certificatesDir: /srv/pki", "certificatesDir: ./pki");
        assert!(parse(&text, Path::new("k.yaml")).is_err());
    }

    #[test]
    fn kubeadm_refusals_carry_field_and_line() {
        let text = V4.replace(
            "serviceSubnet: 10.100.0.0/16,fd00:100::/108",
            "serviceSubnet: 10.96.0.5/32",
        );
        let err = parse(&text, Path::new("k.yaml")).unwrap_err().to_string();
        assert!(
            err.contains("networking.serviceSubnet: line 20")
                && err.contains("\"10.96.0.5/32\" is too small"),
            "{err}"
        );
        for (period, want) in [
            ("0s", "shorter than 10 minutes"),
            ("99999999h", "9999-12-31T23:59:59Z"),
            ("999999999y", "9999-12-31T23:59:59Z"),
        ] {
            let text = V4.replace(
                "certificateValidityPeriod: 2160h0m0s",
                &format!("certificateValidityPeriod: {period}"),
            );
            let err = parse(&text, Path::new("k.yaml")).unwrap_err().to_string();
            assert!(
                err.contains("certificateValidityPeriod: line 17") && err.contains(want),
                "{period}: {err}"
            );
        }
    }

    #[test]
    fn load_reads_only_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is not a regular file"), "{err}");
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; MAX_CONFIG_BYTES as usize + 1]).unwrap();
        let err = load(&big).unwrap_err().to_string();
        assert!(err.contains("is larger than"), "{err}");
        let ok = dir.path().join("k.yaml");
        std::fs::write(&ok, V4).unwrap();
        assert_eq!(load(&ok).unwrap().node_name.as_deref(), Some("cp-1"));
    }
}
