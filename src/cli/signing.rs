//! What `csr`, `sign` and `issue-cert` share: their flag groups (the CA, the profile, output and
//! run flags), reading their input files, and their write path.
//!
//! Their write path is the pipeline's (`pipeline.rs`) where they touch the tree: when the CA is
//! one of the tree, or a file they write is inside the certificate or kubeconfig directory, the
//! run takes the directory lock and completes an interrupted run first. Files elsewhere (the
//! usual `--out`) are written atomically by the same store, without the tree's lock.
// The doc comments here are the command-line help (clap), written for a terminal.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use time::Duration;

use super::settings::{self, load_config};
use crate::exit::ExitStatus;
use crate::output::{self, OutputFormat};
use crate::pki::duration::parse_duration;
use crate::pki::identity::{AnySan, parse_san_list};
use crate::pki::inventory::{Found, Inventory, read_cert, read_key};
use crate::pki::plan::{self, CaPairFiles, CaSource, OutputFile, Request};
use crate::pki::profile::{self, Profile, ProfileFile};
use crate::pki::store::{self, Layout};
use crate::pki::{Error, catalog, csr};

/// How long a run waits for another run on the same directory before giving up.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The CA that signs.
#[derive(Debug, Args)]
pub struct CaArgs {
    /// A CA of the tree: ca, front-proxy-ca or etcd-ca [default: ca, unless --ca-cert is given].
    #[arg(long, value_name = "NAME", value_parser = parse_tree_ca)]
    pub ca: Option<&'static catalog::Profile>,

    /// Sign with this CA certificate instead of one of the tree (with --ca-key).
    #[arg(long, value_name = "FILE", requires = "ca_key", conflicts_with = "ca")]
    pub ca_cert: Option<PathBuf>,

    /// The private key of --ca-cert; it must match the certificate.
    #[arg(long, value_name = "FILE", requires = "ca_cert")]
    pub ca_key: Option<PathBuf>,

    /// The certificate directory the --ca is read from [default: /etc/kubernetes/pki].
    #[arg(long, value_name = "DIR", conflicts_with = "ca_cert")]
    pub cert_dir: Option<PathBuf>,

    /// A kubeadm configuration file, for its certificatesDir.
    #[arg(long, value_name = "FILE", conflicts_with = "ca_cert")]
    pub config: Option<PathBuf>,
}

/// The signing profile.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The signing profile: a built-in one, or one of --profile-file. Built-in (each valid 1y):
    /// server, client, peer, kubelet-serving, kubelet-client, kube-apiserver-client.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// A file of signing profiles: kubepki's (profiles: NAME: usages, validity, ...) or a cfssl
    /// signing configuration ({"signing": {"default": ..., "profiles": ...}}), YAML or JSON.
    #[arg(long, value_name = "FILE")]
    pub profile_file: Option<PathBuf>,

    /// Validity of the certificate, e.g. 90d, 1y, 8760h [default: the profile's]; cut at the
    /// CA's expiry, with a warning.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub validity: Option<Duration>,
}

/// Flags every signing command has.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Replace output files that exist but are not what is asked; the old files are kept under
    /// kubepki-backup/<time>/ beside them.
    #[arg(long)]
    pub force: bool,

    /// Print what would be done and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print, instead of doing it, the openssl commands that make the same files (the docs'
    /// walkthrough, generated from this run's plan); writes nothing.
    #[arg(long, conflicts_with = "dry_run")]
    pub explain: bool,

    /// Output format: text for people, json or yaml for scripts.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// SANs as typed: repeatable, comma lists; DNS, IP, URI:..., email:... or detected.
#[derive(Debug, Clone)]
pub struct SanList(pub Vec<AnySan>);

impl std::str::FromStr for SanList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_san_list(s).map(SanList)
    }
}

pub(super) fn flatten(lists: &[SanList]) -> Vec<AnySan> {
    lists.iter().flat_map(|l| l.0.iter().cloned()).collect()
}

