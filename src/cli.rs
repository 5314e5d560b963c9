//! The command line: flags (clap derive; the doc comments are the help text), turned into a
//! [`Request`], planned, then executed or printed (`--dry-run`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use time::{Duration, OffsetDateTime};

use crate::config::{self, KubeadmConfig};
use crate::exit::{EXIT_CODES_HELP, ExitStatus};
use crate::host;
use crate::output;
use crate::pki::catalog::{self, Scope};
use crate::pki::cert::{DEFAULT_CA_VALIDITY, DEFAULT_VALIDITY};
use crate::pki::duration::parse_duration;
use crate::pki::expiration;
use crate::pki::keys::KeyAlgorithm;
use crate::pki::names::{self, Cluster, Endpoint, NodeSpec, San};
use crate::pki::plan::{self, Options, Request, Want};
use crate::pki::store::{self, Layout};

/// How long a run waits for another run on the same directory before giving up.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
use crate::pki::{Error, ErrorKind};

#[derive(Debug, Parser)]
#[command(
    name = "kubepki",
    version,
    about = "Bootstrap and run the PKI of a self-managed Kubernetes cluster, as kubeadm lays it out",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the CAs, the service-account key pair, every control-plane certificate and the
    /// five kubeconfigs (kubeadm init phase certs all + init phase kubeconfig all).
    #[command(after_help = EXIT_CODES_HELP)]
    Init(InitArgs),
    /// Create the three CAs (ca, front-proxy-ca, etcd/ca) and the service-account key pair.
    #[command(after_help = EXIT_CODES_HELP)]
    InitCa(InitCaArgs),
    /// Issue leaf certificates signed by the existing CAs.
    #[command(after_help = EXIT_CODES_HELP)]
    Issue(IssueArgs),
    /// Write kubeconfig files with client certificates signed by the cluster CA
    /// (kubeadm init phase kubeconfig, kubeadm kubeconfig user).
    #[command(after_help = EXIT_CODES_HELP)]
    WriteKubeconfig(WriteKubeconfigArgs),
    /// Renew leaf certificates and kubeconfig client certificates, keeping their subject,
    /// SANs and usages (kubeadm certs renew); CAs are not renewed.
    #[command(after_help = EXIT_CODES_HELP)]
    Renew(RenewArgs),
    /// Report when certificates expire: the kubeadm tree, per-node kubelet certificates,
    /// kubeconfig client certificates, and any extra files or directories (kubeadm certs
    /// check-expiration, with exit codes for CI).
    #[command(after_help = EXIT_CODES_HELP)]
    CheckExpiration(CheckExpirationArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Yaml,
}

/// Flags every file-writing command has.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// A kubeadm configuration file (kubeadm.k8s.io/v1beta3 or v1beta4 InitConfiguration and
    /// ClusterConfiguration); flags fill in what it leaves out, and may not repeat what it sets.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The certificate directory (kubeadm's certificatesDir) [default: /etc/kubernetes/pki].
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Algorithm of new keys: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384 or ED25519
    /// (kubeadm's encryptionAlgorithm names; ED25519 cannot be used for sa.key, and kubeadm
    /// itself cannot read Ed25519 keys) [default: RSA-2048].
    #[arg(long, value_name = "ALG", value_parser = KeyAlgorithm::from_str)]
    pub key_algorithm: Option<KeyAlgorithm>,

    /// Replace files that exist but do not match the request; the old files are kept under
    /// <cert-dir>/kubepki-backup/<time>/.
    #[arg(long)]
    pub force: bool,

    /// Print what would be done and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Output format: text for people, json or yaml for scripts.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// The nodes certificates and kubeconfigs are for.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Node name: the control-plane node for apiserver/etcd certificates and kubeconfigs
    /// (default: the hostname). For per-node certificates and kubeconfigs (kubelet-client,
    /// kubelet-server, node-kubelet) repeat it for many nodes; write NAME=ADDR[,ADDR...] to add
    /// addresses to a node's kubelet serving certificate.
    #[arg(long = "node-name", value_name = "NAME[=ADDRS]")]
    pub nodes: Vec<NodeSpec>,

    /// A file listing nodes, one per line: NAME [ADDR...]; '#' starts a comment.
    #[arg(long, value_name = "FILE")]
    pub node_list: Option<PathBuf>,
}

/// Where the API server is reached.
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// The IP address the API server advertises (default: the address of the default-route
    /// interface).
    #[arg(long, value_name = "IP", value_parser = names::parse_ip)]
    pub apiserver_advertise_address: Option<IpAddr>,

    /// A stable address for the control plane, HOST[:PORT] (an IP or a DNS name).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub control_plane_endpoint: Option<Endpoint>,
}

