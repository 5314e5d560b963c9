//! Certificates: issuing them with rcgen in kubeadm's X.509 profile, and reading them back with
//! x509-parser for the reuse checks, the reports and the tests.
//!
//! The profile (see ../shared/reference/kubeadm-pki.md §3): subject is O then CN, in
//! PrintableString where possible, as Go's encoding/asn1 chooses; random 63-bit serials;
//! NotBefore backdated 5 minutes; keyUsage and basicConstraints critical (CA:TRUE without
//! pathLen, or an explicit CA:FALSE); AKI = the CA's SKI; SKI from the SHA-1 of the public key
//! bits (RFC 5280 method 1, what Go computes). Two deliberate differences from kubeadm, both in
//! the README: keyEncipherment only on RSA keys (RFC 8813) and an SKI on leaves too (RFC 5280).

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, SanType, SerialNumber,
};
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::catalog::ExtUsage;
use super::duration::{X509_EARLIEST, X509_LATEST, check_validity};
use super::error::{Error, Result};
use super::keys::{KeyAlgorithm, PrivateKey, encode_pem};
use super::names::AltNames;

/// kubeadm's `CertificateBackdate`: certificates start 5 minutes before "now" to tolerate clock
/// skew between the machine that made them and the machines that check them.
pub const BACKDATE: Duration = Duration::minutes(5);
/// kubeadm's default leaf validity (`certificateValidityPeriod`, 8760h).
pub const DEFAULT_VALIDITY: Duration = Duration::hours(8760);
/// kubeadm's default CA validity (`caCertificateValidityPeriod`, 87600h).
pub const DEFAULT_CA_VALIDITY: Duration = Duration::hours(87600);

/// What a certificate should contain. The issuing key and CA are passed separately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertSpec {
    pub common_name: String,
    pub organizations: Vec<String>,
    #[serde(flatten)]
    pub alt_names: AltNames,
    pub usages: Vec<ExtUsage>,
    pub is_ca: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// kubeadm's validity window for a run that started at `now`: [now − 5 min, now + period].
///
/// Never panics: a window that `time` cannot represent or X.509 cannot hold is clamped to
/// [`X509_EARLIEST`, `X509_LATEST`] (and [`issue`] refuses to sign such a window). Check user
/// input with [`try_validity`] or [`super::duration::check_validity`] first, so the user gets an
/// error naming the flag instead.
pub fn validity(now: OffsetDateTime, period: Duration) -> (OffsetDateTime, OffsetDateTime) {
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let clamp = |t: Option<OffsetDateTime>, overflow: OffsetDateTime| {
        t.unwrap_or(overflow).clamp(X509_EARLIEST, X509_LATEST)
    };
    let overflow = if period.is_negative() {
        X509_EARLIEST
    } else {
        X509_LATEST
    };
    (
        clamp(now.checked_sub(BACKDATE), X509_EARLIEST),
        clamp(now.checked_add(period), overflow),
    )
}

/// [`validity`], or an error naming `what` (the flag or field the period came from) when the
/// period is shorter than the CSR API's 10 minutes or the window does not fit in X.509's range
/// (see [`super::duration::check_validity`]).
pub fn try_validity(
    now: OffsetDateTime,
    period: Duration,
    what: &str,
) -> std::result::Result<(OffsetDateTime, OffsetDateTime), String> {
    check_validity(now, period, what)?;
    Ok(validity(now, period))
}

/// A CA able to sign: its certificate and its private key, checked to belong together.
pub struct Authority {
    pub cert_der: Vec<u8>,
    pub key: PrivateKey,
}

impl Authority {
    /// Pairs a CA certificate with its key, refusing a key that does not match the certificate
    /// (rcgen's `Issuer::from_ca_cert_der` would sign with any key).
    pub fn new(cert_der: Vec<u8>, key: PrivateKey) -> std::result::Result<Self, String> {
        let facts = CertFacts::from_der(&cert_der)?;
        if !facts.is_ca {
            return Err("is not a CA certificate (basicConstraints CA:TRUE is missing)".into());
        }
        if facts.public_key_raw != key.public_key_raw() {
            return Err("the private key does not match the certificate".into());
        }
        Ok(Authority { cert_der, key })
    }
}

