//! `kubepki bootstrap-token`: the TLS-bootstrap kit (kubeadm's `bootstrap-token` phase and
//! `token create --print-join-command`, offline): a token, the manifests that make it work in
//! the cluster, a node's bootstrap kubeconfig, and the CA pin and join line.
// The doc comments here are the command-line help (clap), written for a terminal.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use time::{Duration, OffsetDateTime};

use super::args::{EndpointArgs, KubeconfigArgs};
use super::settings::{Resolved, cluster, load_config};
use crate::exit::ExitStatus;
use crate::output::{self, OutputFormat};
use crate::pki::bootstrap::Token;
use crate::pki::cert::{DEFAULT_CA_VALIDITY, DEFAULT_VALIDITY};
use crate::pki::duration::parse_duration;
use crate::pki::inventory::{Found, Inventory};
use crate::pki::keys::KeyAlgorithm;
use crate::pki::names::{Cluster, NodeSpec};
use crate::pki::plan::{
    self, KUBECONFIG_FILE, KitFile, KitWant, MANIFESTS_FILE, Options, Request, Want,
};
use crate::pki::{Error, catalog, store};

/// How long a run waits for another run on the same directory before giving up.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct BootstrapTokenArgs {
    /// Write bootstrap-token.yaml (the manifests to kubectl apply) and bootstrap-kubelet.conf
    /// (the kubelet's --bootstrap-kubeconfig) here, both 0600; created if missing.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,

    /// Use this token, [a-z0-9]{6}.[a-z0-9]{16} as `kubeadm token generate` makes them
    /// [default: a new random one].
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<SecretArg>,

    /// How long the token works, e.g. 24h, 30m, 7d; 0 for a token that never expires.
    // 24h is kubeadm's default (`kubeadm token create`, `kubeadm init`).
    #[arg(long, value_name = "DUR", default_value = "24h", value_parser = parse_ttl)]
    pub ttl: Duration,

    /// A description kept in the token's Secret (shown by `kubeadm token list`).
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// The groups the token authenticates as besides system:bootstrappers, each
    /// system:bootstrappers:<name> (repeat, or a comma list); kubeadm's node RBAC is bound to
    /// each [default: system:bootstrappers:kubeadm:default-node-token].
    #[arg(long, value_name = "GROUP,...", value_delimiter = ',')]
    pub groups: Vec<String>,

    /// The certificate directory: its ca.crt (every certificate in it) is what nodes are told
    /// to trust, and its first certificate is pinned [default: /etc/kubernetes/pki].
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// A kubeadm configuration file, for certificatesDir, controlPlaneEndpoint,
    /// localAPIEndpoint and clusterName.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// The port the API server listens on (used when --control-plane-endpoint has no port)
    /// [default: 6443].
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub apiserver_bind_port: Option<u16>,

    /// The cluster name inside the bootstrap kubeconfig [default: kubernetes].
    #[arg(long, value_name = "NAME")]
    pub cluster_name: Option<String>,

    /// Replace kit files that exist but hold another kit; the old files are kept, 0600, in a
    /// kubepki-backup/<time>/ directory.
    #[arg(long)]
    pub force: bool,

    /// Print what would be made and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Output format: text for people, json or yaml for scripts.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// A flag value that is a credential: never in `Debug`, never in a parse error (it is checked
/// later, by a parser whose errors do not repeat it).
#[derive(Clone)]
pub struct SecretArg(String);

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretArg(..)")
    }
}

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretArg(s.to_string()))
    }
}

/// A duration, or `0`: never expires (as kubeadm's `--ttl 0`).
fn parse_ttl(s: &str) -> Result<Duration, String> {
    match s.trim() {
        "0" => Ok(Duration::ZERO),
        _ => parse_duration(s),
    }
}

pub(super) fn run(a: &BootstrapTokenArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let token = match &a.token {
        Some(t) => Token::parse(&t.0).map_err(|e| Error::usage("--token", e))?,
        None => Token::generate().map_err(Error::Crypto)?,
    };
    let (resolved, cluster) = settings(a)?;
    let layout = resolved.layout(None);
    let ca = catalog::find(catalog::KUBECONFIG_CA)
        .ok_or_else(|| Error::Crypto("internal: no cluster CA in the catalog".into()))?;
    let want = KitWant {
        token,
        ttl: a.ttl,
        description: a.description.clone().unwrap_or_default(),
        groups: a.groups.clone(),
        server: cluster.control_plane_url(),
        cluster_name: cluster.cluster_name.clone(),
        ca_path: layout.cert_path(ca, ""),
        manifests: kit_file(&a.out_dir.join(MANIFESTS_FILE)),
        kubeconfig: kit_file(&a.out_dir.join(KUBECONFIG_FILE)),
    };
    let request = Request {
        layout,
        cluster: None,
        wants: vec![Want::BootstrapKit(Box::new(want))],
        options: Options {
            key_algorithm: KeyAlgorithm::DEFAULT,
            validity: DEFAULT_VALIDITY,
            ca_validity: DEFAULT_CA_VALIDITY,
            force: a.force,
            reuse_key: false,
            keep_key_algorithm: false,
            now,
        },
    };
    write(request, a)
}