/// Flags that only shape the SANs of control-plane certificates (kubeadm's names).
#[derive(Debug, Args)]
pub struct SanArgs {
    /// Extra SANs (IPs or DNS names) for the API server serving certificate.
    #[arg(long, value_name = "SAN,...", value_delimiter = ',')]
    pub apiserver_cert_extra_sans: Vec<San>,

    /// Service CIDR(s); the first IP of the first CIDR is the API server's in-cluster SAN
    /// [default: 10.96.0.0/12].
    #[arg(long, value_name = "CIDR[,CIDR]")]
    pub service_cidr: Option<ServiceCidrs>,

    /// The cluster DNS domain [default: cluster.local].
    #[arg(long, value_name = "DOMAIN")]
    pub service_dns_domain: Option<String>,

    /// Extra SANs for the etcd serving certificate.
    #[arg(long, value_name = "SAN,...", value_delimiter = ',')]
    pub etcd_server_extra_sans: Vec<San>,

    /// Extra SANs for the etcd peer certificate.
    #[arg(long, value_name = "SAN,...", value_delimiter = ',')]
    pub etcd_peer_extra_sans: Vec<San>,
}

/// Where kubeconfigs go and what they name.
#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// Directory of the kubeconfig files (default: the parent of --cert-dir, i.e.
    /// /etc/kubernetes for /etc/kubernetes/pki).
    #[arg(long, value_name = "DIR")]
    pub kubeconfig_dir: Option<PathBuf>,

    /// The port the API server listens on (used when --control-plane-endpoint has no port, and
    /// for the local endpoint of controller-manager.conf and scheduler.conf).
    /// [default: 6443]
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub apiserver_bind_port: Option<u16>,

    /// The cluster name inside kubeconfig files [default: kubernetes].
    #[arg(long, value_name = "NAME")]
    pub cluster_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidityArgs {
    /// Validity of new leaf and client certificates, e.g. 1y, 365d, 8760h [default: 1y].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub validity: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct CaValidityArgs {
    /// Validity of new CA certificates, e.g. 10y, 87600h [default: 10y].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub ca_validity: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub ca: CaValidityArgs,
    #[command(flatten)]
    pub validity: ValidityArgs,
    #[command(flatten)]
    pub nodes: NodeArgs,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub sans: SanArgs,
    #[command(flatten)]
    pub kubeconfig: KubeconfigArgs,
}

#[derive(Debug, Args)]
pub struct InitCaArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub ca: CaValidityArgs,
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// What to issue: a leaf of the catalog (apiserver, apiserver-kubelet-client,
    /// apiserver-etcd-client, front-proxy-client, etcd-server, etcd-peer,
    /// etcd-healthcheck-client, kubelet-client, kubelet-server), `kubelet` (both kubelet
    /// certificates), or `all` (every control-plane certificate).
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub validity: ValidityArgs,
    #[command(flatten)]
    pub nodes: NodeArgs,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub sans: SanArgs,
}

#[derive(Debug, Args)]
pub struct WriteKubeconfigArgs {
    /// What to write: admin, super-admin, controller-manager, scheduler, kubelet (the
    /// control-plane node's kubelet.conf), node-kubelet (<kubeconfig-dir>/nodes/<node>/kubelet.conf
    /// for each --node-name), all (the five files kubeadm init writes), or user (any identity,
    /// see --client-name).
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub validity: ValidityArgs,
    #[command(flatten)]
    pub nodes: NodeArgs,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub kubeconfig: KubeconfigArgs,
    /// For `user`: the client certificate's CN, i.e. the Kubernetes user name.
    #[arg(long, value_name = "NAME")]
    pub client_name: Option<String>,
    /// For `user`: a group (certificate O); repeat for several groups.
    #[arg(long = "org", value_name = "GROUP")]
    pub orgs: Vec<String>,
    /// For `user`: write the kubeconfig to FILE (mode 0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RenewArgs {
    /// What to renew: a certificate (apiserver, apiserver-kubelet-client, apiserver-etcd-client,
    /// front-proxy-client, etcd-server, etcd-peer, etcd-healthcheck-client, kubelet-client,
    /// kubelet-server, or kubelet for both kubelet certificates), a kubeconfig (admin.conf,
    /// super-admin.conf, kubelet.conf, controller-manager.conf, scheduler.conf, node-kubelet),
    /// or all. In `all`, missing files and certificates of an external CA are skipped.
    #[arg(value_name = "NAME", required = true)]
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
    pub validity: Option<Duration>,

    /// Per-node certificates and kubeconfigs: renew only these nodes (default: every node found).
    #[arg(long = "node-name", value_name = "NAME")]
    pub nodes: Vec<String>,

