//! `kubepki issue-cert`: a new key and a certificate for any identity, signed by a CA with a
//! signing profile, in one step (the docs' `my-server` certificate, an `admin.crt`/`admin.key`
//! for `curl --cert`).
// The doc comments here are the command-line help (clap), written for a terminal.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use clap::Args;
use time::OffsetDateTime;

use super::signing::{self, CaArgs, ProfileArgs, RunArgs, SanList, flatten, with_suffix};
use crate::exit::ExitStatus;
use crate::pki::Error;
use crate::pki::cert::{DEFAULT_CA_VALIDITY, DEFAULT_VALIDITY};
use crate::pki::csr::CsrSpec;
use crate::pki::identity::{self, check_subject_value};
use crate::pki::inventory::{read_cert, read_key};
use crate::pki::keys::KeyAlgorithm;
use crate::pki::plan::{IdentityMake, IdentityWant, Options, Request, Want};

#[derive(Debug, Args)]
pub struct IssueCertArgs {
    /// The subject common name (for a client: the Kubernetes user name).
    #[arg(long, value_name = "NAME")]
    pub cn: Option<String>,
    /// A subject organization (for a client: a Kubernetes group); repeat for several.
    #[arg(long = "org", value_name = "ORG")]
    pub orgs: Vec<String>,
    /// SANs (repeatable, or a comma list): DNS names, IPs, URI:..., email:...
    #[arg(long = "san", value_name = "SAN,...")]
    pub sans: Vec<SanList>,
    /// Algorithm of the new key: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384 or
    /// ED25519 [default: RSA-2048].
    #[arg(long, value_name = "ALG", value_parser = KeyAlgorithm::from_str)]
    pub key_algorithm: Option<KeyAlgorithm>,
    #[command(flatten)]
    pub ca: CaArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Write PREFIX.key (0600) and PREFIX.crt.
    #[arg(long, value_name = "PREFIX", conflicts_with_all = ["key_out", "cert_out"])]
    pub out: Option<PathBuf>,
    /// Write the key to FILE (0600), with --cert-out.
    #[arg(long, value_name = "FILE", requires = "cert_out")]
    pub key_out: Option<PathBuf>,
    /// Write the certificate to FILE, with --key-out.
    #[arg(long, value_name = "FILE", requires = "key_out")]
    pub cert_out: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

pub(super) fn run(a: &IssueCertArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let (key_path, cert_path) = match (&a.out, &a.key_out, &a.cert_out) {
        (Some(p), _, _) => (with_suffix(p, ".key"), with_suffix(p, ".crt")),
        (_, Some(k), Some(c)) => (k.clone(), c.clone()),
        _ => {
            return Err(Error::usage(
                "--out",
                "say where the key and certificate go: --out PREFIX, or --key-out and --cert-out",
            )
            .into());
        }
    };
    if key_path == cert_path {
        return Err(Error::usage("--key-out", "the key and the certificate need two files").into());
    }
    let common_name = a.cn.clone().unwrap_or_default();
    if a.cn.is_some() {
        check_subject_value(&common_name).map_err(|e| Error::usage("--cn", e))?;
    }
    for o in &a.orgs {
        check_subject_value(o).map_err(|e| Error::usage("--org", e))?;
    }
    let alt_names = identity::alt_names(&flatten(&a.sans));
    if common_name.is_empty() && alt_names.is_empty() {
        return Err(Error::usage("--cn", "a certificate needs a common name or SANs").into());
    }
    let profile = a.profile.resolve()?;
    let ca = a.ca.source()?;
    let tree = ca.tree().is_some();
    let key_algorithm = a.key_algorithm.unwrap_or(KeyAlgorithm::DEFAULT);
    let want = IdentityWant {
        subject: CsrSpec {
            common_name,
            organizations: a.orgs.clone(),
            alt_names,
        },
        key_algorithm,
        key_found: Arc::new(read_key(&key_path)),
        key_path,
        make: IdentityMake::Cert {
            found: Arc::new(read_cert(&cert_path)),
            path: cert_path,
            profile,
            ca,
            validity: a.profile.validity,
        },
    };
    let request = Request {
        layout: signing::layout(a.ca.cert_dir()?),
        cluster: None,
        wants: vec![Want::Identity(Box::new(want))],
        options: Options {
            key_algorithm,
            validity: DEFAULT_VALIDITY,
            ca_validity: DEFAULT_CA_VALIDITY,
            force: a.run.force,
            reuse_key: false,
            keep_key_algorithm: false,
            now,
        },
    };
    signing::write(request, tree, &a.run, "issue-cert")
}
