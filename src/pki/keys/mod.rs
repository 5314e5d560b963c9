//! Private keys: the algorithms kubeadm knows, generation, and the PEM encodings Kubernetes reads.
//!
//! kubeadm writes RSA keys as PKCS#1 (`RSA PRIVATE KEY`) and ECDSA keys as SEC1 with the curve
//! named inside (`EC PRIVATE KEY`), through client-go's keyutil, which rejects a PEM whose label
//! does not match its contents. We hold every key as PKCS#8 in memory (what rcgen and aws-lc work
//! with) and convert at the file boundary: [`PrivateKey::from_pem`] accepts PKCS#1, SEC1 (also
//! after an `EC PARAMETERS` block, as `openssl ecparam -genkey` writes) and PKCS#8, and checks that
//! the label and the DER agree; [`PrivateKey::to_pem`] writes kubeadm's encoding.
//!
//! This file holds [`KeyAlgorithm`] and [`PrivateKey`]; `generate` makes new keys (in parallel
//! with [`generate_many`]), `pem` reads and writes the PEM encodings and checks their labels,
//! `pkcs8` converts PKCS#1 and SEC1 to the PKCS#8 form keys are held in.

mod generate;
mod pem;
mod pkcs8;
mod public;

use std::fmt;
use std::str::FromStr;

use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm};
use serde::Serialize;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::untrusted::quote_input;

pub use generate::{generate_many, generate_many_with};
pub use pem::encode_pem;
pub(crate) use pem::pem_problem;
pub use public::PublicKey as SubjectPublicKey;

/// A key algorithm, named as kubeadm's `encryptionAlgorithm` names it (`RSA-2048`, `ECDSA-P256`,
/// ...). Ed25519 is an extra that Kubernetes cannot use everywhere (see [`KeyAlgorithm::Ed25519`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA with the given modulus size. New keys are 2048, 3072 or 4096 bits; existing keys of
    /// other sizes are read and reported as they are.
    Rsa(u32),
    /// ECDSA on NIST P-256 (secp256r1), signing with SHA-256.
    EcdsaP256,
    /// ECDSA on NIST P-384 (secp384r1), signing with SHA-384.
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

    /// Whether it is RSA, of any size (only certificates for RSA keys get keyEncipherment).
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

    /// The family of a signature algorithm (RSA size unknown: reported as 0 bits), for choosing
    /// key usages.
    pub fn of_signature(sig: &SignatureAlgorithm) -> KeyAlgorithm {
        if sig == &rcgen::PKCS_ECDSA_P256_SHA256 {
            KeyAlgorithm::EcdsaP256
        } else if sig == &rcgen::PKCS_ECDSA_P384_SHA384 {
            KeyAlgorithm::EcdsaP384
        } else if sig == &rcgen::PKCS_ED25519 {
            KeyAlgorithm::Ed25519
        } else {
            KeyAlgorithm::Rsa(0)
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
                quote_input(s),
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
    /// The key's algorithm (for RSA, with its modulus size).
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
}