    /// Print what would be renewed and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Output format: text for people, json or yaml for scripts.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct CheckExpirationArgs {
    /// Extra certificate files, PEM bundles, kubeconfigs or directories (scanned recursively),
    /// e.g. /var/lib/kubelet/pki.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// A kubeadm configuration file: its certificatesDir is checked, and with etcd.external
    /// the etcd certificates are not expected.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The certificate directory (default: /etc/kubernetes/pki, unless only PATHs are given).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// The kubeconfig directory (default: the parent of the certificate directory).
    #[arg(long, value_name = "DIR")]
    pub kubeconfig_dir: Option<PathBuf>,

    /// Mark certificates that expire within this time as `warning`.
    #[arg(long, value_name = "DUR", default_value = "30d", value_parser = parse_duration)]
    pub warn_within: Duration,

    /// Exit with code 5 when a certificate expires within this time (expired ones always do).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub fail_within: Option<Duration>,

    /// Output format: text (kubeadm's tables), or json or yaml (schema in the README).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

#[derive(Debug, Clone)]
pub struct ServiceCidrs(pub Vec<IpNet>);

impl FromStr for ServiceCidrs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        names::parse_service_cidrs(s).map(ServiceCidrs)
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                ExitStatus::Usage.code()
            } else {
                ExitStatus::Success.code()
            });
        }
    };
    match run(cli, OffsetDateTime::now_utc()) {
        Ok(status) => ExitCode::from(status.code()),
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            // The reader went away (`| head`): nothing more to say.
            ExitCode::from(ExitStatus::Success.code())
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            let kind = e
                .chain()
                .find_map(|c| c.downcast_ref::<Error>())
                .map_or(ErrorKind::Io, Error::kind);
            ExitCode::from(ExitStatus::from_kind(kind).code())
        }
    }
}

/// Runs a parsed command with `now` as the clock.
pub fn run(cli: Cli, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    if let Command::CheckExpiration(a) = &cli.command {
        return check_expiration(a, now);
    }
    let flags = |c: &CommonArgs| (c.dry_run, c.output);
    let ((dry_run, output_format), request) = match &cli.command {
        Command::Init(a) => (flags(&a.common), init_request(a, now)?),
        Command::InitCa(a) => (flags(&a.common), init_ca_request(a, now)?),
        Command::Issue(a) => (flags(&a.common), issue_request(a, now)?),
        Command::WriteKubeconfig(a) => (flags(&a.common), write_kubeconfig_request(a, now)?),
        Command::Renew(a) => ((a.dry_run, a.output), renew_request(a, now)?),
        Command::CheckExpiration(_) => unreachable!("handled above"),
    };
    let cert_dir = request.layout.cert_dir();
    if dry_run {
        // A dry run writes nothing, not even the lock; it cannot complete an interrupted run.
        if store::interrupted(cert_dir) {
            return Err(Error::bad_file(
                cert_dir.join(store::JOURNAL),
                "an interrupted kubepki run left this journal; run any command without \
                 --dry-run to complete it",
            )
            .into());
        }
        let plan = plan::plan(&request).context("nothing was written")?;
        output::print_plan(&plan, &request.layout, output_format)?;
        return Ok(ExitStatus::Success);
    }
    let _lock = store::Lock::acquire(cert_dir, LOCK_WAIT)?;
    if let Some(files) = store::recover(cert_dir)? {
        eprintln!("[recover] completed an interrupted run: {files} files put in place");
    }
    // Only where kubepki writes: the whole PKI tree, and in the kubeconfig directory (which holds
    // other tools' files too) just its own files and per-node kubeconfigs.
    let kubeconfig_dir = request.layout.kubeconfig_dir();
    let swept = store::remove_stale_temporaries(cert_dir, true)
        + store::remove_stale_temporaries(kubeconfig_dir, false)
        + store::remove_stale_temporaries(&kubeconfig_dir.join(store::NODE_KUBECONFIG_DIR), true);
    if swept > 0 {
        eprintln!("[recover] removed {swept} temporary files an interrupted run left behind");
    }
    let plan = plan::plan(&request).context("nothing was written")?;
    let outcomes = plan.execute().with_context(|| {
        format!(
            "writing to {} failed; files already there are unchanged",
            request.layout.cert_dir().display()
        )
    })?;
    output::print_outcomes(&outcomes, &request.layout, output_format)?;
    if matches!(cli.command, Command::Renew(_))
        && output_format == OutputFormat::Text
        && outcomes
            .iter()
            .any(|o| o.decision.action == plan::Action::Renew)
    {
        println!(
            "Restart kube-apiserver, kube-controller-manager, kube-scheduler and etcd so that \
             they use the new certificates."
        );
    }
    Ok(ExitStatus::Success)
}

