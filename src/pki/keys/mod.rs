//! Private keys: the algorithms kubeadm knows, generation, and the PEM encodings Kubernetes reads.
//!
//! kubeadm writes RSA keys as PKCS#1 (`RSA PRIVATE KEY`) and ECDSA keys as SEC1 with the curve
//! named inside (`EC PRIVATE KEY`), through client-go's keyutil, which rejects a PEM whose label
//! does not match its contents. We hold every key as PKCS#8 in memory (what rcgen and aws-lc work
//! with) and convert at the file boundary: [`PrivateKey::from_pem`] accepts PKCS#1, SEC1 (also
//! after an `EC PARAMETERS` block, as `openssl ecparam -genkey` writes) and PKCS#8, and checks that
//! the label and the DER agree; [`PrivateKey::to_pem`] writes kubeadm's encoding.

use std::fmt;
use std::str::FromStr;

use pkcs8::der::asn1::{AnyRef, BitStringRef, OctetStringRef};
use pkcs8::der::{Decode, Encode};
use pkcs8::{ObjectIdentifier, PrivateKeyInfoRef};
use rcgen::{KeyPair, PublicKeyData, RsaKeySize, SignatureAlgorithm};
use serde::Serialize;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::error::{Error, Result};

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A key algorithm, named as kubeadm's `encryptionAlgorithm` names it (`RSA-2048`, `ECDSA-P256`,
/// ...). Ed25519 is an extra that Kubernetes cannot use everywhere (see [`KeyAlgorithm::Ed25519`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA with the given modulus size. New keys are 2048, 3072 or 4096 bits; existing keys of
    /// other sizes are read and reported as they are.
    Rsa(u32),
    EcdsaP256,
    EcdsaP384,
    /// Works for TLS certificates, but client-go's keyutil (and so kubeadm) cannot read Ed25519
    /// keys, and service-account tokens cannot be signed with it.
    Ed25519,
}

impl KeyAlgorithm {
    /// kubeadm's default (v1beta4 `encryptionAlgorithm: RSA-2048`).
    pub const DEFAULT: KeyAlgorithm = KeyAlgorithm::Rsa(2048);

    /// The algorithms `--key-algorithm` accepts, in the order help lists them.
    pub const CHOICES: [&'static str; 6] = [
        "RSA-2048",
        "RSA-3072",
        "RSA-4096",
        "ECDSA-P256",
        "ECDSA-P384",
        "ED25519",
    ];

    pub fn is_rsa(self) -> bool {
        matches!(self, KeyAlgorithm::Rsa(_))
    }

    /// The signature algorithm a key of this kind signs with. Go's crypto/x509 picks SHA-256 for
    /// every RSA size and for P-256, SHA-384 for P-384; we do the same.
    pub fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyAlgorithm::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
            KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }

    /// Reads the algorithm of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki: &SubjectPublicKeyInfo<'_>) -> Option<KeyAlgorithm> {
        match spki.parsed().ok()? {
            PublicKey::RSA(rsa) => Some(KeyAlgorithm::Rsa(rsa.key_size() as u32)),
            PublicKey::EC(_) => {
                let curve = spki.algorithm.parameters.as_ref()?.as_oid().ok()?;
                match curve.to_id_string().as_str() {
                    "1.2.840.10045.3.1.7" => Some(KeyAlgorithm::EcdsaP256),
                    "1.3.132.0.34" => Some(KeyAlgorithm::EcdsaP384),
                    _ => None,
                }
            }
            _ if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" => {
                Some(KeyAlgorithm::Ed25519)
            }
            _ => None,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Rsa(bits) => write!(f, "RSA-{bits}"),
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA-P256"),
            KeyAlgorithm::EcdsaP384 => f.write_str("ECDSA-P384"),
            KeyAlgorithm::Ed25519 => f.write_str("ED25519"),
        }
    }
}

