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

/// Roughly what one key costs to generate, in microseconds of one core of this project's machine
/// (`cargo bench --bench pki`, keygen/*; README, "Performance"). RSA is a prime search whose
/// time varies a lot from key to key; these are averages.
fn cost_micros(algorithm: KeyAlgorithm) -> u64 {
    match algorithm {
        KeyAlgorithm::Rsa(bits) if bits <= 2048 => 50_000,
        KeyAlgorithm::Rsa(bits) if bits <= 3072 => 185_000,
        KeyAlgorithm::Rsa(_) => 500_000,
        KeyAlgorithm::EcdsaP256 => 30,
        KeyAlgorithm::EcdsaP384 => 100,
        KeyAlgorithm::Ed25519 => 15,
    }
}

/// Below this much work, keys are made on the calling thread: starting a thread (its stack, the
/// crypto library's per-thread state, its exit) and reading the CPU quota costs more than it
/// saves. The 16 P-256 keys of an `init` take ~0.3 ms; two threads made that run slower.
const PARALLEL_FROM_MICROS: u64 = 2_000;

/// [`generate_many`], reporting each key made to `progress`.
pub fn generate_many_with(
    algorithms: &[KeyAlgorithm],
    progress: &dyn crate::pki::progress::Progress,
) -> Result<Vec<PrivateKey>> {
    let work: u64 = algorithms.iter().map(|a| cost_micros(*a)).sum();
    let threads = if work < PARALLEL_FROM_MICROS || algorithms.len() < 2 {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(algorithms.len())
    };
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
