//! Turning the parsed documents into a [`KubeadmConfig`]: each PKI field validated as kubeadm
//! validates it, an error naming the document, the field and its line.

use std::path::{Path, PathBuf};

use time::Duration;

use super::KubeadmConfig;
use super::document::{Document, value_error};
use super::schema::{ClusterConfiguration, InitConfiguration, V1BETA3, V1BETA4};
use crate::pki::duration::{check_period, parse_duration};
use crate::pki::keys::KeyAlgorithm;
use crate::pki::names::{self, San};
use crate::pki::untrusted::show_untrusted;

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

/// Why a document cannot be applied: it does not say something kubepki can read (a file error),
/// or it says something kubepki refuses to do (a usage error, as the same value in a flag is).
#[derive(Debug)]
pub(super) enum ApplyError {
    Malformed(String),
    Refused(String),
}

impl From<String> for ApplyError {
    fn from(message: String) -> Self {
        ApplyError::Malformed(message)
    }
}

pub(super) fn apply_init(
    c: &mut KubeadmConfig,
    init: InitConfiguration,
    doc: &Document<'_>,
) -> std::result::Result<(), ApplyError> {
    let doc_name = format!("document {} (InitConfiguration)", doc.number);
    let fail = |path: &[&str], value: &str, what: &str, e: String| {
        format!(
            "{doc_name}: {}",
            value_error(&doc.field(path), value, what, e)
        )
    };
    c.bootstrap_tokens = init
        .bootstrap_tokens
        .as_ref()
        .is_some_and(|t| t.as_sequence().is_none_or(|s| !s.is_empty()) && !t.is_null());
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

pub(super) fn apply_cluster(
    c: &mut KubeadmConfig,
    cluster: ClusterConfiguration,
    api_version: &str,
    doc: &Document<'_>,
) -> std::result::Result<(), ApplyError> {
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
                )
                .into());
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
            return Err(ApplyError::Refused(format!(
                "{doc_name}: {}: {} is not an absolute path (kubeadm requires one)",
                doc.field(&["certificatesDir"]),
                show_untrusted(&dir)
            )));
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
                )
                .into());
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
                    )
                    .into());
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
        |v: Option<String>, field: &str| -> std::result::Result<Option<Duration>, ApplyError> {
            v.map(|p| {
                let d = parse_duration(&p).map_err(|e| fail(&[field], &p, "a duration", e))?;
                check_period(d, &doc.field(&[field]))
                    .map_err(|e| ApplyError::Refused(format!("{doc_name}: {e}")))?;
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
    use crate::config::parse;
    use crate::config::tests::V4;

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
    fn v1beta3_ecdsa_gate_and_external_etcd() {
        let v3 = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nfeatureGates:\n  PublicKeysECDSA: true\netcd:\n  external:\n    endpoints: [https://10.0.0.5:2379]\n    caFile: /etc/etcd/ca.crt\n    certFile: /etc/etcd/client.crt\n    keyFile: /etc/etcd/client.key\n";
        let c = parse(v3, Path::new("k")).unwrap();
        assert_eq!(c.key_algorithm, Some(KeyAlgorithm::EcdsaP256));
        assert_eq!(c.external_etcd, Some(PathBuf::from("/etc/etcd/client.crt")));
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
}