impl Serialize for KeyAlgorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for KeyAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            // kubeadm treats an empty encryptionAlgorithm as RSA-2048.
            "RSA-2048" | "" => Ok(KeyAlgorithm::Rsa(2048)),
            "RSA-3072" => Ok(KeyAlgorithm::Rsa(3072)),
            "RSA-4096" => Ok(KeyAlgorithm::Rsa(4096)),
            "ECDSA-P256" => Ok(KeyAlgorithm::EcdsaP256),
            "ECDSA-P384" => Ok(KeyAlgorithm::EcdsaP384),
            "ED25519" => Ok(KeyAlgorithm::Ed25519),
            _ => Err(format!(
                "unknown key algorithm {}; expected one of {}",
                super::error::quote_input(s),
                KeyAlgorithm::CHOICES.join(", ")
            )),
        }
    }
}

/// A private key with its algorithm. Secret material never appears in `Debug` output.
pub struct PrivateKey {
    algorithm: KeyAlgorithm,
    pair: KeyPair,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Generates a new key. RSA generation is the slow part of building a PKI (about 0.1 s for
    /// 2048 bits), which is why callers generate keys in parallel (see [`generate_many`]).
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self> {
        let sig = algorithm.signature_algorithm();
        let pair = match algorithm {
            KeyAlgorithm::Rsa(bits) => {
                let size = match bits {
                    2048 => RsaKeySize::_2048,
                    3072 => RsaKeySize::_3072,
                    4096 => RsaKeySize::_4096,
                    _ => {
                        return Err(Error::Crypto(format!(
                            "cannot generate RSA-{bits} keys: only 2048, 3072 and 4096 bits"
                        )));
                    }
                };
                KeyPair::generate_rsa_for(sig, size)
            }
            _ => KeyPair::generate_for(sig),
        }
        .map_err(|e| Error::Crypto(format!("generating a {algorithm} key failed: {e}")))?;
        Ok(PrivateKey { algorithm, pair })
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The key pair rcgen signs with.
    pub fn key_pair(&self) -> &KeyPair {
        &self.pair
    }

    /// The raw public key as it appears in a certificate's subjectPublicKey BIT STRING (PKCS#1
    /// RSAPublicKey for RSA, the uncompressed point for ECDSA, 32 bytes for Ed25519).
    pub fn public_key_raw(&self) -> &[u8] {
        self.pair.public_key_raw()
    }

    /// DER SubjectPublicKeyInfo of the public half.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.pair.subject_public_key_info()
    }

    /// The public half as PEM `PUBLIC KEY` (PKIX), as kubeadm writes sa.pub.
    pub fn public_key_pem(&self) -> String {
        encode_pem("PUBLIC KEY", self.public_key_der())
    }

    /// The private key in kubeadm's PEM encoding: PKCS#1 for RSA, SEC1 with the named curve and
    /// the public key for ECDSA (as Go's x509.MarshalECPrivateKey writes), PKCS#8 v1 for Ed25519
    /// (the only encoding it has).
    pub fn to_pem(&self) -> Result<String> {
        let pkcs8 = PrivateKeyInfoRef::from_der(self.pair.serialized_der())
            .map_err(|e| Error::Crypto(format!("re-reading a generated key failed: {e}")))?;
        let inner = pkcs8.private_key.as_bytes();
        let (label, der) = match self.algorithm {
            KeyAlgorithm::Rsa(_) => ("RSA PRIVATE KEY", inner.to_vec()),
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                let curve = curve_oid(self.algorithm);
                let mut ec = sec1::EcPrivateKey::from_der(inner).map_err(|e| {
                    Error::Crypto(format!("re-reading a generated key failed: {e}"))
                })?;
                ec.parameters = Some(sec1::EcParameters::NamedCurve(curve));
                let point = self.pair.public_key_raw().to_vec();
                ec.public_key = Some(&point);
                let der = ec
                    .to_der()
                    .map_err(|e| Error::Crypto(format!("encoding an EC key failed: {e}")))?;
                ("EC PRIVATE KEY", der)
            }
            KeyAlgorithm::Ed25519 => {
                // aws-lc writes PKCS#8 v2 (with the public key); Go and older parsers want v1.
                let v1 = PrivateKeyInfoRef {
                    algorithm: pkcs8.algorithm,
                    private_key: pkcs8.private_key,
                    public_key: None,
                };
                let der = v1
                    .to_der()
                    .map_err(|e| Error::Crypto(format!("encoding an Ed25519 key failed: {e}")))?;
                ("PRIVATE KEY", der)
            }
        };
        Ok(encode_pem(label, der))
    }