/// Issues a certificate for `subject_key`: self-signed when `issuer` is `None`, else signed by
/// the issuer. Returns the DER, after checking that it verifies against its issuer.
pub fn issue(
    spec: &CertSpec,
    subject_key: &PrivateKey,
    issuer: Option<&Authority>,
) -> Result<Vec<u8>> {
    check_spec(spec)?;
    let mut params = CertificateParams::default();
    params.not_before = spec.not_before;
    params.not_after = spec.not_after;
    params.serial_number = Some(random_serial()?);
    params.distinguished_name = subject(&spec.common_name, &spec.organizations)?;
    params.subject_alt_names = spec
        .alt_names
        .dns
        .iter()
        .map(|d| {
            d.clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| Error::Crypto(format!("DNS name {d:?}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    params
        .subject_alt_names
        .extend(spec.alt_names.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.is_ca = if spec.is_ca {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // RFC 8813 §3: keyEncipherment only makes sense for RSA (key transport); EC keys must not
    // assert it. kubeadm sets it for every key type (kubernetes#142037 proposes the same fix).
    if subject_key.algorithm().is_rsa() {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    if spec.is_ca {
        params.key_usages.push(KeyUsagePurpose::KeyCertSign);
    }
    params.extended_key_usages = spec
        .usages
        .iter()
        .map(|u| match u {
            ExtUsage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
            ExtUsage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
        })
        .collect();
    params.key_identifier_method =
        KeyIdMethod::PreSpecified(key_identifier(subject_key.public_key_raw()));

    let signer = issuer.map_or(subject_key, |ca| &ca.key);
    let der = match issuer {
        None => params.self_signed(subject_key.key_pair())?.der().to_vec(),
        Some(ca) => {
            let ca_facts = CertFacts::from_der(&ca.cert_der).map_err(Error::Crypto)?;
            // Go omits the AKI when the parent has no SKI; rcgen would invent one that matches
            // nothing, so follow Go.
            params.use_authority_key_identifier_extension = ca_facts.subject_key_id.is_some();
            let rcgen_issuer =
                Issuer::from_ca_cert_der(&ca.cert_der.as_slice().into(), ca.key.key_pair())
                    .map_err(|e| {
                        Error::Crypto(format!("cannot use the CA certificate as issuer: {e}"))
                    })?;
            params
                .signed_by(subject_key.key_pair(), &rcgen_issuer)?
                .der()
                .to_vec()
        }
    };

    let der = if spec.organizations.len() > 1 {
        let name = subject_name_der(&spec.common_name, &spec.organizations);
        with_subject(&der, &name, signer)?
    } else {
        der
    };

    // rcgen re-encodes the issuer name from its parsed values and cannot represent every name
    // (repeated or multi-valued attributes); make sure what we wrote really chains.
    let parent = issuer.map_or(der.as_slice(), |ca| ca.cert_der.as_slice());
    verify_signed_by(&der, parent).map_err(|e| {
        Error::Crypto(format!(
            "the issued certificate for {:?} does not verify: {e}",
            spec.common_name
        ))
    })?;
    Ok(der)
}

/// The last line of defence before signing: a window X.509 can hold and a subject without
/// control characters (the planner and the CLI check these earlier, with better messages).
fn check_spec(spec: &CertSpec) -> Result<()> {
    let in_range = |t: OffsetDateTime| (X509_EARLIEST..=X509_LATEST).contains(&t);
    if !in_range(spec.not_before) || !in_range(spec.not_after) || spec.not_after < spec.not_before {
        return Err(Error::Crypto(format!(
            "cannot issue {:?}: the validity {} to {} is not a window an X.509 certificate can \
             hold (up to 9999-12-31T23:59:59Z)",
            spec.common_name, spec.not_before, spec.not_after
        )));
    }
    // Not validate_subject_value's 64-character bound: kubeadm's node CNs
    // (`system:node:<253-character name>`) may be longer.
    for value in std::iter::once(&spec.common_name).chain(&spec.organizations) {
        if value.chars().any(char::is_control) {
            return Err(Error::Crypto(format!(
                "cannot issue a certificate whose subject holds a control character ({})",
                super::error::quote_input(value)
            )));
        }
    }
    Ok(())
}

pub fn cert_pem(der: &[u8]) -> String {
    encode_pem("CERTIFICATE", der.to_vec())
}

/// O values then CN, as Go's pkix.Name orders them; PrintableString where the characters allow,
/// else UTF8String, as Go's encoding/asn1 chooses.
fn subject(common_name: &str, organizations: &[String]) -> Result<DistinguishedName> {
    let value = |s: &str| -> DnValue {
        match rcgen::string::PrintableString::try_from(s) {
            Ok(p) => DnValue::PrintableString(p),
            Err(_) => DnValue::Utf8String(s.to_string()),
        }
    };
    let mut dn = DistinguishedName::new();
    // rcgen holds one value per attribute type; several O values are spliced in afterwards by
    // `with_subject`.
    if let Some(o) = organizations.first() {
        dn.push(DnType::OrganizationName, value(o));
    }
    dn.push(DnType::CommonName, value(common_name));
    Ok(dn)
}

const OID_ORGANIZATION: [u64; 4] = [2, 5, 4, 10];
const OID_COMMON_NAME: [u64; 4] = [2, 5, 4, 3];

/// The DER of a subject Name with each O value and then the CN in its own RDN, as
/// `openssl req -subj "/O=a/O=b/CN=c"` writes it. Strings follow Go's choice of
/// PrintableString or UTF8String.
fn subject_name_der(common_name: &str, organizations: &[String]) -> Vec<u8> {
    let attributes = organizations
        .iter()
        .map(|o| (&OID_ORGANIZATION[..], o.as_str()))
        .chain([(&OID_COMMON_NAME[..], common_name)]);
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for (oid, text) in attributes {
                w.next().write_set(|w| {
                    w.next().write_sequence(|w| {
                        w.next()
                            .write_oid(&yasna::models::ObjectIdentifier::from_slice(oid));
                        if rcgen::string::PrintableString::try_from(text).is_ok() {
                            w.next().write_printable_string(text);
                        } else {
                            w.next().write_utf8_string(text);
                        }
                    })
                });
            }
        })
    })
}

/// Replaces the subject of a certificate and signs it again with `signer`.
fn with_subject(cert_der: &[u8], subject_der: &[u8], signer: &PrivateKey) -> Result<Vec<u8>> {
    use rcgen::SigningKey;
    let bad = |e: yasna::ASN1Error| Error::Crypto(format!("re-encoding the subject failed: {e}"));
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    let (tbs, algorithm) = yasna::parse_der(cert_der, |r| {
        r.read_sequence(|r| {
            let tbs = r.next().read_der()?;
            let algorithm = r.next().read_der()?;
            r.next().read_bitvec_bytes()?;
            Ok((tbs, algorithm))
        })
    })
    .map_err(bad)?;
    // TBSCertificate: version, serial, signature, issuer, validity, subject, spki, extensions.
    let mut fields = yasna::parse_der(&tbs, |r| {
        r.read_sequence(|r| {
            let mut fields = Vec::new();
            while let Some(field) = r.read_optional(|r| r.read_der())? {
                fields.push(field);
            }
            Ok(fields)
        })
    })
    .map_err(bad)?;
    const SUBJECT: usize = 5;
    if fields.len() <= SUBJECT {
        return Err(Error::Crypto("unexpected TBSCertificate layout".into()));
    }
    fields[SUBJECT] = subject_der.to_vec();
    let tbs = yasna::construct_der(|w| {
        w.write_sequence(|w| fields.iter().for_each(|f| w.next().write_der(f)))
    });
    let signature = signer.key_pair().sign(&tbs)?;
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&tbs);
            w.next().write_der(&algorithm);
            w.next().write_bitvec_bytes(&signature, signature.len() * 8);
        })
    }))
}

