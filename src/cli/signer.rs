//! `kubepki signer`: a controller that signs the CertificateSigningRequests of one signerName on
//! a real API server (see [`crate::signer`]). Its flags are checked and its CA loaded before
//! anything async starts; the tokio runtime and the API client exist only in this command.
// The doc comments here are the command-line help (clap), written for a terminal.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use time::OffsetDateTime;

use super::signer_policy::PolicyArgs;
use super::signing::{CaArgs, ProfileArgs};
use crate::exit::ExitStatus;
use crate::pki::Error;
use crate::pki::csr_object::decide::DEFAULT_SIGNING_DURATION;
use crate::pki::csr_object::{Rules, Signer, api};
use crate::pki::inventory::{read_cert, read_key};
use crate::pki::plan::{CaPairFiles, CaSource, load_ca};
use crate::pki::profile::BuiltinSigner;
use crate::pki::untrusted::quote_input;

#[derive(Debug, Args)]
pub struct SignerArgs {
    /// The kubeconfig to reach the API server with. Its user needs get, list, watch on
    /// certificatesigningrequests, update on certificatesigningrequests/status, and sign on
    /// signers/<signer-name> (see the README).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: PathBuf,
    /// The signerName to serve: a custom one (with --profile) or one of the built-in
    /// kubernetes.io signers (their rules and texts).
    #[arg(long, value_name = "NAME")]
    pub signer_name: String,
    #[command(flatten)]
    pub ca: CaArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Process the objects there are now and exit (for CI and cron).
    #[arg(long)]
    pub once: bool,
}

pub(super) fn run(a: &SignerArgs) -> anyhow::Result<ExitStatus> {
    let now = OffsetDateTime::now_utc();
    let name = &a.signer_name;
    let errors = api::signer_name_errors(name);
    if !errors.is_empty() {
        return Err(Error::usage("--signer-name", errors.join("; ")).into());
    }
    let (rules, duration) = match BuiltinSigner::from_name(name) {
        Some(builtin) => (Rules::Builtin(builtin), DEFAULT_SIGNING_DURATION),
        None if name.starts_with("kubernetes.io/") => {
            return Err(Error::usage(
                "--signer-name",
                format!(
                    "{} is not a signer kube-controller-manager has ({})",
                    quote_input(name),
                    BuiltinSigner::ALL.map(|s| s.name()).join(", ")
                ),
            )
            .into());
        }
        None => {
            let profile = a.profile.resolve()?;
            let validity = profile.validity;
            (Rules::Profile(profile), validity)
        }
    };
    let signer = Signer {
        signer_name: name.clone(),
        rules,
        policy: a.policy.policy(),
        duration: a.profile.validity.unwrap_or(duration),
    };
    let pair = match a.ca.source()? {
        CaSource::Files(pair) => pair,
        CaSource::Tree(profile) => {
            let layout = super::signing::layout(a.ca.cert_dir()?);
            let cert_path = layout.cert_path(profile, "");
            let key_path = layout.key_path(profile, "");
            Arc::new(CaPairFiles {
                cert: read_cert(&cert_path),
                key: read_key(&key_path),
                cert_path,
                key_path,
            })
        }
    };
    let ca = load_ca(pair, now)?;
    if !a.kubeconfig.is_file() {
        return Err(Error::usage(
            "--kubeconfig",
            format!("{} is not a file", a.kubeconfig.display()),
        )
        .into());
    }
    let config = crate::signer::Config {
        signer,
        ca,
        kubeconfig: a.kubeconfig.clone(),
        once: a.once,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Crypto(format!("cannot start the async runtime: {e}")))?;
    let stats = runtime.block_on(crate::signer::run(config))?;
    Ok(if stats.errors > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