const DEFAULT_CERT_DIR: &str = "/etc/kubernetes/pki";
const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
const DEFAULT_DNS_DOMAIN: &str = "cluster.local";
const DEFAULT_BIND_PORT: u16 = 6443;
const DEFAULT_CLUSTER_NAME: &str = "kubernetes";

/// Reads `--config`, printing its notes (ignored documents) on stderr.
fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Option<KubeadmConfig>> {
    let Some(path) = path else { return Ok(None) };
    if !path.exists() {
        return Err(Error::usage("--config", format!("{} does not exist", path.display())).into());
    }
    let config = config::load(path).context("--config")?;
    for note in &config.notes {
        eprintln!("[config] {}: {note}", path.display());
    }
    Ok(Some(config))
}

/// One setting from a flag or from the kubeadm config, never both: kubeadm refuses to mix
/// `--config` with flags; we accept flags for what the file leaves out, and refuse a flag that
/// repeats what the file sets (so no setting is ever silently ignored).
fn pick<T>(
    flag: Option<T>,
    flag_name: &str,
    from_config: Option<T>,
    field: &str,
    config: Option<&KubeadmConfig>,
) -> anyhow::Result<Option<T>> {
    match (flag, from_config, config) {
        (Some(_), Some(_), Some(c)) => Err(Error::usage(
            flag_name,
            format!(
                "conflicts with {field} in {}; set it in one place",
                c.path.display()
            ),
        )
        .into()),
        (Some(v), _, _) | (None, Some(v), _) => Ok(Some(v)),
        (None, None, _) => Ok(None),
    }
}

/// A list setting: from the flag or the config, never both.
fn pick_list<T>(
    flag: &[T],
    flag_name: &str,
    from_config: &[T],
    field: &str,
    config: Option<&KubeadmConfig>,
) -> anyhow::Result<Vec<T>>
where
    T: Clone,
{
    let flag = (!flag.is_empty()).then(|| flag.to_vec());
    let from_config = (!from_config.is_empty()).then(|| from_config.to_vec());
    Ok(pick(flag, flag_name, from_config, field, config)?.unwrap_or_default())
}

/// The settings every file-writing command shares, resolved from flags, config and defaults.
struct Resolved {
    config: Option<KubeadmConfig>,
    cert_dir: PathBuf,
    /// `None` when neither a flag nor the config names one.
    key_algorithm: Option<KeyAlgorithm>,
    validity: Duration,
    ca_validity: Duration,
}

impl Resolved {
    fn new(
        common: &CommonArgs,
        validity: Option<Duration>,
        ca_validity: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let config = load_config(common.config.as_ref())?;
        Resolved::from_parts(
            config,
            common.cert_dir.clone(),
            common.key_algorithm,
            validity,
            ca_validity,
        )
    }

    fn from_parts(
        config: Option<KubeadmConfig>,
        cert_dir: Option<PathBuf>,
        key_algorithm: Option<KeyAlgorithm>,
        validity: Option<Duration>,
        ca_validity: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let c = config.as_ref();
        let cert_dir = pick(
            cert_dir,
            "--cert-dir",
            c.and_then(|c| c.cert_dir.clone()),
            "certificatesDir",
            c,
        )?
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CERT_DIR));
        let key_algorithm = pick(
            key_algorithm,
            "--key-algorithm",
            c.and_then(|c| c.key_algorithm),
            "encryptionAlgorithm",
            c,
        )?;
        let validity = pick(
            validity,
            "--validity",
            c.and_then(|c| c.validity),
            "certificateValidityPeriod",
            c,
        )?
        .unwrap_or(DEFAULT_VALIDITY);
        let ca_validity = pick(
            ca_validity,
            "--ca-validity",
            c.and_then(|c| c.ca_validity),
            "caCertificateValidityPeriod",
            c,
        )?
        .unwrap_or(DEFAULT_CA_VALIDITY);
        Ok(Resolved {
            config,
            cert_dir,
            key_algorithm,
            validity,
            ca_validity,
        })
    }

    fn config(&self) -> Option<&KubeadmConfig> {
        self.config.as_ref()
    }

    fn external_etcd(&self) -> bool {
        self.config().is_some_and(|c| c.external_etcd.is_some())
    }

    fn layout(&self, kubeconfig_dir: Option<&PathBuf>) -> Layout {
        let kubeconfig_dir = kubeconfig_dir
            .cloned()
            .unwrap_or_else(|| Layout::default_kubeconfig_dir(&self.cert_dir));
        Layout::new(&self.cert_dir, kubeconfig_dir)
    }

    fn options(&self, force: bool, now: OffsetDateTime) -> Options {
        Options {
            key_algorithm: self.key_algorithm.unwrap_or(KeyAlgorithm::DEFAULT),
            validity: self.validity,
            ca_validity: self.ca_validity,
            force,
            reuse_key: false,
            keep_key_algorithm: false,
            now,
        }
    }
}