/// A uniformly random serial in [1, 2^63 − 2], as kubeadm's `NewSignedCert` draws it.
fn random_serial() -> Result<SerialNumber> {
    const LIMIT: u64 = i64::MAX as u64 - 1; // rand.Int(…, MaxInt64-1) then +1
    loop {
        let mut bytes = [0u8; 8];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::Crypto("no randomness".into()))?;
        let n = u64::from_be_bytes(bytes) >> 1; // 63 bits
        if n < LIMIT {
            return Ok(SerialNumber::from_slice(&(n + 1).to_be_bytes()));
        }
    }
}

/// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents, which is what
/// Go's crypto/x509 puts in a CA's SKI.
fn key_identifier(public_key_raw: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, public_key_raw)
        .as_ref()
        .to_vec()
}

/// Reads every CERTIFICATE block of a PEM file (a `.crt` may hold a chain, leaf first).
pub fn certs_from_pem(data: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let blocks = pem::parse_many(data)
        .map_err(|e| format!("not valid PEM: {}", super::keys::pem_problem(&e)))?;
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

/// The facts of a certificate that kubepki checks and reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    pub common_name: String,
    pub organizations: Vec<String>,
    #[serde(flatten)]
    pub alt_names: AltNames,
    pub usages: Vec<ExtUsage>,
    pub is_ca: bool,
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub key_algorithm: Option<KeyAlgorithm>,
    #[serde(skip)]
    pub public_key_raw: Vec<u8>,
    #[serde(skip)]
    pub subject_key_id: Option<Vec<u8>>,
}