/// The tree and the cluster: flags, else `--config`, else kubeadm's defaults.
fn settings(a: &BootstrapTokenArgs) -> anyhow::Result<(Resolved, Cluster)> {
    let config = load_config(a.config.as_ref())?;
    if let Some(c) = config.as_ref().filter(|c| c.bootstrap_tokens) {
        return Err(Error::usage(
            "--config",
            format!(
                "{} sets bootstrapTokens, which bootstrap-token does not read: give the token \
                 with --token, --ttl, --description and --groups (and remove bootstrapTokens)",
                c.path.display()
            ),
        )
        .into());
    }
    let resolved = Resolved::from_parts(config, a.cert_dir.clone(), None, None, None)?;
    let kubeconfig = KubeconfigArgs {
        kubeconfig_dir: None,
        apiserver_bind_port: a.apiserver_bind_port,
        cluster_name: a.cluster_name.clone(),
    };
    // The node name only shapes SANs, which the kit has none of.
    let node = NodeSpec {
        name: String::new(),
        addresses: Vec::new(),
    };
    let cluster = cluster(
        &a.endpoint,
        None,
        Some(&kubeconfig),
        &node,
        resolved.config(),
    )?;
    Ok((resolved, cluster))
}

/// What is at a kit file's path now.
fn kit_file(path: &Path) -> KitFile {
    let found = match store::read_file(path) {
        Ok(None) => Found::Missing,
        Ok(Some(f)) => Found::Present(Box::new(f)),
        Err(e) => Found::Broken(e.into()),
    };
    KitFile {
        path: path.to_path_buf(),
        found: Arc::new(found),
    }
}

/// Plans the kit and prints it (`--dry-run`), or, holding the locks of the tree it reads the CA
/// from and of the output directory, plans it again on what is there now, writes and reports.
fn write(request: Request, a: &BootstrapTokenArgs) -> anyhow::Result<ExitStatus> {
    let layout = request.layout.clone();
    let mut roots = vec![layout.cert_dir(), layout.kubeconfig_dir()];
    roots.dedup();
    if a.dry_run {
        for root in &roots {
            if store::pending(root)? {
                return Err(Error::bad_file(
                    root.join(store::JOURNAL),
                    "an interrupted kubepki run left this journal; run a command that writes to \
                     this tree without --dry-run to complete it",
                )
                .into());
            }
        }
        let inventory = Inventory::read(&layout, &request.files());
        let plan = plan::plan(&request, &inventory).context("nothing was written")?;
        let (item, kit) = planned_kit(&plan)?;
        output::bootstrap::print(&item.decision, kit, true, a.output)?;
        return Ok(ExitStatus::Success);
    }
    let _tree = store::Lock::acquire(layout.cert_dir(), LOCK_WAIT)?;
    for root in &roots {
        super::pipeline::recover(root)?;
    }
    // A second flock on the same directory would wait for this run's own lock.
    let same = |x: &Path, y: &Path| match (x.canonicalize(), y.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => x == y,
    };
    let _out = match same(&a.out_dir, layout.cert_dir()) {
        true => None,
        false => Some(store::Lock::acquire(&a.out_dir, LOCK_WAIT)?),
    };
    // Read again under the locks: another run may have written the kit meanwhile.
    let request = reread_outputs(request);
    let inventory = Inventory::read(&layout, &request.files());
    let plan = plan::plan(&request, &inventory).context("nothing was written")?;
    let kit = planned_kit(&plan)?.1.clone();
    let outcomes = plan
        .execute()
        .context("writing the kit failed; files already there are unchanged")?;
    let outcome = outcomes.first().ok_or_else(not_planned)?;
    output::bootstrap::print(&outcome.decision, &kit, false, a.output)?;
    Ok(ExitStatus::Success)
}

fn reread_outputs(mut request: Request) -> Request {
    for want in &mut request.wants {
        if let Want::BootstrapKit(w) = want {
            w.manifests = kit_file(&w.manifests.path);
            w.kubeconfig = kit_file(&w.kubeconfig.path);
        }
    }
    request
}

/// The plan's one item and its kit.
fn planned_kit(plan: &plan::Plan) -> anyhow::Result<(&plan::PlanItem, &plan::KitReport)> {
    let item = plan.items.first().ok_or_else(not_planned)?;
    let kit = item.bootstrap_kit().ok_or_else(not_planned)?;
    Ok((item, kit))
}

fn not_planned() -> Error {
    Error::Crypto("internal: the kit was not planned".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_zero_never_expires_and_durations_parse() {
        assert_eq!(parse_ttl("0").unwrap(), Duration::ZERO);
        // 24h is kubeadm's default TTL (`kubeadm token create`, `kubeadm init`).
        assert_eq!(parse_ttl("24h").unwrap(), Duration::hours(24));
        assert!(parse_ttl("soon").is_err());
    }

    #[test]
    fn a_token_flag_is_never_debug_printed() {
        let arg: SecretArg = "abcdef.0123456789abcdef".parse().unwrap();
        assert!(!format!("{arg:?}").contains("0123456789abcdef"));
    }
}
