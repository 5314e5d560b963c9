//! The subject Name as Go writes it: O values then CN, PrintableString where the characters
//! allow, each attribute in its own RDN (rcgen holds one value per type, so several O values are
//! spliced in by re-signing).

use rcgen::{DistinguishedName, DnType, DnValue};

use crate::pki::error::{Error, Result};
use crate::pki::keys::PrivateKey;

/// O values then CN, as Go's pkix.Name orders them; PrintableString where the characters allow,
/// else UTF8String, as Go's encoding/asn1 chooses.
pub(crate) fn subject(common_name: &str, organizations: &[String]) -> Result<DistinguishedName> {
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
pub(crate) fn subject_name_der(common_name: &str, organizations: &[String]) -> Vec<u8> {
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
pub(super) fn with_subject(
    cert_der: &[u8],
    subject_der: &[u8],
    signer: &PrivateKey,
) -> Result<Vec<u8>> {
    // TBSCertificate: version, serial, signature, issuer, validity, subject, spki, extensions.
    resign_with_field(cert_der, 5, subject_der, signer)
}

/// Replaces the subject of a PKCS#10 request and signs it again with its own key.
pub(crate) fn csr_with_subject(
    csr_der: &[u8],
    subject_der: &[u8],
    key: &PrivateKey,
) -> Result<Vec<u8>> {
    // CertificationRequestInfo: version, subject, subjectPKInfo, attributes.
    resign_with_field(csr_der, 1, subject_der, key)
}

/// A signed structure (`SEQUENCE { toBeSigned, signatureAlgorithm, signature }`, as certificates
/// and CSRs are) with field `index` of its to-be-signed part replaced, signed again.
fn resign_with_field(
    cert_der: &[u8],
    index: usize,
    subject_der: &[u8],
    signer: &PrivateKey,
) -> Result<Vec<u8>> {
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
    if fields.len() <= index {
        return Err(Error::Crypto(
            "unexpected layout of a signed structure".into(),
        ));
    }
    fields[index] = subject_der.to_vec();
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