impl CertFacts {
    pub fn from_der(der: &[u8]) -> std::result::Result<Self, String> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| format!("does not parse as X.509: {e}"))?;
        let attr = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
            it.filter_map(|a| a.as_str().ok().map(str::to_string))
                .collect::<Vec<_>>()
        };
        let subject = cert.subject();
        let common_name = attr(&mut subject.iter_common_name())
            .into_iter()
            .next()
            .unwrap_or_default();
        let organizations = attr(&mut subject.iter_organization());
        let mut alt_names = AltNames::default();
        let mut usages = Vec::new();
        let mut is_ca = false;
        let mut subject_key_id = None;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => alt_names.dns.push(d.to_string()),
                            GeneralName::IPAddress(b) => {
                                if let Some(ip) = ip_from_bytes(b) {
                                    alt_names.ips.push(ip);
                                }
                            }
                            _ => {}
                        }
                    }
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

    pub fn missing_usages(&self, wanted: &[ExtUsage]) -> Vec<&'static str> {
        wanted
            .iter()
            .filter(|u| !self.usages.contains(u))
            .map(|u| u.name())
            .collect()
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

/// Checks that `child` was issued by `parent`: issuer name equals the parent's subject, byte for
/// byte, and the signature verifies with the parent's public key.
pub fn verify_signed_by(child: &[u8], parent: &[u8]) -> std::result::Result<(), String> {
    let (_, child) =
        X509Certificate::from_der(child).map_err(|e| format!("does not parse: {e}"))?;
    let (_, parent) =
        X509Certificate::from_der(parent).map_err(|e| format!("CA does not parse: {e}"))?;
    if child.issuer().as_raw() != parent.subject().as_raw() {
        return Err(format!(
            "issued by \"{}\", not by \"{}\"",
            child.issuer(),
            parent.subject()
        ));
    }
    child
        .verify_signature(Some(parent.public_key()))
        .map_err(|e| format!("signature does not verify with the CA's key: {e}"))
}

