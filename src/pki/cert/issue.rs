//! Issuing a certificate: what it should contain ([`CertSpec`]), the CA that signs it
//! ([`Authority`]), and [`issue`] itself, with random serials and SHA-1 key identifiers as Go
//! makes them.

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use serde::Serialize;
use time::OffsetDateTime;

use super::facts::CertFacts;
use super::subject::{subject, subject_name_der, with_subject};
use crate::pki::catalog::ExtUsage;
use crate::pki::duration::{X509_EARLIEST, X509_LATEST};
use crate::pki::error::{Error, Result};
use crate::pki::keys::{KeyAlgorithm, PrivateKey, SubjectPublicKey, encode_pem};
use crate::pki::names::AltNames;
use crate::pki::untrusted::quote_input;

/// What a certificate should contain. The issuing key and CA are passed separately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertSpec {
    /// The subject's CN (for a Kubernetes client certificate, the user name).
    pub common_name: String,
    /// The subject's O values, in order (for a client certificate, the groups).
    pub organizations: Vec<String>,
    /// The subjectAltName extension; empty means none.
    #[serde(flatten)]
    pub alt_names: AltNames,
    /// The extended key usages (serverAuth, clientAuth); empty means no extension.
    pub usages: Vec<ExtUsage>,
    /// basicConstraints CA:TRUE (without pathLen) and keyCertSign, else an explicit CA:FALSE.
    pub is_ca: bool,
    /// The start of the validity window (see [`validity`](super::validity()) for kubeadm's
    /// backdating).
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// The end of the validity window.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// A CA able to sign: its certificate and its private key, checked to belong together.
pub struct Authority {
    /// The CA certificate, DER.
    pub cert_der: Vec<u8>,
    /// The CA's private key.
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
    let signer = issuer.map_or(subject_key, |ca| &ca.key);
    let self_signed = issuer.is_none().then_some(subject_key);
    issue_with(
        spec,
        subject_key.key_pair(),
        self_signed,
        issuer,
        signer,
        KeyUsageRule::Profile {
            key_encipherment: true,
        },
    )
}

/// Issues a certificate for a public key only (a CSR's), signed by `issuer`.
pub fn issue_for_public_key(
    spec: &CertSpec,
    subject_key: &SubjectPublicKey,
    issuer: &Authority,
) -> Result<Vec<u8>> {
    let rule = KeyUsageRule::Profile {
        key_encipherment: true,
    };
    issue_with(spec, subject_key, None, Some(issuer), &issuer.key, rule)
}

/// Issues a leaf certificate for `subject_key` (a CSR's public key, or a new key's pair) signed
/// by `issuer`, with keyEncipherment on an RSA key only when `key_encipherment` says so: a
/// signing profile decides the key usages (`pki::profile`).
pub fn issue_leaf_with_usages(
    spec: &CertSpec,
    subject_key: &impl PublicKeyData,
    issuer: &Authority,
    key_encipherment: bool,
) -> Result<Vec<u8>> {
    issue_with(
        spec,
        subject_key,
        None,
        Some(issuer),
        &issuer.key,
        KeyUsageRule::Profile { key_encipherment },
    )
}

/// The key usage bits of a certificate for a CSR API object: exactly what its `spec.usages`
/// ask for, as the built-in signer sets them (no RSA-only rule: the requester chose them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExactKeyUsage {
    /// Set the digitalSignature bit.
    pub digital_signature: bool,
    /// Set the keyEncipherment bit (whatever the key's algorithm).
    pub key_encipherment: bool,
}

/// Issues a certificate for a CSR API object's public key, signed by `issuer`, with exactly the
/// key usages given (`spec.usages` decides, as in kube-controller-manager's signer).
pub fn issue_for_object(
    spec: &CertSpec,
    subject_key: &impl PublicKeyData,
    issuer: &Authority,
    key_usage: ExactKeyUsage,
) -> Result<Vec<u8>> {
    issue_with(
        spec,
        subject_key,
        None,
        Some(issuer),
        &issuer.key,
        KeyUsageRule::Exact(key_usage),
    )
}

/// How the key usage bits of a certificate are chosen.
#[derive(Clone, Copy)]
enum KeyUsageRule {
    /// kubepki's own certificates: digitalSignature, keyEncipherment on RSA keys when the
    /// profile has it (RFC 8813), keyCertSign on CAs.
    Profile { key_encipherment: bool },
    /// A CSR API object's: exactly these.
    Exact(ExactKeyUsage),
}