fn parse_tree_ca(s: &str) -> Result<&'static catalog::Profile, String> {
    catalog::authorities().find(|p| p.name == s).ok_or_else(|| {
        format!(
            "{} is not a CA of the tree; expected one of {} (or give --ca-cert and --ca-key)",
            crate::pki::untrusted::quote_input(s),
            catalog::authorities()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

impl CaArgs {
    /// The certificate directory (from --cert-dir or the config's certificatesDir).
    pub(super) fn cert_dir(&self) -> anyhow::Result<PathBuf> {
        let config = load_config(self.config.as_ref())?;
        settings::cert_dir(config.as_ref(), self.cert_dir.clone())
    }

    /// The CA: a pair given by path (read now), or a CA of the tree (read by the inventory).
    pub(super) fn source(&self) -> anyhow::Result<CaSource> {
        match (&self.ca_cert, &self.ca_key) {
            (Some(cert_path), Some(key_path)) => Ok(CaSource::Files(Arc::new(CaPairFiles {
                cert: read_cert(cert_path),
                key: read_key(key_path),
                cert_path: cert_path.clone(),
                key_path: key_path.clone(),
            }))),
            (None, None) => Ok(CaSource::Tree(match self.ca {
                Some(p) => p,
                None => parse_tree_ca(catalog::KUBECONFIG_CA).map_err(anyhow::Error::msg)?,
            })),
            _ => Err(Error::usage("--ca-cert/--ca-key", "are given together").into()),
        }
    }
}

impl ProfileArgs {
    /// The profile: from --profile-file, else built in.
    pub(super) fn resolve(&self) -> anyhow::Result<Profile> {
        let file = match &self.profile_file {
            None => None,
            Some(path) => Some(read_profile_file(path)?),
        };
        Ok(profile::resolve(self.profile.as_deref(), file.as_ref())?)
    }
}

fn read_profile_file(path: &Path) -> anyhow::Result<ProfileFile> {
    let bytes = read_input(path, "--profile-file")?;
    Ok(profile::load_file(path, &bytes)?)
}

/// Reads an input file named on the command line (`-` is stdin): regular files only, at most
/// 1 MiB. A file that does not exist is a usage error naming `flag`.
pub(super) fn read_input(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        return Ok(store::read_stdin()?);
    }
    match store::read_file(path)? {
        Some(f) => Ok(f.bytes),
        None => Err(Error::usage(flag, format!("{} does not exist", path.display())).into()),
    }
}

/// The name messages give an input (`<stdin>` for `-`).
pub(super) fn input_name(path: &Path) -> PathBuf {
    if path == Path::new("-") {
        PathBuf::from("<stdin>")
    } else {
        path.to_path_buf()
    }
}

/// A certificate output file and what is there now.
pub(super) fn output_cert(path: &Path) -> OutputFile {
    OutputFile {
        path: path.to_path_buf(),
        found: Arc::new(read_cert(path)),
    }
}

/// What is at a request output path now.
pub(super) fn read_csr_file(path: &Path) -> Found<csr::Request> {
    match store::read_file(path) {
        Ok(None) => Found::Missing,
        Ok(Some(f)) => match csr::parse(&f.bytes) {
            Ok(r) => Found::Present(Box::new(r)),
            Err(e) => Found::Broken(Error::bad_file(path, e).into()),
        },
        Err(e) => Found::Broken(e.into()),
    }
}

/// `PREFIX` + `suffix` (`./admin` + `.crt`).
pub(super) fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Plans `request` and prints the plan (`--dry-run`) or carries it out and reports. The tree's
/// lock is taken when the request reads a CA of the tree (`tree`) or writes inside the tree.
pub(super) fn write(
    request: Request,
    tree: bool,
    run: &RunArgs,
    command: &str,
) -> anyhow::Result<ExitStatus> {
    if run.explain {
        return super::pipeline::explain(&request, command);
    }
    write_with(request, tree, run, |outcomes| {
        output::signing::print_outcomes(outcomes, run.output)
    })
}

/// [`write`], with `print` saying what was done.
pub(super) fn write_with(
    request: Request,
    tree: bool,
    run: &RunArgs,
    print: impl FnOnce(&[plan::Outcome]) -> anyhow::Result<()>,
) -> anyhow::Result<ExitStatus> {
    let layout = request.layout.clone();
    let roots = roots(&layout);
    let outputs: Vec<PathBuf> = request_outputs(&request);
    let in_tree = tree
        || outputs
            .iter()
            .any(|f| roots.iter().any(|r| f.starts_with(r)));
    if run.dry_run {
        if in_tree {
            for root in &roots {
                if store::pending(root)? {
                    return Err(Error::bad_file(
                        root.join(store::JOURNAL),
                        "an interrupted kubepki run left this journal; run a command that \
                         writes to this tree without --dry-run to complete it",
                    )
                    .into());
                }
            }
        }
        let inventory = Inventory::read(&layout, &request.files());
        let plan = plan::plan(&request, &inventory).context("nothing was written")?;
        output::signing::print_plan(&plan, run.output)?;
        return Ok(ExitStatus::Success);
    }
    let _lock = match in_tree {
        true => Some(store::Lock::acquire(layout.cert_dir(), LOCK_WAIT)?),
        false => None,
    };
    if in_tree {
        for root in &roots {
            super::pipeline::recover(root)?;
        }
    }
    let inventory = Inventory::read(&layout, &request.files());
    let plan = plan::plan(&request, &inventory).context("nothing was written")?;
    let outcomes = plan
        .execute()
        .context("writing failed; files already there are unchanged")?;
    print(&outcomes)?;
    Ok(ExitStatus::Success)
}

fn roots(layout: &Layout) -> Vec<&Path> {
    let mut roots = vec![layout.cert_dir(), layout.kubeconfig_dir()];
    roots.dedup();
    roots
}

/// Every file a request may write, as planned from the wants alone.
fn request_outputs(request: &Request) -> Vec<PathBuf> {
    use crate::pki::plan::{IdentityMake, Want};
    let mut out = Vec::new();
    for want in &request.wants {
        match want {
            Want::Sign(w) => out.extend(w.out.iter().map(|o| o.path.clone())),
            Want::CsrObjects(w) => out.extend(w.out.iter().cloned()),
            Want::Identity(w) => {
                out.push(w.key_path.clone());
                out.push(match &w.make {
                    IdentityMake::Csr { path, .. } | IdentityMake::Cert { path, .. } => {
                        path.clone()
                    }
                });
            }
            _ => {}
        }
    }
    out
}

/// The layout of a signing run: the tree of `cert_dir` (its kubeconfig directory the parent).
pub(super) fn layout(cert_dir: PathBuf) -> Layout {
    let kubeconfig_dir = Layout::default_kubeconfig_dir(&cert_dir);
    Layout::new(cert_dir, kubeconfig_dir)
}