/// Checks that the first certificate of `chain` chains to `ca`, possibly through the
/// intermediates that follow it in the same file.
pub fn verify_chain(chain: &[Vec<u8>], ca: &[u8]) -> std::result::Result<(), String> {
    let Some(mut current) = chain.first() else {
        return Err("no certificate".into());
    };
    let mut remaining: Vec<&Vec<u8>> = chain.iter().skip(1).collect();
    loop {
        let direct = verify_signed_by(current, ca);
        if direct.is_ok() {
            return Ok(());
        }
        match remaining
            .iter()
            .position(|next| verify_signed_by(current, next).is_ok())
        {
            Some(i) => current = remaining.remove(i),
            None => return direct,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cn: &str, is_ca: bool) -> CertSpec {
        let now = OffsetDateTime::now_utc();
        let (not_before, not_after) = validity(now, DEFAULT_VALIDITY);
        CertSpec {
            common_name: cn.into(),
            organizations: if is_ca {
                vec![]
            } else {
                vec!["system:nodes".into()]
            },
            alt_names: AltNames {
                dns: vec!["a.example".into()],
                ips: vec!["10.0.0.1".parse().unwrap()],
            },
            usages: if is_ca {
                vec![]
            } else {
                vec![ExtUsage::ClientAuth]
            },
            is_ca,
            not_before,
            not_after,
        }
    }

    #[test]
    fn issued_leaf_chains_and_reads_back() {
        let ca_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let ca_der = issue(&spec("test-ca", true), &ca_key, None).unwrap();
        let ca = Authority::new(ca_der.clone(), ca_key).unwrap();
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let der = issue(&spec("leaf", false), &key, Some(&ca)).unwrap();
        verify_chain(std::slice::from_ref(&der), &ca_der).unwrap();
        let facts = CertFacts::from_der(&der).unwrap();
        assert_eq!(facts.common_name, "leaf");
        assert_eq!(facts.organizations, ["system:nodes"]);
        assert_eq!(facts.usages, [ExtUsage::ClientAuth]);
        assert!(!facts.is_ca);
        assert_eq!(facts.public_key_raw, key.public_key_raw());
        assert!(facts.missing_names(&spec("x", false).alt_names).is_empty());
    }

    #[test]
    fn several_organizations_become_several_o_attributes() {
        let ca_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let ca_der = issue(&spec("test-ca", true), &ca_key, None).unwrap();
        let ca = Authority::new(ca_der.clone(), ca_key).unwrap();
        let mut want = spec("jane", false);
        want.organizations = vec!["dev".into(), "ops_team".into(), "system:masters".into()];
        let key = PrivateKey::generate(KeyAlgorithm::Rsa(2048)).unwrap();
        let der = issue(&want, &key, Some(&ca)).unwrap();
        verify_chain(std::slice::from_ref(&der), &ca_der).unwrap();
        let facts = CertFacts::from_der(&der).unwrap();
        assert_eq!(facts.organizations, ["dev", "ops_team", "system:masters"]);
        assert_eq!(facts.common_name, "jane");
        assert_eq!(facts.public_key_raw, key.public_key_raw());
        assert_eq!(
            facts.subject,
            "O=dev, O=ops_team, O=system:masters, CN=jane"
        );
    }

    #[test]
    fn a_foreign_key_cannot_pose_as_the_ca() {
        let ca_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let ca_der = issue(&spec("test-ca", true), &ca_key, None).unwrap();
        let other = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let err = Authority::new(ca_der, other).err().unwrap();
        assert!(err.contains("does not match"), "{err}");
    }

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
        };
        assert!(facts.missing_names(&want("api.example.com")).is_empty());
        assert_eq!(facts.missing_names(&want("a.b.example.com")).len(), 1);
        assert_eq!(facts.missing_names(&want("example.com")).len(), 1);
    }

    #[test]
    fn validity_never_panics_and_try_validity_names_the_flag() {
        let now = OffsetDateTime::now_utc();
        for period in [
            Duration::MAX,
            Duration::MIN,
            Duration::ZERO,
            Duration::days(365 * 9000),
            crate::pki::duration::parse_duration("999999999y").unwrap(),
        ] {
            let (start, end) = validity(now, period);
            assert!(start >= X509_EARLIEST && end <= X509_LATEST, "{period}");
        }
        for edge in [X509_LATEST, X509_EARLIEST, OffsetDateTime::UNIX_EPOCH] {
            let _ = validity(edge, Duration::MAX);
            let _ = validity(edge, Duration::MIN);
        }
        let (start, end) = try_validity(now, DEFAULT_VALIDITY, "--validity").unwrap();
        assert_eq!(end - start, DEFAULT_VALIDITY + BACKDATE);
        let err = try_validity(now, Duration::days(365 * 9000), "--ca-validity").unwrap_err();
        assert!(
            err.contains("--ca-validity") && err.contains("9999"),
            "{err}"
        );
        let err = try_validity(now, Duration::ZERO, "--validity").unwrap_err();
        assert!(
            err.contains("--validity") && err.contains("10 minutes"),
            "{err}"
        );
    }

    #[test]
    fn issue_refuses_what_x509_cannot_hold() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        // `time` stops at year 9999 itself; before year 1 is what it can hold and X.509 cannot.
        let mut early = spec("ca", true);
        early.not_before = time::macros::datetime!(-0001-06-01 00:00 UTC);
        let err = issue(&early, &key, None).unwrap_err().to_string();
        assert!(err.contains("9999-12-31"), "{err}");
        let mut backwards = spec("ca", true);
        backwards.not_after = backwards.not_before - Duration::days(1);
        assert!(issue(&backwards, &key, None).is_err());
        let mut forged = spec("jane\n[certs] renewed FAKE", true);
        let err = issue(&forged, &key, None).unwrap_err().to_string();
        assert!(
            err.contains("control character") && !err.contains('\n'),
            "{err}"
        );
        forged = spec("jane", false);
        forged.organizations = vec!["ops\u{7}".into()];
        assert!(issue(&forged, &key, None).is_err());
        // At the very limit, issuing works (GeneralizedTime 99991231235959Z).
        let mut edge = spec("ca", true);
        edge.not_after = X509_LATEST;
        let der = issue(&edge, &key, None).unwrap();
        assert_eq!(CertFacts::from_der(&der).unwrap().not_after, X509_LATEST);
    }
}
