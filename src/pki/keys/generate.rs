//! Generating keys: one with [`PrivateKey::generate`], many in parallel with
//! [`generate_many`] (RSA generation is the slow part of building a PKI).

use rcgen::{KeyPair, RsaKeySize};

use super::{KeyAlgorithm, PrivateKey};
use crate::pki::error::{Error, Result};

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
}

/// Generates one key per entry of `algorithms`, spread over the machine's cores. RSA generation
/// dominates the cost of a whole PKI, so this is where parallelism pays.
pub fn generate_many(algorithms: &[KeyAlgorithm]) -> Result<Vec<PrivateKey>> {
    generate_many_with(algorithms, &crate::pki::progress::Silent)
}

/// [`generate_many`], reporting each key made to `progress`.
pub fn generate_many_with(
    algorithms: &[KeyAlgorithm],
    progress: &dyn crate::pki::progress::Progress,
) -> Result<Vec<PrivateKey>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(algorithms.len().max(1));
    if threads <= 1 {
        return algorithms
            .iter()
            .map(|a| {
                let key = PrivateKey::generate(*a);
                progress.advance(1);
                key
            })
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
                        .map(|i| {
                            let key = PrivateKey::generate(algorithms[i]);
                            progress.advance(1);
                            (i, key)
                        })
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
