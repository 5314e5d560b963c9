//! kubepki: bootstrap and run the PKI of a self-managed Kubernetes cluster, compatible with what
//! kubeadm writes.
//!
//! The flow of every command: [`pki::selection`] turns names into catalog profiles and a
//! [`pki::plan::Request`]; [`pki::inventory::Inventory`] reads what is on disk once;
//! [`pki::plan::plan`] decides, as a pure function of the request, the inventory and the clock;
//! [`pki::plan::Plan::execute`] makes keys and certificates and hands every file to
//! [`pki::store`], the only code that writes. [`pki::expiration`] reports from the same
//! inventory. The binary is a thin layer over [`cli`].
//!
//! What is public, and so kept stable:
//! - [`pki`], the building blocks: the [`pki::catalog`] of profiles, [`pki::keys`],
//!   [`pki::cert`], [`pki::csr`], [`pki::names`], the planner ([`pki::selection`],
//!   [`pki::plan`], [`pki::inventory`], [`pki::store`]), the [`pki::expiration`] report, and the
//!   types of kubeconfigs, signing profiles and identities, CertificateSigningRequest objects
//!   and the TLS-bootstrap kit;
//! - [`config`], kubeadm configuration files as input;
//! - [`cli`], the command line as a call ([`cli::Cli`], [`cli::run`]); its flags are the
//!   binary's interface, not types of the library;
//! - [`exit`], the exit codes.
//!
//! The rendering of reports, the `signer` controller and the internals of `audit`, `inspect` and
//! `component-flags` are private to the crate: use the binary for those.
//!
//! Issue a kubeadm tree into a directory and read its expiry report (`kubepki init` and
//! `kubepki check-expiration`):
//!
//! ```
//! use kubepki::pki::{cert, expiration, inventory::Inventory, keys::KeyAlgorithm, plan};
//! use kubepki::pki::names::{Cluster, NodeSpec, parse_service_cidrs};
//! use kubepki::pki::{selection::Selection, store::Layout};
//!
//! let dir = tempfile::tempdir()?;
//! let layout = Layout::new(dir.path().join("pki"), dir.path());
//! let node: NodeSpec = "node-1".parse()?;
//! let now = time::OffsetDateTime::now_utc();
//! let request = plan::Request {
//!     layout: layout.clone(),
//!     cluster: Some(Cluster {
//!         node_name: "node-1".into(),
//!         advertise_address: "192.168.1.10".parse()?,
//!         control_plane_endpoint: None,
//!         apiserver_extra_sans: vec![],
//!         service_cidrs: parse_service_cidrs("10.96.0.0/12")?,
//!         dns_domain: "cluster.local".into(),
//!         etcd_server_extra_sans: vec![],
//!         etcd_peer_extra_sans: vec![],
//!         bind_port: 6443,
//!         cluster_name: "kubernetes".into(),
//!     }),
//!     wants: Selection::new(false).init(&node),
//!     options: plan::Options {
//!         key_algorithm: KeyAlgorithm::EcdsaP256,
//!         validity: cert::DEFAULT_VALIDITY,
//!         ca_validity: cert::DEFAULT_CA_VALIDITY,
//!         force: false,
//!         reuse_key: false,
//!         keep_key_algorithm: false,
//!         now,
//!     },
//! };
//! let inventory = Inventory::read(&layout, &request.files());
//! plan::plan(&request, &inventory)?.execute()?;
//! let report = expiration::report(&expiration::Request {
//!     layout: Some(layout),
//!     paths: vec![],
//!     now,
//!     warn_within: time::Duration::days(30),
//!     fail_within: None,
//! });
//! assert!(!report.has_missing_or_invalid() && !report.has_expiring());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Verify and sign a certificate request (`kubepki sign`), here for a key made on the spot:
//!
//! ```
//! use kubepki::pki::cert::{self, Authority, CertSpec};
//! use kubepki::pki::csr::{self, CsrSpec};
//! use kubepki::pki::keys::{KeyAlgorithm, PrivateKey};
//! use kubepki::pki::{catalog::ExtUsage, names::AltNames};
//!
//! let now = time::OffsetDateTime::now_utc();
//! let ca_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
//! let (not_before, not_after) = cert::validity(now, cert::DEFAULT_CA_VALIDITY);
//! let ca_spec = CertSpec { common_name: "example-ca".into(), organizations: vec![],
//!     alt_names: AltNames::default(), usages: vec![], is_ca: true, not_before, not_after };
//! let ca = Authority::new(cert::issue(&ca_spec, &ca_key, None)?, ca_key)?;
//!
//! let user_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
//! let spec = CsrSpec { common_name: "jane".into(), organizations: vec!["dev".into()],
//!     alt_names: AltNames::default() };
//! let pem = csr::csr_pem(&csr::build(&spec, &user_key)?);
//! let request = csr::parse(pem.as_bytes())?; // the request's own signature is verified
//! let (not_before, not_after) = cert::validity(now, cert::DEFAULT_VALIDITY);
//! let leaf = CertSpec { common_name: request.spec.common_name.clone(),
//!     organizations: request.spec.organizations.clone(), alt_names: AltNames::default(),
//!     usages: vec![ExtUsage::ClientAuth], is_ca: false, not_before, not_after };
//! let der = cert::issue_for_public_key(&leaf, &request.public_key, &ca)?;
//! assert!(cert::verify_chain(&[der], &ca.cert_der).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod exit;
pub(crate) mod host;
pub(crate) mod output;
pub mod pki;
/// `kubepki signer` (issue 15): the controller, on kube-rs and tokio.
pub(crate) mod signer;