/// The one way a certificate is made: `subject_key` is certified; `self_signed` is its private
/// half when it signs itself (a CA), else `issuer` signs; `signer` re-signs a spliced subject.
fn issue_with(
    spec: &CertSpec,
    subject_key: &impl PublicKeyData,
    self_signed: Option<&PrivateKey>,
    issuer: Option<&Authority>,
    signer: &PrivateKey,
    key_usage: KeyUsageRule,
) -> Result<Vec<u8>> {
    check_spec(spec)?;
    let algorithm = KeyAlgorithm::of_signature(subject_key.algorithm());
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
    let ia5 = |s: &String, what: &str| {
        rcgen::string::Ia5String::try_from(s.clone())
            .map_err(|e| Error::Crypto(format!("{what} {}: {e}", quote_input(s))))
    };
    for uri in &spec.alt_names.uris {
        params
            .subject_alt_names
            .push(SanType::URI(ia5(uri, "URI")?));
    }
    for email in &spec.alt_names.emails {
        params
            .subject_alt_names
            .push(SanType::Rfc822Name(ia5(email, "email")?));
    }
    params.is_ca = if spec.is_ca {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    match key_usage {
        KeyUsageRule::Profile { key_encipherment } => {
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            // RFC 8813 §3: keyEncipherment only makes sense for RSA (key transport); EC keys
            // must not assert it. kubeadm sets it for every key type (kubernetes#142037
            // proposes the same fix).
            if algorithm.is_rsa() && key_encipherment {
                params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
            }
            if spec.is_ca {
                params.key_usages.push(KeyUsagePurpose::KeyCertSign);
            }
        }
        KeyUsageRule::Exact(exact) => {
            if exact.digital_signature {
                params.key_usages.push(KeyUsagePurpose::DigitalSignature);
            }
            if exact.key_encipherment {
                params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
            }
        }
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
        KeyIdMethod::PreSpecified(key_identifier(subject_key.der_bytes()));

    let der = match (self_signed, issuer) {
        (Some(key), _) => params.self_signed(key.key_pair())?.der().to_vec(),
        (None, None) => {
            return Err(Error::Crypto(
                "internal: a certificate with neither an issuer nor its own key".into(),
            ));
        }
        (None, Some(ca)) => {
            let ca_facts = CertFacts::from_der(&ca.cert_der).map_err(Error::Crypto)?;
            // Go omits the AKI when the parent has no SKI; rcgen would invent one that matches
            // nothing, so follow Go.
            params.use_authority_key_identifier_extension = ca_facts.subject_key_id.is_some();
            let rcgen_issuer =
                Issuer::from_ca_cert_der(&ca.cert_der.as_slice().into(), ca.key.key_pair())
                    .map_err(|e| {
                        Error::Crypto(format!("cannot use the CA certificate as issuer: {e}"))
                    })?;
            params.signed_by(subject_key, &rcgen_issuer)?.der().to_vec()
        }
    };

    let der = if spec.organizations.len() > 1 {
        let name = subject_name_der(&spec.common_name, &spec.organizations);
        with_subject(&der, &name, signer)?
    } else {
        der
    };

    // rcgen re-encodes the issuer name from its parsed values and cannot represent every name
    // (repeated or multi-valued attributes); make sure what we wrote really chains: its issuer
    // must be the parent's subject byte for byte. The signature needs no check of its own: the
    // key signed with is the parent's (`Authority::new` refuses a key that is not), and
    // verifying it was 42% of `init`'s instructions.
    let parent = issuer.map_or(der.as_slice(), |ca| ca.cert_der.as_slice());
    if !issuer_is_subject_of(&der, parent) {
        return Err(Error::Crypto(format!(
            "the issued certificate for {:?} does not chain: its issuer is not its CA's subject \
             byte for byte",
            spec.common_name
        )));
    }
    Ok(der)
}

/// Whether `child`'s issuer is `parent`'s subject, as encoded (what verifiers match).
fn issuer_is_subject_of(child: &[u8], parent: &[u8]) -> bool {
    use x509_parser::prelude::{FromDer, X509Certificate};
    match (
        X509Certificate::from_der(child),
        X509Certificate::from_der(parent),
    ) {
        (Ok((_, c)), Ok((_, p))) => c.issuer().as_raw() == p.subject().as_raw(),
        _ => false,
    }
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
                quote_input(value)
            )));
        }
    }
    Ok(())
}

/// A certificate's DER as a PEM `CERTIFICATE` block.
pub fn cert_pem(der: &[u8]) -> String {
    encode_pem("CERTIFICATE", der.to_vec())
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::pki::cert::{DEFAULT_VALIDITY, validity, verify_chain};
    use crate::pki::duration::X509_LATEST;
    use crate::pki::keys::KeyAlgorithm;
    use time::Duration;

    pub(in crate::pki::cert) fn spec(cn: &str, is_ca: bool) -> CertSpec {
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
                ..Default::default()
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
