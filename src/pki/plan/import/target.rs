//! The certificates given and the targets they can go to; which certificate is for which
//! target (by its file name, else by its public key).

use std::path::PathBuf;

use super::Request;
use crate::pki::catalog::kubeconfig_ca;
use crate::pki::catalog::{KubeconfigProfile, Profile};
use crate::pki::cert::CertFacts;
use crate::pki::error::{Error, Result};
use crate::pki::inventory::{Found, Inventory, Wanted};
use crate::pki::store::Layout;

/// The certificates given to `import-signed`, as the command line read them from its FILE|DIR
/// arguments and `--ca-bundle`, and the targets of the run.
#[derive(Debug, Default)]
pub struct Signed {
    /// One leaf certificate each, with the intermediates that followed it in its file.
    pub inputs: Vec<SignedInput>,
    /// CA certificates given (`--ca-bundle`, or standing alone among the inputs), each with the
    /// file it came from: the candidates for a CA file the tree does not have yet.
    pub cas: Vec<(PathBuf, Vec<u8>)>,
    /// What this run may import into, in the order items are reported.
    pub targets: Vec<ImportTarget>,
}

/// One signed certificate given.
#[derive(Debug, Clone)]
pub struct SignedInput {
    /// How messages name it: its file, with `#N` when the file holds several certificates.
    pub name: PathBuf,
    /// The path that names its target (`etcd/server.crt`, `admin.conf.crt`): relative to the
    /// directory given, or the file as given; `None` when its file holds several leaves.
    pub named_as: Option<PathBuf>,
    /// The leaf first, then the intermediates that followed it in its file.
    pub chain: Vec<Vec<u8>>,
}

/// A file of the tree a signed certificate can go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportTarget {
    /// A control-plane leaf: `<base>.crt` beside `<base>.key` and `<base>.csr`.
    Cert(&'static Profile),
    /// One of kubeadm's kubeconfigs, its client certificate signed for `<file>.csr`.
    Kubeconfig(&'static KubeconfigProfile),
    /// A CA file of the tree, written from a CA certificate given when the tree has none.
    Ca(&'static Profile),
}

impl ImportTarget {
    /// The files planning it reads.
    pub(in crate::pki::plan) fn wanted(&self, layout: &Layout) -> Vec<Wanted> {
        match *self {
            ImportTarget::Cert(p) => vec![
                Wanted::Pair(p, String::new()),
                Wanted::Csr(layout.csr_path(p, "")),
            ],
            ImportTarget::Kubeconfig(k) => vec![
                Wanted::Kubeconfig(layout.kubeconfig_path(k, "")),
                Wanted::Csr(layout.kubeconfig_csr_path(k, "")),
            ],
            ImportTarget::Ca(p) => vec![Wanted::Pair(p, String::new())],
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            ImportTarget::Cert(p) | ImportTarget::Ca(p) => p.name,
            ImportTarget::Kubeconfig(k) => k.file_name,
        }
    }

    /// The file name a signed certificate for it has: `<base>.crt`, `<file>.crt`.
    fn signed_name(&self) -> Option<PathBuf> {
        match self {
            ImportTarget::Cert(p) => Some(format!("{}.crt", p.base_name).into()),
            ImportTarget::Kubeconfig(k) => Some(format!("{}.crt", k.file_name).into()),
            ImportTarget::Ca(_) => None,
        }
    }

    /// The CA whose family it belongs to.
    pub(super) fn ca(&self) -> &'static Profile {
        match self {
            ImportTarget::Cert(p) => p.issuer(),
            ImportTarget::Kubeconfig(_) => kubeconfig_ca(),
            ImportTarget::Ca(p) => p,
        }
    }

    /// Where its key is, for messages.
    pub(in crate::pki::plan) fn key_place(&self, layout: &Layout) -> String {
        match self {
            ImportTarget::Cert(p) => layout.key_path(p, "").display().to_string(),
            ImportTarget::Kubeconfig(k) => format!(
                "the client-key-data of {}",
                layout.kubeconfig_path(k, "").display()
            ),
            ImportTarget::Ca(p) => layout.key_path(p, "").display().to_string(),
        }
    }

    /// The public key of its key on disk.
    fn public_key<'i>(&self, inventory: &'i Inventory, layout: &Layout) -> Option<&'i [u8]> {
        match self {
            ImportTarget::Cert(p) => inventory
                .pair(p, "")?
                .key
                .present()
                .map(|k| k.key.public_key_raw()),
            ImportTarget::Kubeconfig(k) => {
                match inventory.kubeconfig(&layout.kubeconfig_path(k, ""))? {
                    Found::Present(f) => f
                        .current
                        .as_ref()
                        .ok()?
                        .client_key
                        .as_ref()
                        .ok()
                        .map(|k| k.public_key_raw()),
                    _ => None,
                }
            }
            ImportTarget::Ca(_) => None,
        }
    }
}

