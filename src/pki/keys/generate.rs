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
    // Each thread takes the next key still to make, the calling thread too: RSA keys vary a lot
    // (a prime search), and a thread dealt a fixed share of them could finish long after the
    // others. With the next one taken when a thread is free, the run ends at most one key after
    // the work divided by the cores: the floor.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(algorithm) = algorithms.get(i) else {
                return done;
            };
            done.push((i, PrivateKey::generate(*algorithm)));
            progress.advance(1);
        }
    };
    let mut slots: Vec<Option<Result<PrivateKey>>> = algorithms.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        // A panic on this thread is caught as a joined thread's is, and becomes an error.
        let mut all = vec![std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))];
        all.extend(handles.into_iter().map(|h| h.join()));
        for done in all {
            // A panicking generator leaves its slots empty; reported below.
            for (i, key) in done.into_iter().flatten() {
                slots[i] = Some(key);
            }
        }
    });
    slots
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Err(Error::Crypto("key generation thread failed".into()))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys shared out to threads come back in the order asked, each of its algorithm (told by
    /// its PEM label and public key size, not by the key's own field).
    #[test]
    fn many_keys_on_threads_keep_their_order() {
        let asked = [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::Rsa(2048),
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::EcdsaP256,
        ];
        assert!(asked.iter().map(|a| cost_micros(*a)).sum::<u64>() >= PARALLEL_FROM_MICROS);
        let keys = generate_many(&asked).unwrap();
        let seen: Vec<(String, usize)> = keys
            .iter()
            .map(|k| {
                let pem = k.to_pem().unwrap();
                let label = pem.lines().next().unwrap().to_string();
                (label, k.public_key_raw().len())
            })
            .collect();
        let ec = "-----BEGIN EC PRIVATE KEY-----".to_string();
        assert_eq!(seen[0], (ec.clone(), 65), "P-256: an uncompressed point");
        assert_eq!(seen[1].0, "-----BEGIN RSA PRIVATE KEY-----");
        assert!(seen[1].1 > 256, "an RSA-2048 public key: {}", seen[1].1);
        assert_eq!(seen[2], ("-----BEGIN PRIVATE KEY-----".to_string(), 32));
        assert_eq!(seen[3], (ec.clone(), 97), "P-384");
        assert_eq!(seen[4], (ec, 65));
    }
}
