//! PKCS#10 certificate signing requests: made for a key (what `kubeadm certs generate-csr`,
//! `openssl req -new` and `cfssl genkey` make), and read back from anyone, untrusted.
//!
//! A request kubepki makes carries the subject (O values then CN, encoded as Go encodes it, as
//! in the certificates) and, when there are any, the SANs in an extensionRequest; nothing else
//! (no key usages: those are the signer's to choose, as kubeadm's `NewCSR` leaves them out).
//!
//! A request read from a file is checked before anything is taken from it: its signature must
//! verify with its own public key (proof of possession of the private key), and its key must be
//! of an algorithm Kubernetes uses. What it asks for (subject, SANs, a CA, key usages) is
//! reported as data for the signer to accept or refuse.

use rcgen::{CertificateParams, SanType};
use serde::Serialize;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use super::catalog::ExtUsage;
use super::cert::subject::{csr_with_subject, subject, subject_name_der};
use super::cert::{AltNameStep, push_alt_name, subject_cn_o};
use super::error::{Error, Result};
use super::keys::{KeyAlgorithm, PrivateKey, SubjectPublicKey, encode_pem};
use super::names::AltNames;
use super::untrusted::quote_input;

/// The PEM label of a request (`openssl req` also writes `NEW CERTIFICATE REQUEST`).
pub const PEM_LABEL: &str = "CERTIFICATE REQUEST";

/// What a request asks to be certified as.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CsrSpec {
    /// The subject's CN.
    pub common_name: String,
    /// The subject's O values, in order.
    pub organizations: Vec<String>,
    /// The SANs, carried in the extensionRequest attribute; empty means none.
    #[serde(flatten)]
    pub alt_names: AltNames,
}

