//! `kubepki sign CSR|-`: sign a PKCS#10 request with a CA of the tree or a CA pair given, with a
//! signing profile (what `openssl x509 -req` and `cfssl sign` do in the docs).
// The doc comments here are the command-line help (clap), written for a terminal.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::Args;
use time::OffsetDateTime;

use super::signing::{
    self, CaArgs, ProfileArgs, RunArgs, SanList, flatten, input_name, output_cert, read_input,
};
use crate::exit::ExitStatus;
use crate::pki::cert::{DEFAULT_CA_VALIDITY, DEFAULT_VALIDITY};
use crate::pki::identity::SanEdits;
use crate::pki::keys::KeyAlgorithm;
use crate::pki::plan::{Options, Request, SignWant, Want};
use crate::pki::{Error, csr};

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The certificate request: a file (PEM or DER), or - for stdin. Its signature must verify
    /// (proof of possession); the certificate gets its subject and SANs, never the usages or
    /// CA:TRUE it may ask for.
    #[arg(value_name = "CSR")]
    pub csr: PathBuf,
    #[command(flatten)]
    pub ca: CaArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Add SANs to the request's (repeatable, or a comma list): DNS names, IPs, URI:...,
    /// email:...; the result says which were added.
    #[arg(long = "san", value_name = "SAN,...")]
    pub sans: Vec<SanList>,
    /// Keep only these of the request's SANs (repeatable, or a comma list); the result says
    /// which were dropped.
    #[arg(long = "only-san", value_name = "SAN,...")]
    pub only_sans: Vec<SanList>,
    /// Write the certificate to FILE (0644) instead of stdout; an existing file is replaced
    /// only with --force, and kept as a backup.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Append the CA certificate file's certificates to the output (a chain for servers).
    #[arg(long)]
    pub bundle: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

pub(super) fn run(a: &SignArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let profile = a.profile.resolve()?;
    let source = input_name(&a.csr);
    let bytes = read_input(&a.csr, "CSR")?;
    let request = csr::parse(&bytes).map_err(|e| {
        let truncated = bytes.windows(11).any(|w| w == b"-----BEGIN ")
            && !bytes.windows(9).any(|w| w == b"-----END ");
        match truncated {
            true => Error::bad_file(&source, "its PEM block has no END line (truncated)"),
            false => Error::bad_file(&source, e),
        }
    })?;
    let ca = a.ca.source()?;
    let tree = ca.tree().is_some();
    let want = SignWant {
        request,
        source,
        profile,
        ca,
        edits: SanEdits {
            add: flatten(&a.sans),
            only: (!a.only_sans.is_empty()).then(|| flatten(&a.only_sans)),
        },
        validity: a.profile.validity,
        out: a.out.as_deref().map(output_cert),
        bundle: a.bundle,
    };
    let request = Request {
        layout: signing::layout(a.ca.cert_dir()?),
        cluster: None,
        wants: vec![Want::Sign(Box::new(want))],
        options: Options {
            key_algorithm: KeyAlgorithm::DEFAULT,
            validity: DEFAULT_VALIDITY,
            ca_validity: DEFAULT_CA_VALIDITY,
            force: a.run.force,
            reuse_key: false,
            keep_key_algorithm: false,
            now,
        },
    };
    signing::write(request, tree, &a.run, "sign")
}