    /// Reads a private key from PEM; the error says what is wrong, the caller adds the path.
    /// No error quotes the file: not its bytes, not a PEM header, not an odd label.
    pub fn from_pem(data: &[u8]) -> std::result::Result<Self, String> {
        let blocks =
            pem::parse_many(data).map_err(|e| format!("not valid PEM: {}", pem_problem(&e)))?;
        let mut keys = blocks.iter().filter(|b| b.tag() != "EC PARAMETERS");
        let block = keys
            .next()
            .ok_or_else(|| "no private key found (the file has no PEM block)".to_string())?;
        if keys.next().is_some() {
            return Err("holds more than one PEM block; expected exactly one private key".into());
        }
        let der = block.contents();
        let held = KeyEncoding::sniff(der);
        let mismatch = |label: &str| {
            format!(
                "the PEM label {label} does not match the key inside (it holds {})",
                held.map_or("no key this label allows", KeyEncoding::describe)
            )
        };
        let pkcs8 = match block.tag() {
            label @ "RSA PRIVATE KEY" => match held {
                Some(KeyEncoding::Pkcs1) => wrap_pkcs1(der)?,
                Some(_) => return Err(mismatch(label)),
                None => return Err(format!("the {label} block is not a PKCS#1 RSA key")),
            },
            label @ "EC PRIVATE KEY" => match held {
                Some(KeyEncoding::Sec1) => wrap_sec1(der)?,
                Some(_) => return Err(mismatch(label)),
                None => return Err(format!("the {label} block is not a SEC1 EC key")),
            },
            label @ "PRIVATE KEY" => match held {
                Some(KeyEncoding::Pkcs8(_)) => der.to_vec(),
                Some(_) => return Err(mismatch(label)),
                None => return Err(format!("the {label} block is not a PKCS#8 key")),
            },
            "ENCRYPTED PRIVATE KEY" => {
                return Err("is an encrypted private key; decrypt it first".into());
            }
            other if is_plain_label(other) => {
                return Err(format!("holds a {other:?} PEM block, not a private key"));
            }
            _ => return Err("holds a PEM block with an unknown label, not a private key".into()),
        };
        Self::from_pkcs8(&pkcs8)
    }

    fn from_pkcs8(der: &[u8]) -> std::result::Result<Self, String> {
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
enum KeyEncoding {
    /// PKCS#1 RSAPrivateKey.
    Pkcs1,
    /// SEC1 ECPrivateKey.
    Sec1,
    /// PKCS#8 PrivateKeyInfo, with what its algorithm identifier says.
    Pkcs8(Pkcs8Algorithm),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pkcs8Algorithm {
    Rsa,
    Ec,
    Ed25519,
    Other,
}

impl KeyEncoding {
    fn sniff(der: &[u8]) -> Option<KeyEncoding> {
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

    fn describe(self) -> &'static str {
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

/// A PEM label that may be named in a message: one of the labels of RFC 7468 and OpenSSL's
/// usual ones. Any other label is the file's own text and is not repeated.
fn is_plain_label(label: &str) -> bool {
    const KNOWN: [&str; 14] = [
        "CERTIFICATE",
        "X509 CERTIFICATE",
        "TRUSTED CERTIFICATE",
        "CERTIFICATE REQUEST",
        "NEW CERTIFICATE REQUEST",
        "X509 CRL",
        "PKCS7",
        "CMS",
        "PUBLIC KEY",
        "RSA PUBLIC KEY",
        "DSA PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "PARAMETERS",
    ];
    KNOWN.contains(&label)
}

/// A PEM parse error in words that quote nothing from the file (pem's own messages quote
/// labels and headers).
pub(crate) fn pem_problem(e: &pem::PemError) -> &'static str {
    match e {
        pem::PemError::MismatchedTags(..) => "a BEGIN line and its END line name different labels",
        pem::PemError::MalformedFraming => "malformed BEGIN/END lines",
        pem::PemError::MissingBeginTag => "a BEGIN line is missing",
        pem::PemError::MissingEndTag => "an END line is missing",
        pem::PemError::MissingData => "a PEM block has no data",
        pem::PemError::InvalidData(_) => "a PEM block's data is not valid base64",
        pem::PemError::InvalidHeader(_) => "a PEM block has a malformed header",
        pem::PemError::NotUtf8(_) => "a PEM block is not UTF-8 text",
    }
}

/// Generates one key per entry of `algorithms`, spread over the machine's cores. RSA generation
/// dominates the cost of a whole PKI, so this is where parallelism pays.
pub fn generate_many(algorithms: &[KeyAlgorithm]) -> Result<Vec<PrivateKey>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(algorithms.len().max(1));
    if threads <= 1 {
        return algorithms
            .iter()
            .map(|a| PrivateKey::generate(*a))
            .collect();
    }
    // Deal the work round-robin so slow RSA keys spread evenly across threads.
    let mut slots: Vec<Option<Result<PrivateKey>>> = algorithms.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..algorithms.len())
                        .step_by(threads)
                        .map(|i| (i, PrivateKey::generate(algorithms[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(done) => {
                    for (i, key) in done {
                        slots[i] = Some(key);
                    }
                }
                Err(_) => {
                    // A panicking generator leaves its slots empty; reported below.
                }
            }
        }
    });
    slots
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Err(Error::Crypto("key generation thread failed".into()))))
        .collect()
}

