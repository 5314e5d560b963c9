//! One certificate in the terms `openssl x509 -text` uses, plus what Kubernetes makes of it.

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use crate::pki::catalog::ExtUsage;
use crate::pki::cert::{push_cert_alt_names, subject_cn_o};
use crate::pki::keys::KeyAlgorithm;
use crate::pki::names::AltNames;

/// What a certificate holds.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertView {
    pub subject: String,
    pub issuer: String,
    /// Uppercase hex, as `openssl x509 -serial` prints it.
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// NotAfter − now (negative once expired).
    pub seconds_left: i64,
    #[serde(flatten)]
    pub alt_names: AltNames,
    /// openssl's names (`Digital Signature`, `Certificate Sign`, ...).
    pub key_usage: Vec<String>,
    /// openssl's names (`TLS Web Server Authentication`, ...).
    pub extended_key_usage: Vec<String>,
    pub is_ca: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_len: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority_key_id: Option<String>,
    /// `RSA-2048`, `ECDSA-P256`, ... (kubeadm's names), or what the key is.
    pub public_key: String,
    /// openssl's name (`sha256WithRSAEncryption`, `ecdsa-with-SHA256`, `ED25519`).
    pub signature_algorithm: String,
    /// Uppercase hex with colons, as `openssl x509 -fingerprint -sha256` prints it.
    pub sha256_fingerprint: String,
    /// `sha256:<hex>` of the SubjectPublicKeyInfo, as `kubeadm join --discovery-token-ca-cert-hash`.
    pub public_key_pin: String,
    pub self_signed: bool,
    /// Which certificate of the kubeadm tree this is, and who uses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// For client certificates: the Kubernetes user and groups it authenticates as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_identity: Option<Identity>,
    /// The raw public key bits, to match keys given alongside.
    #[serde(skip)]
    pub public_key_raw: Vec<u8>,
    /// The subject's CN and O values, as read (for the role and the identity).
    #[serde(skip)]
    pub common_name: String,
    #[serde(skip)]
    pub organizations: Vec<String>,
}

/// Describes a DER certificate as openssl would; `inspect::describe` adds what it is for.
pub fn describe(der: &[u8], now: OffsetDateTime) -> Result<CertView, String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|_| "is not an X.509 certificate (it does not parse)".to_string())?;
    let mut alt_names = AltNames::default();
    let mut key_usage = Vec::new();
    let mut extended_key_usage = Vec::new();
    let (mut is_ca, mut path_len) = (false, None);
    let (mut ski, mut aki) = (None, None);
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                push_cert_alt_names(&mut alt_names, &san.general_names);
            }
            ParsedExtension::KeyUsage(ku) => key_usage = key_usage_names(ku),
            ParsedExtension::ExtendedKeyUsage(eku) => {
                let names = [
                    (eku.any, "Any Extended Key Usage"),
                    (eku.server_auth, ExtUsage::ServerAuth.openssl_name()),
                    (eku.client_auth, ExtUsage::ClientAuth.openssl_name()),
                    (eku.code_signing, "Code Signing"),
                    (eku.email_protection, "E-mail Protection"),
                    (eku.time_stamping, "Time Stamping"),
                    (eku.ocsp_signing, "OCSP Signing"),
                ];
                extended_key_usage = names
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, n)| n.to_string())
                    .collect();
                extended_key_usage.extend(eku.other.iter().map(|o| o.to_id_string()));
            }
            ParsedExtension::BasicConstraints(bc) => {
                is_ca = bc.ca;
                path_len = bc.path_len_constraint;
            }
            ParsedExtension::SubjectKeyIdentifier(id) => ski = Some(colon_hex(id.0)),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| colon_hex(k.0));
            }
            _ => {}
        }
    }
    let spki = cert.public_key();
    let public_key = match KeyAlgorithm::of_spki(spki) {
        Some(a) => a.to_string(),
        None => spki.algorithm.algorithm.to_id_string(),
    };
    let sha256 = |data: &[u8]| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let not_after = cert.validity().not_after.to_datetime();
    let (common_name, organizations) = subject_cn_o(cert.subject());
    Ok(CertView {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string().replace(':', "").to_uppercase(),
        not_before: cert.validity().not_before.to_datetime(),
        not_after,
        seconds_left: (not_after - now).whole_seconds(),
        alt_names,
        key_usage,
        extended_key_usage,
        is_ca,
        path_len,
        subject_key_id: ski,
        authority_key_id: aki,
        public_key,
        signature_algorithm: signature_name(&cert.signature_algorithm.algorithm.to_id_string()),
        sha256_fingerprint: colon_hex(sha256(der).as_ref()),
        public_key_pin: crate::pki::bootstrap::spki_pin(spki.raw),
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        role: None,
        kubernetes_identity: None,
        public_key_raw: spki.subject_public_key.data.to_vec(),
        common_name,
        organizations,
    })
}

fn key_usage_names(ku: &x509_parser::extensions::KeyUsage) -> Vec<String> {
    [
        (ku.digital_signature(), "Digital Signature"),
        (ku.non_repudiation(), "Non Repudiation"),
        (ku.key_encipherment(), "Key Encipherment"),
        (ku.data_encipherment(), "Data Encipherment"),
        (ku.key_agreement(), "Key Agreement"),
        (ku.key_cert_sign(), "Certificate Sign"),
        (ku.crl_sign(), "CRL Sign"),
        (ku.encipher_only(), "Encipher Only"),
        (ku.decipher_only(), "Decipher Only"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| n.to_string())
    .collect()
}

/// openssl's short names of the signature algorithms Kubernetes certificates use.
fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.3.101.112" => "ED25519",
        other => other,
    }
    .to_string()
}

/// `AB:CD:...`, as openssl prints identifiers and fingerprints.
pub fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A catalog entry a certificate matches.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// The catalog name (`apiserver`, `etcd-peer`, `admin.conf`, ...).
    pub name: String,
    /// What it is for, in kubeadm's words.
    pub description: String,
    /// `component flag` for every component flag that reads this file in a kubeadm cluster.
    pub used_by: Vec<String>,
    /// How it was recognised: `file name` or `subject and usages`.
    pub matched_by: &'static str,
}

/// The identity a client certificate presents to the API server.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