/// Makes a request for `key`, signed by it. Returns the DER.
pub fn build(spec: &CsrSpec, key: &PrivateKey) -> Result<Vec<u8>> {
    if spec.common_name.chars().any(char::is_control)
        || spec
            .organizations
            .iter()
            .any(|o| o.chars().any(char::is_control))
    {
        return Err(Error::Crypto(format!(
            "cannot make a request whose subject holds a control character ({})",
            quote_input(&spec.common_name)
        )));
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = subject(&spec.common_name, &spec.organizations)?;
    for d in &spec.alt_names.dns {
        let name = d
            .clone()
            .try_into()
            .map_err(|e| Error::Crypto(format!("DNS name {}: {e}", quote_input(d))))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    params
        .subject_alt_names
        .extend(spec.alt_names.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    for u in &spec.alt_names.uris {
        let uri = u
            .clone()
            .try_into()
            .map_err(|e| Error::Crypto(format!("URI {}: {e}", quote_input(u))))?;
        params.subject_alt_names.push(SanType::URI(uri));
    }
    for m in &spec.alt_names.emails {
        let email = m
            .clone()
            .try_into()
            .map_err(|e| Error::Crypto(format!("email {}: {e}", quote_input(m))))?;
        params.subject_alt_names.push(SanType::Rfc822Name(email));
    }
    let der = params.serialize_request(key.key_pair())?.der().to_vec();
    // rcgen holds one value per attribute type: several O values are spliced in, as in
    // certificates.
    if spec.organizations.len() > 1 {
        let name = subject_name_der(&spec.common_name, &spec.organizations);
        return csr_with_subject(&der, &name, key);
    }
    Ok(der)
}

/// A request as PEM.
pub fn csr_pem(der: &[u8]) -> String {
    encode_pem(PEM_LABEL, der.to_vec())
}

/// A request read from a file and checked: its signature verifies with its own key.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The subject DN as text (`O=..., CN=...`).
    pub subject: String,
    /// The subject's CN and O values and the requested SANs.
    #[serde(flatten)]
    pub spec: CsrSpec,
    /// The algorithm of the request's key.
    pub key_algorithm: KeyAlgorithm,
    /// It asks for basicConstraints CA:TRUE.
    pub asks_ca: bool,
    /// The key usages and extended key usages it asks for (the signer decides, not the request).
    pub requested_usages: Vec<String>,
    /// The request's public key, the one a certificate for it certifies.
    #[serde(skip)]
    pub public_key: SubjectPublicKey,
    /// The request itself, DER.
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// Reads a request from PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`) or DER and
/// checks it. Errors say what is wrong, never quoting the input.
pub fn parse(data: &[u8]) -> std::result::Result<Request, String> {
    let der = if data.starts_with(b"-----") || data.iter().take(64).all(u8::is_ascii) {
        let blocks = pem::parse_many(data).map_err(|_| "is not valid PEM".to_string())?;
        let block = blocks
            .into_iter()
            .find(|b| matches!(b.tag(), PEM_LABEL | "NEW CERTIFICATE REQUEST"))
            .ok_or("holds no CERTIFICATE REQUEST PEM block")?;
        block.into_contents()
    } else {
        data.to_vec()
    };
    let (rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|_| "is not a PKCS#10 certificate request (it does not parse)".to_string())?;
    if !rest.is_empty() {
        return Err("has bytes after the certificate request".into());
    }
    csr.verify_signature().map_err(|_| {
        "its signature does not verify with its own public key (a forged or corrupted request)"
            .to_string()
    })?;
    let info = &csr.certification_request_info;
    let public_key = SubjectPublicKey::from_spki_der(info.subject_pki.raw)?;
    let (common_name, organizations) = subject_cn_o(&info.subject);
    let mut alt_names = AltNames::default();
    let mut asks_ca = false;
    let mut requested_usages = Vec::new();
    for ext in csr.requested_extensions().into_iter().flatten() {
        match ext {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match push_alt_name(&mut alt_names, name) {
                        AltNameStep::Kept => {}
                        AltNameStep::BadIp => {
                            return Err("asks for an IP SAN that is not an address".into());
                        }
                        AltNameStep::OtherKind => {
                            return Err("asks for a kind of SAN kubepki does not sign".into());
                        }
                    }
                }
            }
            ParsedExtension::BasicConstraints(bc) => asks_ca |= bc.ca,
            ParsedExtension::KeyUsage(ku) => {
                requested_usages.extend(ku.to_string().split(", ").map(str::to_string));
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                if eku.server_auth {
                    requested_usages.push(ExtUsage::ServerAuth.name().into());
                }
                if eku.client_auth {
                    requested_usages.push(ExtUsage::ClientAuth.name().into());
                }
            }
            _ => {}
        }
    }
    Ok(Request {
        subject: info.subject.to_string(),
        spec: CsrSpec {
            common_name,
            organizations,
            alt_names,
        },
        key_algorithm: public_key.algorithm(),
        asks_ca,
        requested_usages,
        public_key,
        der,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CsrSpec {
        CsrSpec {
            common_name: "system:node:worker-1".into(),
            organizations: vec!["system:nodes".into(), "extra".into()],
            alt_names: AltNames {
                dns: vec!["worker-1".into()],
                ips: vec!["10.0.0.11".parse().unwrap()],
                uris: vec!["spiffe://cluster.local/ns/a/sa/b".into()],
                emails: vec!["ops@example.com".into()],
            },
        }
    }

    #[test]
    fn a_request_round_trips_with_several_groups_and_every_san_kind() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
            let key = PrivateKey::generate(alg).unwrap();
            let der = build(&spec(), &key).unwrap();
            let request = parse(csr_pem(&der).as_bytes()).unwrap();
            assert_eq!(request.spec, spec());
            assert_eq!(
                request.subject,
                "O=system:nodes, O=extra, CN=system:node:worker-1"
            );
            assert_eq!(request.public_key.raw(), key.public_key_raw());
            assert!(!request.asks_ca && request.requested_usages.is_empty());
            // DER works too.
            assert_eq!(parse(&der).unwrap().spec, spec());
        }
    }

    #[test]
    fn a_forged_or_broken_request_is_refused() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mut der = build(&spec(), &key).unwrap();
        let last = der.len() - 1;
        der[last] ^= 1;
        assert!(
            parse(&der)
                .unwrap_err()
                .contains("signature does not verify")
        );
        der[last] ^= 1;
        // A flipped bit inside the subject breaks the signature too.
        let at = der.windows(6).position(|w| w == b"worker").unwrap();
        der[at] = b'W';
        assert!(
            parse(&der)
                .unwrap_err()
                .contains("signature does not verify")
        );
        assert!(parse(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n").is_err());
        assert!(parse(b"not a request").is_err());
    }
}
