//! `kubepki renew NAME...`: kubeadm's `certs renew`.

use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use time::OffsetDateTime;

use super::pipeline::{self, Epilogue};
use super::settings::{Resolved, external_etcd_note, load_config};
use crate::exit::ExitStatus;
use crate::output::OutputFormat;
use crate::pki::duration::parse_duration;
use crate::pki::inventory;
use crate::pki::keys::KeyAlgorithm;
use crate::pki::plan::{Request, Want};
use crate::pki::{Error, names, selection};

#[derive(Debug, Args)]
pub struct RenewArgs {
    #[arg(value_name = "NAME", required = true, help = selection::renew_help())]
    pub names: Vec<String>,

    /// A kubeadm configuration file; renew reads certificatesDir, certificateValidityPeriod
    /// and encryptionAlgorithm from it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The certificate directory (kubeadm's certificatesDir) [default: /etc/kubernetes/pki].
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Directory of the kubeconfig files (default: the parent of --cert-dir).
    #[arg(long, value_name = "DIR")]
    pub kubeconfig_dir: Option<PathBuf>,

    /// Keep the existing private keys; only the certificates are re-issued.
    #[arg(long)]
    pub reuse_key: bool,

    /// Algorithm of the new keys (default: the algorithm of the key each one replaces).
    #[arg(long, value_name = "ALG", value_parser = KeyAlgorithm::from_str, conflicts_with = "reuse_key")]
    pub key_algorithm: Option<KeyAlgorithm>,

    /// Validity of the renewed certificates, from now [default: 1y].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub validity: Option<time::Duration>,

    /// Per-node certificates and kubeconfigs: renew only these nodes (default: every node found).
    #[arg(long = "node-name", value_name = "NAME")]
    pub nodes: Vec<String>,

    /// Print what would be renewed and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Renew only what expires within DUR (e.g. 30d); the rest is skipped, so a daily timer is a
    /// no-op until something is due, and exits 0.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub within: Option<time::Duration>,

    /// Output format: text for people, json or yaml for scripts.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
    #[command(flatten)]
    pub explain: super::args::ExplainArgs,
}

pub(super) fn run(a: &RenewArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let config = load_config(a.config.as_ref())?;
    let resolved = Resolved::from_parts(
        config,
        a.cert_dir.clone(),
        a.key_algorithm,
        a.validity,
        None,
    )?;
    let layout = resolved.layout(a.kubeconfig_dir.as_ref());
    for node in &a.nodes {
        names::validate_dns_name(node, false).map_err(|e| Error::usage("--node-name", e))?;
    }
    external_etcd_note(&resolved);
    for dir in inventory::unusable_node_dirs(&layout) {
        eprintln!("[warning] {dir:?}: not a node name; ignored");
    }
    let selection = resolved.selection();
    let mut wants = Vec::new();
    for name in &a.names {
        let targets = selection.renew(name, &layout, &a.nodes)?;
        let explicit = name != "all";
        if targets.is_empty() && explicit {
            return Err(Error::bad_file(
                layout.cert_dir(),
                format!("{name}: nothing to renew (no per-node certificates or kubeconfigs found)"),
            )
            .into());
        }
        wants.extend(targets.into_iter().map(|target| Want::Renew {
            target,
            explicit,
            within: a.within,
        }));
    }
    let mut options = resolved.options(false, now)?;
    options.reuse_key = a.reuse_key;
    options.keep_key_algorithm = resolved.key_algorithm.is_none();
    let request = Request {
        layout,
        cluster: None,
        wants,
        options,
    };
    if a.explain.explain {
        return pipeline::explain(&request, "renew");
    }
    pipeline::write(request, a.dry_run, a.output, Epilogue::RestartAfterRenew)
}
