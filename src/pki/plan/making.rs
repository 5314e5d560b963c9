//! What executing a plan item makes, as data for those who explain rather than execute
//! (`--explain` prints the openssl and kubectl commands that make the same files).

use std::path::Path;

use super::{PlanItem, Work};
use crate::pki::csr::CsrSpec;

/// What an item makes, file by file.
#[derive(Debug)]
pub(crate) enum Making<'a> {
    /// Nothing is written (kept, skipped).
    Nothing,
    /// A certificate: self-signed when `signer` is `None`, else signed by that catalog CA; with a
    /// new key unless `new_key` is false (`renew --reuse-key`).
    Cert {
        signer: Option<&'static str>,
        cert: &'a Path,
        key: &'a Path,
        new_key: bool,
    },
    /// A new key pair: the private key and its public half (`sa.key`, `sa.pub`).
    KeyPair { key: &'a Path, public: &'a Path },
    /// The public half of an existing key.
    PublicKey { public: &'a Path },
    /// A kubeconfig with a new client certificate signed by the cluster CA (to stdout when
    /// `dest` is `None`).
    Kubeconfig {
        dest: Option<&'a Path>,
        server: &'a str,
        cluster_name: &'a str,
    },
    /// An existing kubeconfig's client certificate and key replaced.
    RenewKubeconfig { path: &'a Path },
    /// A new key and a request for it (`kubepki csr`).
    KeyAndRequest {
        key: &'a Path,
        csr: &'a Path,
        spec: &'a CsrSpec,
    },
    /// A request given on the command line, signed by a CA of the tree (`kubepki sign`); to
    /// stdout when `dest` is `None`.
    SignRequest {
        signer: &'static str,
        dest: Option<&'a Path>,
    },
    /// Something `--explain` has no openssl equivalent for yet.
    Other,
}

impl PlanItem {
    /// What executing this item makes.
    pub(crate) fn making(&self) -> Making<'_> {
        match &self.work {
            Work::Keep(_) => Making::Nothing,
            Work::Cert {
                ca,
                cert_path,
                key_path,
                reuse_key,
            } => Making::Cert {
                signer: *ca,
                cert: cert_path,
                key: key_path,
                new_key: reuse_key.is_none(),
            },
            Work::ServiceAccount { key_path, pub_path } => Making::KeyPair {
                key: key_path,
                public: pub_path,
            },
            Work::ServiceAccountPublic { pub_path, .. } => Making::PublicKey { public: pub_path },
            Work::Kubeconfig {
                dest,
                server,
                cluster_name,
            } => Making::Kubeconfig {
                dest: dest.as_deref(),
                server,
                cluster_name,
            },
            Work::RenewKubeconfig { path, .. } => Making::RenewKubeconfig { path },
            Work::Signing(work) => work.making(),
            _ => Making::Other,
        }
    }
}