/// With external etcd (etcd.external in the config) kubeadm makes no etcd certificates, and the
/// API server's etcd client certificate is the one the etcd operator issued.
fn skip_local_etcd(resolved: &Resolved, profile: &catalog::Profile) -> bool {
    resolved.external_etcd() && profile.scope == Scope::LocalEtcd
}

/// With external etcd there are no etcd certificates for etcd SAN flags to shape: refuse them
/// rather than ignore them.
fn refuse_etcd_flags_with_external_etcd(resolved: &Resolved, sans: &SanArgs) -> anyhow::Result<()> {
    let Some(c) = resolved.config().filter(|c| c.external_etcd.is_some()) else {
        return Ok(());
    };
    for (flag, given) in [
        (
            "--etcd-server-extra-sans",
            !sans.etcd_server_extra_sans.is_empty(),
        ),
        (
            "--etcd-peer-extra-sans",
            !sans.etcd_peer_extra_sans.is_empty(),
        ),
    ] {
        if given {
            return Err(Error::usage(
                flag,
                format!(
                    "etcd is external in {} (etcd.external): no etcd certificates are made",
                    c.path.display()
                ),
            )
            .into());
        }
    }
    Ok(())
}

fn external_etcd_note(resolved: &Resolved) {
    if let Some(c) = resolved.config().filter(|c| c.external_etcd.is_some()) {
        eprintln!(
            "[config] {}: etcd is external: no etcd CA or etcd certificates are made, and \
             apiserver-etcd-client is not ours to make (the API server uses etcd.external.certFile {})",
            c.path.display(),
            c.external_etcd
                .as_deref()
                .unwrap_or(Path::new(""))
                .display()
        );
    }
}

fn renew_request(a: &RenewArgs, now: OffsetDateTime) -> anyhow::Result<Request> {
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
    let mut wants = Vec::new();
    for name in &a.names {
        let targets =
            plan::renew::targets(name, &layout, &a.nodes).map_err(|e| Error::usage("NAME", e))?;
        let explicit = name != "all";
        if targets.is_empty() && explicit {
            return Err(Error::bad_file(
                layout.cert_dir(),
                format!("{name}: nothing to renew (no per-node certificates or kubeconfigs found)"),
            )
            .into());
        }
        for target in targets {
            if let plan::renew::Target::Cert { profile, .. } = &target
                && skip_local_etcd(&resolved, profile)
            {
                if explicit {
                    return Err(Error::usage(
                        "NAME",
                        format!("{name}: etcd is external in the config; its certificates are not kubeadm's"),
                    )
                    .into());
                }
                continue;
            }
            wants.push(Want::Renew { target, explicit });
        }
    }
    let mut options = resolved.options(false, now);
    options.reuse_key = a.reuse_key;
    options.keep_key_algorithm = resolved.key_algorithm.is_none();
    Ok(Request {
        layout,
        cluster: None,
        wants,
        options,
    })
}

fn check_expiration(a: &CheckExpirationArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let config = load_config(a.config.as_ref())?;
    let c = config.as_ref();
    let cert_dir = pick(
        a.cert_dir.clone(),
        "--cert-dir",
        c.and_then(|c| c.cert_dir.clone()),
        "certificatesDir",
        c,
    )?;
    // With only PATHs given, check just those; the kubeadm tree is checked by default or when
    // asked for with --cert-dir/--kubeconfig-dir/--config.
    let tree = a.paths.is_empty() || cert_dir.is_some() || a.kubeconfig_dir.is_some();
    let layout = tree.then(|| {
        let cert_dir = cert_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_CERT_DIR));
        let kubeconfig_dir = a
            .kubeconfig_dir
            .clone()
            .unwrap_or_else(|| Layout::default_kubeconfig_dir(&cert_dir));
        Layout::new(cert_dir, kubeconfig_dir)
    });
    let mut report = expiration::report(&expiration::Request {
        layout,
        paths: a.paths.clone(),
        now,
        warn_within: a.warn_within,
        fail_within: a.fail_within,
    });
    if c.is_some_and(|c| c.external_etcd.is_some()) {
        // kubeadm's list without etcd: nothing of etcd's is expected in the tree.
        let local_etcd =
            |name: &str| catalog::find(name).is_some_and(|p| p.scope == Scope::LocalEtcd);
        report.certificates.retain(|e| !local_etcd(&e.name));
        report
            .certificate_authorities
            .retain(|e| !local_etcd(&e.name));
    }
    output::print_expiration(&report, a.output)?;
    Ok(if report.has_expiring() {
        ExitStatus::Expiring
    } else if report.has_missing_or_invalid() {
        ExitStatus::MissingOrInvalid
    } else {
        ExitStatus::Success
    })
}