fn curve_oid(algorithm: KeyAlgorithm) -> ObjectIdentifier {
    match algorithm {
        KeyAlgorithm::EcdsaP384 => OID_P384,
        _ => OID_P256,
    }
}

/// PKCS#1 RSAPrivateKey → PKCS#8 PrivateKeyInfo (rsaEncryption, NULL parameters).
fn wrap_pkcs1(pkcs1: &[u8]) -> std::result::Result<Vec<u8>, String> {
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
fn wrap_sec1(sec1_der: &[u8]) -> std::result::Result<Vec<u8>, String> {
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

/// PEM with LF line endings and 64-column lines, as Go's encoding/pem writes.
pub fn encode_pem(label: &str, der: impl Into<Vec<u8>>) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

impl PrivateKey {
    /// A second handle on the same key (re-loaded from its PKCS#8 encoding): the inventory keeps
    /// what it read, and a plan takes its own copy of the keys it signs with or keeps.
    pub fn duplicate(&self) -> std::result::Result<Self, String> {
        let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(self.pair.serialized_der());
        let pair =
            KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, self.algorithm.signature_algorithm())
                .map_err(|e| format!("the key does not load: {e}"))?;
        Ok(PrivateKey {
            algorithm: self.algorithm,
            pair,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_as_kubeadm_spells_them() {
        for name in KeyAlgorithm::CHOICES {
            let alg: KeyAlgorithm = name.parse().unwrap();
            assert_eq!(alg.to_string(), name);
        }
        assert!("RSA-1024".parse::<KeyAlgorithm>().is_err());
    }

    #[test]
    fn every_algorithm_writes_kubeadm_labels_and_reads_back() {
        for (alg, label) in [
            (KeyAlgorithm::Rsa(2048), "RSA PRIVATE KEY"),
            (KeyAlgorithm::EcdsaP256, "EC PRIVATE KEY"),
            (KeyAlgorithm::EcdsaP384, "EC PRIVATE KEY"),
            (KeyAlgorithm::Ed25519, "PRIVATE KEY"),
        ] {
            let key = PrivateKey::generate(alg).unwrap();
            let pem_text = key.to_pem().unwrap();
            assert_eq!(pem::parse(&pem_text).unwrap().tag(), label, "{alg}");
            let back = PrivateKey::from_pem(pem_text.as_bytes()).unwrap();
            assert_eq!(back.algorithm(), alg);
            assert_eq!(back.public_key_raw(), key.public_key_raw());
        }
    }

    #[test]
    fn a_pkcs8_key_under_a_pkcs1_label_is_refused() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mislabelled = encode_pem("RSA PRIVATE KEY", key.key_pair().serialize_der());
        let err = PrivateKey::from_pem(mislabelled.as_bytes()).unwrap_err();
        assert!(err.contains("label"), "{err}");
        let mislabelled = encode_pem("EC PRIVATE KEY", key.key_pair().serialize_der());
        assert!(PrivateKey::from_pem(mislabelled.as_bytes()).is_err());
    }

    #[test]
    fn not_a_key_is_refused_with_a_reason() {
        let err = PrivateKey::from_pem(b"hello").unwrap_err();
        assert!(err.contains("no private key"), "{err}");
        let cert = encode_pem("CERTIFICATE", vec![0x30, 0x00]);
        let err = PrivateKey::from_pem(cert.as_bytes()).unwrap_err();
        assert!(err.contains("CERTIFICATE"), "{err}");
    }

    /// The DER inside a key's own PEM (PKCS#1, SEC1 or PKCS#8, as kubeadm writes it).
    fn der_of(key: &PrivateKey) -> Vec<u8> {
        pem::parse(key.to_pem().unwrap()).unwrap().into_contents()
    }

    #[test]
    fn a_label_that_does_not_match_the_key_inside_says_so() {
        let rsa = PrivateKey::generate(KeyAlgorithm::Rsa(2048)).unwrap();
        let ec = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let ed = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let cases = [
            ("RSA PRIVATE KEY", der_of(&ec), "an EC key (SEC1)"),
            (
                "RSA PRIVATE KEY",
                ec.key_pair().serialize_der(),
                "an EC key in PKCS#8",
            ),
            ("RSA PRIVATE KEY", der_of(&ed), "an Ed25519 key"),
            ("EC PRIVATE KEY", der_of(&rsa), "an RSA key (PKCS#1)"),
            (
                "EC PRIVATE KEY",
                rsa.key_pair().serialize_der(),
                "an RSA key in PKCS#8",
            ),
            ("PRIVATE KEY", der_of(&rsa), "an RSA key (PKCS#1)"),
            ("PRIVATE KEY", der_of(&ec), "an EC key (SEC1)"),
        ];
        for (label, der, holds) in cases {
            let text = encode_pem(label, der.clone());
            let err = PrivateKey::from_pem(text.as_bytes()).unwrap_err();
            let want =
                format!("the PEM label {label} does not match the key inside (it holds {holds}");
            assert!(err.starts_with(&want), "{label}: {err}");
            assert!(
                !err.contains("ring") && !err.contains("InvalidEncoding"),
                "{err}"
            );
            // No key material: neither the base64 body nor anything like it.
            let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
            assert!(!err.contains(&body[..20]), "{err}");
        }
        // Garbage under a key label is named as such.
        let err = PrivateKey::from_pem(encode_pem("RSA PRIVATE KEY", vec![1, 2, 3]).as_bytes())
            .unwrap_err();
        assert!(err.contains("not a PKCS#1 RSA key"), "{err}");
    }

    #[test]
    fn pem_errors_quote_nothing_from_the_file() {
        let secret = "SECRETLABELMARKER";
        let texts = [
            format!("-----BEGIN {secret}-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"),
            format!("-----BEGIN {secret} KEY-----\nAAAA\n-----END {secret} KEY-----\n"),
            format!(
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type {secret}\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"
            ),
            format!("-----BEGIN RSA PRIVATE KEY-----\n{secret}!!\n-----END RSA PRIVATE KEY-----\n"),
            format!("-----BEGIN a{secret}b\u{7}-----\nAAAA\n-----END a{secret}b\u{7}-----\n"),
        ];
        for text in texts {
            let err = PrivateKey::from_pem(text.as_bytes()).unwrap_err();
            assert!(!err.contains(secret), "{err}");
        }
        // A plain label is named (it tells the user what the file holds).
        let err =
            PrivateKey::from_pem(encode_pem("PUBLIC KEY", vec![0x30, 0]).as_bytes()).unwrap_err();
        assert!(err.contains("\"PUBLIC KEY\""), "{err}");
    }
}
