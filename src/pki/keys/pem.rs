//! PEM encodings of private keys: writing kubeadm's (PKCS#1, SEC1, PKCS#8 for Ed25519), reading
//! any of them with a check that the label matches the key inside, and PEM errors described
//! without quoting the file.

use pkcs8::PrivateKeyInfoRef;
use pkcs8::der::{Decode, Encode};

use super::pkcs8::{KeyEncoding, curve_oid, wrap_pkcs1, wrap_sec1};
use super::{KeyAlgorithm, PrivateKey};
use crate::pki::error::{Error, Result};

impl PrivateKey {
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

/// PEM with LF line endings and 64-column lines, as Go's encoding/pem writes.
pub fn encode_pem(label: &str, der: impl Into<Vec<u8>>) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