fn ca_wants(resolved: &Resolved) -> Vec<Want> {
    let no_node = NodeSpec {
        name: String::new(),
        addresses: vec![],
    };
    catalog::authorities()
        .filter(|p| !skip_local_etcd(resolved, p))
        .map(|profile| Want::Cert {
            profile,
            node: no_node.clone(),
        })
        .chain([Want::ServiceAccount])
        .collect()
}

fn init_ca_request(a: &InitCaArgs, now: OffsetDateTime) -> anyhow::Result<Request> {
    let resolved = Resolved::new(&a.common, None, a.ca.ca_validity)?;
    external_etcd_note(&resolved);
    Ok(Request {
        layout: resolved.layout(None),
        cluster: None,
        wants: ca_wants(&resolved),
        options: resolved.options(a.common.force, now),
    })
}

fn init_request(a: &InitArgs, now: OffsetDateTime) -> anyhow::Result<Request> {
    let resolved = Resolved::new(&a.common, a.validity.validity, a.ca.ca_validity)?;
    refuse_etcd_flags_with_external_etcd(&resolved, &a.sans)?;
    let nodes = node_specs(&a.nodes, resolved.config(), true)?;
    let node = single_node(&nodes)?;
    let cluster = cluster(
        &a.endpoint,
        Some(&a.sans),
        Some(&a.kubeconfig),
        &node,
        resolved.config(),
    )?;
    external_etcd_note(&resolved);
    // kubeadm's order: each CA, then its leaves; the service-account key; the kubeconfigs.
    let wants = catalog::CATALOG
        .iter()
        .filter(|p| p.scope != Scope::Node && !skip_local_etcd(&resolved, p))
        .map(|profile| Want::Cert {
            profile,
            node: node.clone(),
        })
        .chain([Want::ServiceAccount])
        .chain(
            catalog::control_plane_kubeconfigs().map(|profile| Want::Kubeconfig {
                profile,
                node: node.clone(),
            }),
        )
        .collect();
    Ok(Request {
        layout: resolved.layout(a.kubeconfig.kubeconfig_dir.as_ref()),
        cluster: Some(cluster),
        wants,
        options: resolved.options(a.common.force, now),
    })
}

fn unknown_name(name: &str, choices: &str) -> anyhow::Error {
    Error::usage(
        "NAME",
        format!("unknown name {name:?}; expected one of: {choices}"),
    )
    .into()
}

fn issue_request(a: &IssueArgs, now: OffsetDateTime) -> anyhow::Result<Request> {
    let resolved = Resolved::new(&a.common, a.validity.validity, None)?;
    refuse_etcd_flags_with_external_etcd(&resolved, &a.sans)?;
    let mut profiles = Vec::new();
    for name in &a.names {
        let chosen: Vec<_> = match name.as_str() {
            "all" => catalog::control_plane_leaves()
                .filter(|p| !skip_local_etcd(&resolved, p))
                .collect(),
            "kubelet" => catalog::node_leaves().collect(),
            _ => match catalog::find(name) {
                Some(p) if p.is_ca() => {
                    return Err(Error::usage(
                        "NAME",
                        format!("{name} is a CA; CAs are made by `kubepki init-ca`"),
                    )
                    .into());
                }
                Some(p) if skip_local_etcd(&resolved, p) => {
                    return Err(Error::usage(
                        "NAME",
                        format!(
                            "{name}: etcd is external in the config (etcd.external); its \
                             certificates are not kubeadm's to make"
                        ),
                    )
                    .into());
                }
                Some(p) => vec![p],
                None => {
                    let choices = format!("{}, kubelet, all", catalog::leaf_names().join(", "));
                    return Err(unknown_name(name, &choices));
                }
            },
        };
        for p in chosen {
            if !profiles.contains(&p) {
                profiles.push(p);
            }
        }
    }
    let control_plane = profiles.iter().any(|p| !p.per_node());
    let nodes = node_specs(&a.nodes, resolved.config(), control_plane)?;
    let cluster = if control_plane {
        let node = single_node(&nodes)?;
        Some(cluster(
            &a.endpoint,
            Some(&a.sans),
            None,
            &node,
            resolved.config(),
        )?)
    } else {
        None
    };
    external_etcd_note(&resolved);
    let mut wants = Vec::new();
    for profile in catalog::CATALOG.iter().filter(|p| profiles.contains(p)) {
        if profile.per_node() {
            wants.extend(nodes.iter().map(|n| Want::Cert {
                profile,
                node: n.clone(),
            }));
        } else {
            wants.push(Want::Cert {
                profile,
                node: nodes[0].clone(),
            });
        }
    }
    Ok(Request {
        layout: resolved.layout(None),
        cluster,
        wants,
        options: resolved.options(a.common.force, now),
    })
}