/// Which target each input is for (an index into `signed.targets`), or why none.
pub(super) fn assign(
    signed: &Signed,
    inventory: &Inventory,
    layout: &Layout,
) -> Vec<Result<usize, String>> {
    let keys: Vec<Option<&[u8]>> = signed
        .targets
        .iter()
        .map(|t| t.public_key(inventory, layout))
        .collect();
    let describe = |t: usize| {
        let target = &signed.targets[t];
        format!("{} ({})", target.name(), target.key_place(layout))
    };
    let mut assigned: Vec<Result<usize, String>> = Vec::with_capacity(signed.inputs.len());
    for input in &signed.inputs {
        let public_key = match CertFacts::from_der(&input.chain[0]) {
            Ok(facts) => facts.public_key_raw,
            Err(e) => {
                assigned.push(Err(e));
                continue;
            }
        };
        let by_key = keys.iter().position(|k| *k == Some(&public_key[..]));
        let by_name = input.named_as.as_ref().and_then(|named| {
            signed
                .targets
                .iter()
                .position(|t| t.signed_name().is_some_and(|n| named.ends_with(n)))
        });
        assigned.push(match (by_name, by_key) {
            (Some(t), Some(k)) if t == k => Ok(t),
            (Some(t), _) if keys[t].is_none() => Err(format!(
                "is named for {}, whose key does not exist or cannot be read (generate-csr \
                 makes it)",
                describe(t)
            )),
            (Some(t), Some(k)) => Err(format!(
                "is named for {} but is not for its key: its public key is the one of {}",
                describe(t),
                describe(k)
            )),
            (Some(t), None) => Err(format!(
                "is named for {} but is not for its key: its public key is none of the keys \
                 generate-csr made (a certificate for another key)",
                describe(t)
            )),
            (None, Some(k)) => Ok(k),
            (None, None) => Err(format!(
                "is for none of the keys generate-csr made in {} and {} (a certificate for \
                 another key?)",
                layout.cert_dir().display(),
                layout.kubeconfig_dir().display()
            )),
        });
    }
    // One certificate per target: a second one is refused, naming the first.
    for i in 0..assigned.len() {
        if let Ok(t) = assigned[i]
            && let Some(first) = (0..i).find(|&j| assigned[j] == Ok(t))
        {
            assigned[i] = Err(format!(
                "is a second certificate for {}, after {}",
                describe(t),
                signed.inputs[first].name.display()
            ));
        }
    }
    assigned
}

/// Every input that is for no target (or for one that already has one), each an error naming
/// its file.
pub(in crate::pki::plan) fn unmatched(
    request: &Request,
    inventory: &Inventory,
    signed: &Signed,
) -> Result<()> {
    let errors = assign(signed, inventory, &request.layout)
        .into_iter()
        .zip(&signed.inputs)
        .filter_map(|(a, input)| a.err().map(|e| Error::bad_file(&input.name, e)))
        .collect();
    Error::from_all(errors)
}
