//! PKCS#8, the form every key is held in (what rcgen and aws-lc work with): loading a key from
//! it, converting PKCS#1 and SEC1 keys to it, and telling from a DER's structure which of the
//! three it is.

use pkcs8::der::asn1::{AnyRef, BitStringRef, OctetStringRef};
use pkcs8::der::{Decode, Encode};
use pkcs8::{ObjectIdentifier, PrivateKeyInfoRef};
use rcgen::{KeyPair, PublicKeyData};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::{KeyAlgorithm, PrivateKey};

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

impl PrivateKey {
    pub(super) fn from_pkcs8(der: &[u8]) -> std::result::Result<Self, String> {
        let info = PrivateKeyInfoRef::from_der(der).map_err(|e| format!("bad PKCS#8: {e}"))?;
        let algorithm = match info.algorithm.oid {
            OID_RSA_ENCRYPTION => KeyAlgorithm::Rsa(0), // size read below
            OID_EC_PUBLIC_KEY => {
                let curve = info
                    .algorithm
                    .parameters
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                    .ok_or("EC key without a named curve")?;
                match curve {
                    OID_P256 => KeyAlgorithm::EcdsaP256,
                    OID_P384 => KeyAlgorithm::EcdsaP384,
                    other => {
                        return Err(format!(
                            "EC curve {other} is not supported (Kubernetes uses P-256 or P-384)"
                        ));
                    }
                }
            }
            OID_ED25519 => KeyAlgorithm::Ed25519,
            other => return Err(format!("unsupported key algorithm {other}")),
        };
        let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(der);
        let pair = KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, algorithm.signature_algorithm())
            .map_err(|e| format!("the key does not load: {e}"))?;
        let algorithm = match algorithm {
            KeyAlgorithm::Rsa(_) => {
                let spki = pair.subject_public_key_info();
                SubjectPublicKeyInfo::from_der(&spki)
                    .ok()
                    .and_then(|(_, spki)| KeyAlgorithm::of_spki(&spki))
                    .ok_or("cannot read the RSA key size")?
            }
            other => other,
        };
        Ok(PrivateKey { algorithm, pair })
    }
}

/// What a private key DER holds, found by its structure (not by its PEM label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyEncoding {
    /// PKCS#1 RSAPrivateKey.
    Pkcs1,
    /// SEC1 ECPrivateKey.
    Sec1,
    /// PKCS#8 PrivateKeyInfo, with what its algorithm identifier says.
    Pkcs8(Pkcs8Algorithm),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pkcs8Algorithm {
    Rsa,
    Ec,
    Ed25519,
    Other,
}

impl KeyEncoding {
    pub(super) fn sniff(der: &[u8]) -> Option<KeyEncoding> {
        if let Ok(info) = PrivateKeyInfoRef::from_der(der) {
            let algorithm = match info.algorithm.oid {
                OID_RSA_ENCRYPTION => Pkcs8Algorithm::Rsa,
                OID_EC_PUBLIC_KEY => Pkcs8Algorithm::Ec,
                OID_ED25519 => Pkcs8Algorithm::Ed25519,
                _ => Pkcs8Algorithm::Other,
            };
            return Some(KeyEncoding::Pkcs8(algorithm));
        }
        if sec1::EcPrivateKey::from_der(der).is_ok() {
            return Some(KeyEncoding::Sec1);
        }
        if is_pkcs1(der) {
            return Some(KeyEncoding::Pkcs1);
        }
        None
    }

    pub(super) fn describe(self) -> &'static str {
        match self {
            KeyEncoding::Pkcs1 => "an RSA key (PKCS#1)",
            KeyEncoding::Sec1 => "an EC key (SEC1)",
            KeyEncoding::Pkcs8(Pkcs8Algorithm::Rsa) => "an RSA key in PKCS#8 form",
            KeyEncoding::Pkcs8(Pkcs8Algorithm::Ec) => "an EC key in PKCS#8 form",
            KeyEncoding::Pkcs8(Pkcs8Algorithm::Ed25519) => "an Ed25519 key in PKCS#8 form",
            KeyEncoding::Pkcs8(Pkcs8Algorithm::Other) => "a PKCS#8 key of another algorithm",
        }
    }
}

/// PKCS#1 RSAPrivateKey (RFC 8017 A.1.2): SEQUENCE { version (0, or 1 for multi-prime), n, e,
/// d, p, q, dP, dQ, qInv, [otherPrimeInfos] } of INTEGERs.
fn is_pkcs1(der: &[u8]) -> bool {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let version = r.next().read_u8()?;
            for _ in 0..8 {
                r.next().read_bigint_bytes()?;
            }
            if version == 1 {
                r.read_optional(|r| r.read_der())?;
            }
            if version > 1 {
                return Err(yasna::ASN1Error::new(yasna::ASN1ErrorKind::Invalid));
            }
            Ok(())
        })
    })
    .is_ok()
}

pub(super) fn curve_oid(algorithm: KeyAlgorithm) -> ObjectIdentifier {
    match algorithm {
        KeyAlgorithm::EcdsaP384 => OID_P384,
        _ => OID_P256,
    }
}

/// PKCS#1 RSAPrivateKey → PKCS#8 PrivateKeyInfo (rsaEncryption, NULL parameters).
pub(super) fn wrap_pkcs1(pkcs1: &[u8]) -> std::result::Result<Vec<u8>, String> {
    // A PKCS#8 document under an "RSA PRIVATE KEY" label is the mismatch keyutil rejects.
    if PrivateKeyInfoRef::from_der(pkcs1).is_ok() {
        return Err(
            "the PEM label says PKCS#1 (RSA PRIVATE KEY) but the contents are PKCS#8".into(),
        );
    }
    let info = PrivateKeyInfoRef {
        algorithm: pkcs8::AlgorithmIdentifierRef {
            oid: OID_RSA_ENCRYPTION,
            parameters: Some(AnyRef::NULL),
        },
        private_key: OctetStringRef::new(pkcs1).map_err(|e| e.to_string())?,
        public_key: None,
    };
    info.to_der().map_err(|e| e.to_string())
}

/// SEC1 ECPrivateKey → PKCS#8 PrivateKeyInfo (ecPublicKey with the curve from the SEC1 key).
pub(super) fn wrap_sec1(sec1_der: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let ec = sec1::EcPrivateKey::from_der(sec1_der).map_err(|_| {
        "the PEM label says SEC1 (EC PRIVATE KEY) but the contents are not an EC private key"
            .to_string()
    })?;
    let curve = match ec.parameters {
        Some(sec1::EcParameters::NamedCurve(oid)) => oid,
        None => return Err("EC private key without a named curve".into()),
    };
    let curve_der = curve.to_der().map_err(|e| e.to_string())?;
    let info = PrivateKeyInfoRef {
        algorithm: pkcs8::AlgorithmIdentifierRef {
            oid: OID_EC_PUBLIC_KEY,
            parameters: Some(AnyRef::from_der(&curve_der).map_err(|e| e.to_string())?),
        },
        private_key: OctetStringRef::new(sec1_der).map_err(|e| e.to_string())?,
        public_key: None::<BitStringRef<'_>>,
    };
    info.to_der().map_err(|e| e.to_string())
}
