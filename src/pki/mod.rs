//! The PKI core: the certificate catalog, keys, certificates, names, the on-disk store, and the
//! planner that ties them together. Nothing in here knows about the command line.

/// The `apiVersion` of every report kubepki prints as JSON or YAML (`-o json|yaml`).
pub const REPORT_API_VERSION: &str = "kubepki/v1";

pub(crate) mod audit;
pub mod bootstrap;
pub mod catalog;
pub mod cert;
pub(crate) mod component_flags;
pub mod csr;
pub mod duration;
pub mod error;
pub mod expiration;
pub(crate) mod inspect;
pub mod inventory;
pub mod keys;
pub mod kubeconfig;
pub mod names;
pub mod plan;
pub mod progress;
pub(crate) mod rbac;
pub mod rotation;
pub mod selection;
pub mod store;
pub(crate) mod untrusted;
pub(crate) mod wiring;
pub(crate) mod yaml_error;
// Signing (issue 14): profiles and identities for csr, sign and issue-cert.
pub mod identity;
pub mod profile;

// The CSR API (issue 15): CertificateSigningRequest objects offline and the signer's verdict.
pub mod csr_object;

pub use error::{Error, ErrorKind, Result};
