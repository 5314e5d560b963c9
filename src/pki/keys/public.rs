//! A public key without its private half: the key of a CSR that kubepki signs.

use rcgen::{PublicKeyData, SignatureAlgorithm};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::KeyAlgorithm;

/// A subject public key of an algorithm kubepki can certify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    /// The subjectPublicKey BIT STRING contents (what a certificate carries).
    raw: Vec<u8>,
}

impl PublicKey {
    /// Reads a DER SubjectPublicKeyInfo; the error says what the key is when it is not one
    /// kubepki certifies (an unknown algorithm or curve).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        let (_, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|_| "the public key does not parse".to_string())?;
        let algorithm = KeyAlgorithm::of_spki(&spki).ok_or_else(|| {
            format!(
                "the public key's algorithm ({}) is not one Kubernetes uses (RSA, ECDSA P-256 or \
                 P-384, Ed25519)",
                spki.algorithm.algorithm
            )
        })?;
        Ok(PublicKey {
            algorithm,
            raw: spki.subject_public_key.data.to_vec(),
        })
    }

    /// The key's algorithm (for RSA, with its modulus size).
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The subjectPublicKey bits, as [`super::PrivateKey::public_key_raw`] gives them.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
}

impl PublicKeyData for PublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm.signature_algorithm()
    }
}
