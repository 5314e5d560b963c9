//! kubepki: bootstrap and run the PKI of a self-managed Kubernetes cluster, compatible with what
//! kubeadm writes.
//!
//! The flow of every command: [`pki::selection`] turns names into catalog profiles and a
//! [`pki::plan::Request`]; [`pki::inventory::Inventory`] reads what is on disk once;
//! [`pki::plan::plan`] decides, as a pure function of the request, the inventory and the clock;
//! [`pki::plan::Plan::execute`] makes keys and certificates and hands every file to
//! [`pki::store`], the only code that writes. [`pki::expiration`] reports from the same
//! inventory. The binary is a thin layer over [`cli`].
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod exit;
pub mod host;
pub mod output;
pub mod pki;
/// `kubepki signer` (issue 15): the controller, on kube-rs and tokio.
pub mod signer;