fn write_kubeconfig_request(
    a: &WriteKubeconfigArgs,
    now: OffsetDateTime,
) -> anyhow::Result<Request> {
    let resolved = Resolved::new(&a.common, a.validity.validity, None)?;
    let mut profiles = Vec::new();
    let mut user = false;
    for name in &a.names {
        match name.as_str() {
            "all" => profiles.extend(catalog::control_plane_kubeconfigs()),
            "user" => user = true,
            _ => match catalog::find_kubeconfig(name) {
                Some(p) => profiles.push(p),
                None => {
                    let names: Vec<_> = catalog::KUBECONFIGS.iter().map(|k| k.name).collect();
                    return Err(unknown_name(
                        name,
                        &format!("{}, all, user", names.join(", ")),
                    ));
                }
            },
        }
    }
    let user_flags = a.client_name.is_some() || !a.orgs.is_empty() || a.out.is_some();
    if user_flags && !user {
        return Err(Error::usage(
            "--client-name/--org/--out",
            "only apply to `write-kubeconfig user`",
        )
        .into());
    }
    let per_node_only = !user
        && profiles
            .iter()
            .all(|p| p.placement == catalog::KubeconfigPlacement::PerNode);
    let nodes = node_specs(&a.nodes, resolved.config(), !per_node_only)?;
    let control_plane_node = if per_node_only {
        nodes[0].clone()
    } else {
        single_node(&nodes)?
    };
    let cluster = cluster(
        &a.endpoint,
        None,
        Some(&a.kubeconfig),
        &control_plane_node,
        resolved.config(),
    )?;
    let mut wants = Vec::new();
    for profile in catalog::KUBECONFIGS.iter().filter(|p| profiles.contains(p)) {
        if profile.placement == catalog::KubeconfigPlacement::PerNode {
            wants.extend(nodes.iter().map(|n| Want::Kubeconfig {
                profile,
                node: n.clone(),
            }));
        } else {
            wants.push(Want::Kubeconfig {
                profile,
                node: control_plane_node.clone(),
            });
        }
    }
    if user {
        let client_name = a
            .client_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| {
                Error::usage(
                    "--client-name",
                    "`write-kubeconfig user` needs --client-name",
                )
            })?;
        if let Some(o) = a.orgs.iter().find(|o| o.trim().is_empty()) {
            return Err(Error::usage("--org", format!("{o:?} is not a group name")).into());
        }
        wants.push(Want::UserKubeconfig {
            client_name,
            organizations: a.orgs.clone(),
            out: a.out.clone(),
        });
    }
    Ok(Request {
        layout: resolved.layout(a.kubeconfig.kubeconfig_dir.as_ref()),
        cluster: Some(cluster),
        wants,
        options: resolved.options(a.common.force, now),
    })
}

/// The nodes named by --node-name and --node-list, else the config's nodeRegistration.name, else
/// the host's name. With `control_plane`, the nodes include the control-plane node, which the
/// config may name too (then the flags may not).
fn node_specs(
    a: &NodeArgs,
    config: Option<&KubeadmConfig>,
    control_plane: bool,
) -> anyhow::Result<Vec<NodeSpec>> {
    let mut nodes = a.nodes.clone();
    if let Some(path) = &a.node_list {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, "read", e))
            .context("--node-list")?;
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            let mut fields = line.split_whitespace();
            let Some(name) = fields.next() else { continue };
            let spec = format!("{name}={}", fields.collect::<Vec<_>>().join(","));
            let node = spec
                .parse::<NodeSpec>()
                .map_err(|e| Error::bad_file(path, format!("line {}: {e}", i + 1)))?;
            nodes.push(node);
        }
    }
    let from_config = config.and_then(|c| c.node_name.clone());
    if !nodes.is_empty() && from_config.is_some() && control_plane {
        pick(
            Some(()),
            "--node-name",
            Some(()),
            "nodeRegistration.name",
            config,
        )?;
    }
    if nodes.is_empty() {
        let name = match from_config {
            Some(name) => name,
            None => host::node_name().ok_or_else(|| {
                Error::usage("--node-name", "no hostname to default to; pass --node-name")
            })?,
        };
        let node = name
            .parse::<NodeSpec>()
            .map_err(|e| Error::usage("--node-name", format!("{e}; pass --node-name")))?;
        nodes.push(node);
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = nodes.iter().find(|n| !seen.insert(n.name.clone())) {
        return Err(
            Error::usage("--node-name", format!("node {:?} is named twice", dup.name)).into(),
        );
    }
    Ok(nodes)
}

