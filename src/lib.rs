//! kubepki: bootstrap and run the PKI of a self-managed Kubernetes cluster, compatible with what
//! kubeadm writes. The binary is a thin layer over [`cli`], which turns arguments into a
//! [`pki::plan::Request`], plans, and executes; the [`pki`] core holds the catalog and all
//! certificate logic.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod exit;
pub mod host;
pub mod output;
pub mod pki;
