//! Reading certificates back: the CERTIFICATE blocks of a PEM file, and the facts of one
//! certificate ([`CertFacts`]) that the reuse checks and the reports look at.

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use crate::pki::catalog::ExtUsage;
use crate::pki::keys::{KeyAlgorithm, pem_problem};
use crate::pki::names::{AltNames, ip_from_bytes};

/// Reads every CERTIFICATE block of a PEM file (a `.crt` may hold a chain, leaf first).
pub fn certs_from_pem(data: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let blocks =
        pem::parse_many(data).map_err(|e| format!("not valid PEM: {}", pem_problem(&e)))?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.into_contents())
        .collect();
    if certs.is_empty() {
        return Err("holds no PEM CERTIFICATE block".into());
    }
    for der in &certs {
        X509Certificate::from_der(der).map_err(|e| format!("a certificate does not parse: {e}"))?;
    }
    Ok(certs)
}

/// The first CN (empty when there is none) and every O of an X.509 Name, skipping values that
/// are not strings.
pub(crate) fn subject_cn_o(name: &X509Name) -> (String, Vec<String>) {
    let strings = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
        it.filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let common_name = strings(&mut name.iter_common_name())
        .into_iter()
        .next()
        .unwrap_or_default();
    (common_name, strings(&mut name.iter_organization()))
}

/// What [`push_alt_name`] made of one GeneralName.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AltNameStep {
    Kept,
    /// An IP SAN whose bytes are not an IPv4 or IPv6 address.
    BadIp,
    /// A kind of name [`AltNames`] does not hold (directory name, other name, ...).
    OtherKind,
}

/// Adds one GeneralName to `alt_names` when it is a DNS name, IP address, URI or e-mail; the
/// caller decides what a malformed IP or another kind of name means.
pub(crate) fn push_alt_name(alt_names: &mut AltNames, name: &GeneralName) -> AltNameStep {
    match name {
        GeneralName::DNSName(d) => alt_names.dns.push(d.to_string()),
        GeneralName::IPAddress(b) => match ip_from_bytes(b) {
            Some(ip) => alt_names.ips.push(ip),
            None => return AltNameStep::BadIp,
        },
        GeneralName::URI(u) => alt_names.uris.push(u.to_string()),
        GeneralName::RFC822Name(e) => alt_names.emails.push(e.to_string()),
        _ => return AltNameStep::OtherKind,
    }
    AltNameStep::Kept
}

/// Adds a certificate's SANs to `alt_names`, skipping malformed IPs and kinds [`AltNames`]
/// does not hold (the certificate readers' policy; a CSR refuses them instead).
pub(crate) fn push_cert_alt_names(alt_names: &mut AltNames, names: &[GeneralName]) {
    for name in names {
        push_alt_name(alt_names, name);
    }
}

/// The facts of a certificate that kubepki checks and reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertFacts {
    /// The subject Name as text, `CN=..., O=...` in the certificate's order.
    pub subject: String,
    /// The issuer Name as text, in the same form.
    pub issuer: String,
    /// The subject's first CN; empty when it has none.
    pub common_name: String,
    /// The subject's O values, in order.
    pub organizations: Vec<String>,
    /// The SANs kubepki handles (DNS, IP, URI, email); other kinds and malformed IPs are
    /// skipped.
    #[serde(flatten)]
    pub alt_names: AltNames,
    /// The extended key usages kubepki knows (serverAuth, clientAuth); others are skipped.
    pub usages: Vec<ExtUsage>,
    /// basicConstraints says CA:TRUE.
    pub is_ca: bool,
    /// The serial number as colon-separated hex bytes.
    pub serial: String,
    /// The start of the validity window.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// The end of the validity window.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The subject key's algorithm; `None` for one kubepki does not make.
    pub key_algorithm: Option<KeyAlgorithm>,
    /// The subjectPublicKey bits, to compare with a private key's public half.
    #[serde(skip)]
    pub public_key_raw: Vec<u8>,
    /// The subjectKeyIdentifier extension's value, when present.
    #[serde(skip)]
    pub subject_key_id: Option<Vec<u8>>,
}

impl CertFacts {
    /// Reads a DER certificate; errs (with x509-parser's reason) when it does not parse.
    pub fn from_der(der: &[u8]) -> std::result::Result<Self, String> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| format!("does not parse as X.509: {e}"))?;
        let subject = cert.subject();
        let (common_name, organizations) = subject_cn_o(subject);
        let mut alt_names = AltNames::default();
        let mut usages = Vec::new();
        let mut is_ca = false;
        let mut subject_key_id = None;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    push_cert_alt_names(&mut alt_names, &san.general_names);
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    if eku.server_auth {
                        usages.push(ExtUsage::ServerAuth);
                    }
                    if eku.client_auth {
                        usages.push(ExtUsage::ClientAuth);
                    }
                }
                ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
                ParsedExtension::SubjectKeyIdentifier(id) => subject_key_id = Some(id.0.to_vec()),
                _ => {}
            }
        }
        let validity = cert.validity();
        Ok(CertFacts {
            subject: subject.to_string(),
            issuer: cert.issuer().to_string(),
            common_name,
            organizations,
            alt_names,
            usages,
            is_ca,
            serial: cert.raw_serial_as_string(),
            not_before: validity.not_before.to_datetime(),
            not_after: validity.not_after.to_datetime(),
            key_algorithm: KeyAlgorithm::of_spki(cert.public_key()),
            public_key_raw: cert.public_key().subject_public_key.data.to_vec(),
            subject_key_id,
        })
    }

    /// The requested names this certificate does not cover, matched as TLS hostname
    /// verification would (a `*.example.com` SAN covers `a.example.com`), as kubeadm checks
    /// existing certificates with `VerifyHostname`.
    pub fn missing_names(&self, wanted: &AltNames) -> Vec<String> {
        let dns_ok = |want: &str| {
            self.alt_names.dns.iter().any(|have| {
                have.eq_ignore_ascii_case(want)
                    || have.strip_prefix("*.").is_some_and(|suffix| {
                        want.split_once('.')
                            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(suffix))
                    })
            })
        };
        let mut missing: Vec<String> = wanted
            .dns
            .iter()
            .filter(|d| !dns_ok(d))
            .map(|d| format!("DNS:{d}"))
            .collect();
        missing.extend(
            wanted
                .ips
                .iter()
                .filter(|ip| !self.alt_names.ips.contains(ip))
                .map(|ip| format!("IP:{ip}")),
        );
        missing
    }

    /// The wanted extended key usages this certificate lacks, by name (`clientAuth`).
    pub fn missing_usages(&self, wanted: &[ExtUsage]) -> Vec<&'static str> {
        wanted
            .iter()
            .filter(|u| !self.usages.contains(u))
            .map(|u| u.name())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::cert::issue;
    use crate::pki::cert::issue::tests::spec;
    use crate::pki::keys::PrivateKey;

    #[test]
    fn wildcard_sans_cover_one_label() {
        let mut facts = CertFacts::from_der(
            &issue(
                &spec("c", true),
                &PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap(),
                None,
            )
            .unwrap(),
        )
        .unwrap();
        facts.alt_names.dns = vec!["*.example.com".into()];
        let want = |d: &str| AltNames {
            dns: vec![d.into()],
            ips: vec![],
            ..Default::default()
        };
        assert!(facts.missing_names(&want("api.example.com")).is_empty());
        assert_eq!(facts.missing_names(&want("a.b.example.com")).len(), 1);
        assert_eq!(facts.missing_names(&want("example.com")).len(), 1);
    }
}
