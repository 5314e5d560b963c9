//! `kubepki csr`: a new key and a PKCS#10 request for any identity (what `openssl req -new` and
//! `cfssl genkey` do in the docs), from flags or a cfssl JSON request.
// The doc comments here are the command-line help (clap), written for a terminal.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use clap::Args;
use time::OffsetDateTime;

use super::settings::DEFAULT_CERT_DIR;
use super::signing::{self, RunArgs, SanList, flatten, read_csr_file, read_input, with_suffix};
use crate::exit::ExitStatus;
use crate::pki::Error;
use crate::pki::cert::{DEFAULT_CA_VALIDITY, DEFAULT_VALIDITY};
use crate::pki::csr::CsrSpec;
use crate::pki::identity::{self, check_subject_value};
use crate::pki::inventory::read_key;
use crate::pki::keys::KeyAlgorithm;
use crate::pki::plan::{IdentityMake, IdentityWant, Options, Request, Want};

#[derive(Debug, Args)]
pub struct CsrArgs {
    /// The subject common name (for a user: the Kubernetes user name).
    #[arg(long, value_name = "NAME")]
    pub cn: Option<String>,
    /// A subject organization (for a user: a Kubernetes group); repeat for several.
    #[arg(long = "org", value_name = "ORG")]
    pub orgs: Vec<String>,
    /// SANs (repeatable, or a comma list): DNS names, IPs, URI:..., email:..., or with DNS:/IP:
    /// prefixes as openssl writes them.
    #[arg(long = "san", value_name = "SAN,...")]
    pub sans: Vec<SanList>,
    /// Algorithm of the new key: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384 or
    /// ED25519 [default: RSA-2048, or the cfssl request's key].
    #[arg(long, value_name = "ALG", value_parser = KeyAlgorithm::from_str)]
    pub key_algorithm: Option<KeyAlgorithm>,
    /// A cfssl CSR request (JSON: CN, hosts, key, names[].O), a file or - for stdin; flags may
    /// add what it leaves out, not repeat what it sets.
    #[arg(long, value_name = "FILE|-")]
    pub cfssl: Option<PathBuf>,
    /// Write PREFIX.key (0600) and PREFIX.csr.
    #[arg(long, value_name = "PREFIX", conflicts_with_all = ["bare", "key_out", "csr_out"])]
    pub out: Option<PathBuf>,
    /// Write cfssljson -bare's names: PREFIX-key.pem (0600) and PREFIX.csr.
    #[arg(long, value_name = "PREFIX", conflicts_with_all = ["key_out", "csr_out"])]
    pub bare: Option<PathBuf>,
    /// Write the key to FILE (0600), with --csr-out.
    #[arg(long, value_name = "FILE", requires = "csr_out")]
    pub key_out: Option<PathBuf>,
    /// Write the request to FILE, with --key-out.
    #[arg(long, value_name = "FILE", requires = "key_out")]
    pub csr_out: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

pub(super) fn run(a: &CsrArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let (key_path, csr_path) = match (&a.out, &a.bare, &a.key_out, &a.csr_out) {
        (Some(p), _, _, _) => (with_suffix(p, ".key"), with_suffix(p, ".csr")),
        (_, Some(p), _, _) => (with_suffix(p, "-key.pem"), with_suffix(p, ".csr")),
        (_, _, Some(k), Some(c)) => (k.clone(), c.clone()),
        _ => {
            return Err(Error::usage(
                "--out",
                "say where the key and request go: --out PREFIX, --bare PREFIX, or --key-out \
                 and --csr-out",
            )
            .into());
        }
    };
    if key_path == csr_path {
        return Err(Error::usage("--key-out", "the key and the request need two files").into());
    }
    let (subject, key_algorithm) = identity_of(a)?;
    let want = IdentityWant {
        subject,
        key_algorithm,
        key_found: Arc::new(read_key(&key_path)),
        key_path,
        make: IdentityMake::Csr {
            found: Arc::new(read_csr_file(&csr_path)),
            path: csr_path,
        },
    };
    let request = Request {
        layout: signing::layout(DEFAULT_CERT_DIR.into()),
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
    signing::write(request, false, &a.run, "csr")
}

/// The subject, SANs and key algorithm: the flags, and the cfssl request for what they leave
/// out (a flag may not repeat what the request sets).
fn identity_of(a: &CsrArgs) -> anyhow::Result<(CsrSpec, KeyAlgorithm)> {
    let cfssl = match &a.cfssl {
        Some(path) => {
            let name = signing::input_name(path);
            let bytes = read_input(path, "--cfssl")?;
            identity::parse_cfssl_request(&name, &bytes)?
        }
        None => Default::default(),
    };
    let both = |flag: &str, field: &str| {
        Error::usage(
            flag,
            format!("conflicts with {field} in the --cfssl request; set it in one place"),
        )
    };
    if a.cn.is_some() && cfssl.common_name.is_some() {
        return Err(both("--cn", "CN").into());
    }
    if !a.orgs.is_empty() && !cfssl.organizations.is_empty() {
        return Err(both("--org", "names[].O").into());
    }
    if !a.sans.is_empty() && !cfssl.hosts.is_empty() {
        return Err(both("--san", "hosts").into());
    }
    if a.key_algorithm.is_some() && cfssl.key_algorithm.is_some() {
        return Err(both("--key-algorithm", "key").into());
    }
    let common_name = a.cn.clone().or(cfssl.common_name).unwrap_or_default();
    if a.cn.is_some() {
        check_subject_value(&common_name).map_err(|e| Error::usage("--cn", e))?;
    }
    for o in &a.orgs {
        check_subject_value(o).map_err(|e| Error::usage("--org", e))?;
    }
    let sans = if a.sans.is_empty() {
        cfssl.hosts
    } else {
        flatten(&a.sans)
    };
    let alt_names = identity::alt_names(&sans);
    if common_name.is_empty() && alt_names.is_empty() {
        return Err(Error::usage("--cn", "a request needs a common name or SANs").into());
    }
    let organizations = if a.orgs.is_empty() {
        cfssl.organizations
    } else {
        a.orgs.clone()
    };
    // cfssl makes ECDSA P-256 keys when its request has no `key`; kubepki's default elsewhere.
    let key_algorithm = a
        .key_algorithm
        .or(cfssl.key_algorithm)
        .unwrap_or(if a.cfssl.is_some() {
            KeyAlgorithm::EcdsaP256
        } else {
            KeyAlgorithm::DEFAULT
        });
    Ok((
        CsrSpec {
            common_name,
            organizations,
            alt_names,
        },
        key_algorithm,
    ))
}