fn single_node(nodes: &[NodeSpec]) -> anyhow::Result<NodeSpec> {
    match nodes {
        [one] => Ok(one.clone()),
        _ => Err(Error::usage(
            "--node-name",
            format!(
                "control-plane certificates are for one node, got {}; issue kubelet \
                 certificates for many nodes separately",
                nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .into()),
    }
}

/// The cluster settings: flags, else the kubeadm config, else kubeadm's defaults.
fn cluster(
    a: &EndpointArgs,
    sans: Option<&SanArgs>,
    kubeconfig: Option<&KubeconfigArgs>,
    node: &NodeSpec,
    config: Option<&KubeadmConfig>,
) -> anyhow::Result<Cluster> {
    let c = config;
    let advertise_address = pick(
        a.apiserver_advertise_address,
        "--apiserver-advertise-address",
        c.and_then(|c| c.advertise_address),
        "localAPIEndpoint.advertiseAddress",
        c,
    )?;
    let advertise_address = match advertise_address {
        Some(ip) => ip,
        None => host::advertise_address().ok_or_else(|| {
            Error::usage(
                "--apiserver-advertise-address",
                "not given and this host has no default route to take it from",
            )
        })?,
    };
    if advertise_address.is_unspecified() || advertise_address.is_multicast() {
        return Err(Error::usage(
            "--apiserver-advertise-address",
            format!("{advertise_address} is not a unicast address"),
        )
        .into());
    }
    let control_plane_endpoint = pick(
        a.control_plane_endpoint.clone(),
        "--control-plane-endpoint",
        c.and_then(|c| c.control_plane_endpoint.clone()),
        "controlPlaneEndpoint",
        c,
    )?;
    let no_sans = SanArgs {
        apiserver_cert_extra_sans: vec![],
        service_cidr: None,
        service_dns_domain: None,
        etcd_server_extra_sans: vec![],
        etcd_peer_extra_sans: vec![],
    };
    let s = sans.unwrap_or(&no_sans);
    let empty = KubeadmConfig::default();
    let cfg = c.unwrap_or(&empty);
    let service_cidrs = pick(
        s.service_cidr.clone().map(|c| c.0),
        "--service-cidr",
        cfg.service_cidrs.clone(),
        "networking.serviceSubnet",
        c,
    )?
    .map_or_else(|| names::parse_service_cidrs(DEFAULT_SERVICE_CIDR), Ok)
    .map_err(anyhow::Error::msg)?;
    let dns_domain = pick(
        s.service_dns_domain.clone(),
        "--service-dns-domain",
        cfg.dns_domain.clone(),
        "networking.dnsDomain",
        c,
    )?
    .unwrap_or_else(|| DEFAULT_DNS_DOMAIN.to_string());
    names::validate_dns_name(&dns_domain, false)
        .map_err(|e| Error::usage("--service-dns-domain", e))?;
    let no_kubeconfig = KubeconfigArgs {
        kubeconfig_dir: None,
        apiserver_bind_port: None,
        cluster_name: None,
    };
    let k = kubeconfig.unwrap_or(&no_kubeconfig);
    let bind_port = pick(
        k.apiserver_bind_port,
        "--apiserver-bind-port",
        cfg.bind_port,
        "localAPIEndpoint.bindPort",
        c,
    )?
    .unwrap_or(DEFAULT_BIND_PORT);
    let cluster_name = pick(
        k.cluster_name.clone(),
        "--cluster-name",
        cfg.cluster_name.clone(),
        "clusterName",
        c,
    )?
    .unwrap_or_else(|| DEFAULT_CLUSTER_NAME.to_string());
    names::validate_dns_name(&cluster_name, false)
        .map_err(|e| Error::usage("--cluster-name", e))?;
    Ok(Cluster {
        node_name: node.name.clone(),
        advertise_address,
        control_plane_endpoint,
        apiserver_extra_sans: pick_list(
            &s.apiserver_cert_extra_sans,
            "--apiserver-cert-extra-sans",
            &cfg.apiserver_cert_sans,
            "apiServer.certSANs",
            c,
        )?,
        service_cidrs,
        dns_domain,
        etcd_server_extra_sans: pick_list(
            &s.etcd_server_extra_sans,
            "--etcd-server-extra-sans",
            &cfg.etcd_server_cert_sans,
            "etcd.local.serverCertSANs",
            c,
        )?,
        etcd_peer_extra_sans: pick_list(
            &s.etcd_peer_extra_sans,
            "--etcd-peer-extra-sans",
            &cfg.etcd_peer_cert_sans,
            "etcd.local.peerCertSANs",
            c,
        )?,
        bind_port,
        cluster_name,
    })
}
