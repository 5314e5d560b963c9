//! Certificates: issuing them with rcgen in kubeadm's X.509 profile, and reading them back with
//! x509-parser for the reuse checks, the reports and the tests.
//!
//! The profile (see ../shared/reference/kubeadm-pki.md §3): subject is O then CN, in
//! PrintableString where possible, as Go's encoding/asn1 chooses; random 63-bit serials;
//! NotBefore backdated 5 minutes; keyUsage and basicConstraints critical (CA:TRUE without
//! pathLen, or an explicit CA:FALSE); AKI = the CA's SKI; SKI from the SHA-1 of the public key
//! bits (RFC 5280 method 1, what Go computes). Two deliberate differences from kubeadm, both in
//! the README: keyEncipherment only on RSA keys (RFC 8813) and an SKI on leaves too (RFC 5280).
//!
//! `issue` signs ([`CertSpec`], [`Authority`], [`issue`]), `subject` encodes the subject Name as
//! Go does, `validity` computes the window, `facts` reads a certificate back ([`CertFacts`],
//! [`certs_from_pem`]) and `verify` checks who signed it.

mod facts;
mod issue;
pub(crate) mod subject;
mod validity;
mod verify;

pub use super::duration::BACKDATE;
pub(crate) use facts::{AltNameStep, push_alt_name, push_cert_alt_names, subject_cn_o};
pub use facts::{CertFacts, certs_from_pem};
pub use issue::{
    Authority, CertSpec, ExactKeyUsage, cert_pem, issue, issue_for_object, issue_for_public_key,
    issue_leaf_with_usages,
};
pub use validity::{DEFAULT_CA_VALIDITY, DEFAULT_VALIDITY, try_validity, validity};
pub use verify::{verify_chain, verify_signed_by};
