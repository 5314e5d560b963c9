//! The command line: flags (clap derive; the doc comments are the help text), turned into a
//! [`Request`], planned, then executed or printed (`--dry-run`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use time::{Duration, OffsetDateTime};

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
    /// Create the CAs, the service-account key pair and every control-plane certificate
    /// (kubeadm init phase certs all).
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
    /// The certificate directory (kubeadm's certificatesDir).
    #[arg(long, value_name = "DIR", default_value = "/etc/kubernetes/pki")]
    pub cert_dir: PathBuf,

    /// Algorithm of new keys: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384 or ED25519
    /// (kubeadm's encryptionAlgorithm names; ED25519 cannot be used for sa.key, and kubeadm
    /// itself cannot read Ed25519 keys).
    #[arg(long, value_name = "ALG", default_value = "RSA-2048", value_parser = KeyAlgorithm::from_str)]
    pub key_algorithm: KeyAlgorithm,

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

    /// Service CIDR(s); the first IP of the first CIDR is the API server's in-cluster SAN.
    #[arg(long, value_name = "CIDR[,CIDR]", default_value = "10.96.0.0/12")]
    pub service_cidr: ServiceCidrs,

    /// The cluster DNS domain.
    #[arg(long, value_name = "DOMAIN", default_value = "cluster.local")]
    pub service_dns_domain: String,

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
    #[arg(long, value_name = "PORT", default_value_t = 6443, value_parser = clap::value_parser!(u16).range(1..))]
    pub apiserver_bind_port: u16,

    /// The cluster name inside kubeconfig files.
    #[arg(long, value_name = "NAME", default_value = "kubernetes")]
    pub cluster_name: String,
}

#[derive(Debug, Args)]
pub struct ValidityArgs {
    /// Validity of new leaf and client certificates, e.g. 1y, 365d, 8760h.
    #[arg(long, value_name = "DUR", default_value = "1y", value_parser = parse_duration)]
    pub validity: Duration,
}

#[derive(Debug, Args)]
pub struct CaValidityArgs {
    /// Validity of new CA certificates, e.g. 10y, 87600h.
    #[arg(long, value_name = "DUR", default_value = "10y", value_parser = parse_duration)]
    pub ca_validity: Duration,
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

    /// The certificate directory (kubeadm's certificatesDir).
    #[arg(long, value_name = "DIR", default_value = "/etc/kubernetes/pki")]
    pub cert_dir: PathBuf,

    /// Directory of the kubeconfig files (default: the parent of --cert-dir).
    #[arg(long, value_name = "DIR")]
    pub kubeconfig_dir: Option<PathBuf>,

    /// Keep the existing private keys; only the certificates are re-issued.
    #[arg(long)]
    pub reuse_key: bool,

    /// Algorithm of the new keys (default: the algorithm of the key each one replaces).
    #[arg(long, value_name = "ALG", value_parser = KeyAlgorithm::from_str, conflicts_with = "reuse_key")]
    pub key_algorithm: Option<KeyAlgorithm>,

    /// Validity of the renewed certificates, from now.
    #[arg(long, value_name = "DUR", default_value = "1y", value_parser = parse_duration)]
    pub validity: Duration,

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
        Command::InitCa(a) => (flags(&a.common), init_ca_request(a, now)),
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
        && outcomes.iter().any(|o| o.action == plan::Action::Renew)
    {
        println!(
            "Restart kube-apiserver, kube-controller-manager, kube-scheduler and etcd so that \
             they use the new certificates."
        );
    }
    Ok(ExitStatus::Success)
}

fn renew_request(a: &RenewArgs, now: OffsetDateTime) -> anyhow::Result<Request> {
    let kubeconfig_dir = a
        .kubeconfig_dir
        .clone()
        .unwrap_or_else(|| Layout::default_kubeconfig_dir(&a.cert_dir));
    let layout = Layout::new(&a.cert_dir, kubeconfig_dir);
    for node in &a.nodes {
        names::validate_dns_name(node, false).map_err(|e| Error::usage("--node-name", e))?;
    }
    let mut wants = Vec::new();
    for name in &a.names {
        let targets =
            plan::renew::targets(name, &layout, &a.nodes).map_err(|e| Error::usage("NAME", e))?;
        let explicit = name != "all";
        wants.extend(
            targets
                .into_iter()
                .map(|target| Want::Renew { target, explicit }),
        );
    }
    Ok(Request {
        layout,
        cluster: None,
        wants,
        options: Options {
            key_algorithm: a.key_algorithm.unwrap_or(KeyAlgorithm::DEFAULT),
            validity: a.validity,
            ca_validity: DEFAULT_CA_VALIDITY,
            force: false,
            reuse_key: a.reuse_key,
            keep_key_algorithm: a.key_algorithm.is_none(),
            now,
        },
    })
}

fn check_expiration(a: &CheckExpirationArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    // With only PATHs given, check just those; the kubeadm tree is checked by default or when
    // asked for with --cert-dir/--kubeconfig-dir.
    let tree = a.paths.is_empty() || a.cert_dir.is_some() || a.kubeconfig_dir.is_some();
    let layout = tree.then(|| {
        let cert_dir = a
            .cert_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/etc/kubernetes/pki"));
        let kubeconfig_dir = a
            .kubeconfig_dir
            .clone()
            .unwrap_or_else(|| Layout::default_kubeconfig_dir(&cert_dir));
        Layout::new(cert_dir, kubeconfig_dir)
    });
    let report = expiration::report(&expiration::Request {
        layout,
        paths: a.paths.clone(),
        now,
        warn_within: a.warn_within,
        fail_within: a.fail_within,
    });
    output::print_expiration(&report, a.output)?;
    Ok(if report.has_expiring() {
        ExitStatus::Expiring
    } else if report.has_missing_or_invalid() {
        ExitStatus::MissingOrInvalid
    } else {
        ExitStatus::Success
    })
}

fn options(
    common: &CommonArgs,
    validity: Duration,
    ca_validity: Duration,
    now: OffsetDateTime,
) -> Options {
    Options {
        key_algorithm: common.key_algorithm,
        validity,
        ca_validity,
        force: common.force,
        reuse_key: false,
        keep_key_algorithm: false,
        now,
    }
}

fn layout(common: &CommonArgs, kubeconfig: Option<&KubeconfigArgs>) -> Layout {
    let kubeconfig_dir = kubeconfig
        .and_then(|k| k.kubeconfig_dir.clone())
        .unwrap_or_else(|| Layout::default_kubeconfig_dir(&common.cert_dir));
    Layout::new(&common.cert_dir, kubeconfig_dir)
}

fn ca_wants() -> Vec<Want> {
    let no_node = NodeSpec {
        name: String::new(),
        addresses: vec![],
    };
    catalog::authorities()
        .map(|profile| Want::Cert {
            profile,
            node: no_node.clone(),
        })
        .chain([Want::ServiceAccount])
        .collect()
}

fn init_ca_request(a: &InitCaArgs, now: OffsetDateTime) -> Request {
    Request {
        layout: layout(&a.common, None),
        cluster: None,
        wants: ca_wants(),
        options: options(&a.common, DEFAULT_VALIDITY, a.ca.ca_validity, now),
    }
}

fn init_request(a: &InitArgs, now: OffsetDateTime) -> anyhow::Result<Request> {
    let nodes = node_specs(&a.nodes)?;
    let node = single_node(&nodes)?;
    let cluster = cluster(&a.endpoint, Some(&a.sans), Some(&a.kubeconfig), &node)?;
    // kubeadm's order: each CA, then its leaves; the service-account key; the kubeconfigs.
    let wants = catalog::CATALOG
        .iter()
        .filter(|p| p.scope != Scope::Node)
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
        layout: layout(&a.common, Some(&a.kubeconfig)),
        cluster: Some(cluster),
        wants,
        options: options(&a.common, a.validity.validity, a.ca.ca_validity, now),
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
    let mut profiles = Vec::new();
    for name in &a.names {
        let chosen: Vec<_> = match name.as_str() {
            "all" => catalog::control_plane_leaves().collect(),
            "kubelet" => catalog::node_leaves().collect(),
            _ => match catalog::find(name) {
                Some(p) if p.is_ca() => {
                    return Err(Error::usage(
                        "NAME",
                        format!("{name} is a CA; CAs are made by `kubepki init-ca`"),
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
    let nodes = node_specs(&a.nodes)?;
    let cluster = if profiles.iter().all(|p| p.per_node()) {
        None
    } else {
        let node = single_node(&nodes)?;
        Some(cluster(&a.endpoint, Some(&a.sans), None, &node)?)
    };
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
        layout: layout(&a.common, None),
        cluster,
        wants,
        options: options(&a.common, a.validity.validity, DEFAULT_CA_VALIDITY, now),
    })
}

fn write_kubeconfig_request(
    a: &WriteKubeconfigArgs,
    now: OffsetDateTime,
) -> anyhow::Result<Request> {
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
    let nodes = node_specs(&a.nodes)?;
    let per_node_only = !user
        && profiles
            .iter()
            .all(|p| p.placement == catalog::KubeconfigPlacement::PerNode);
    let control_plane_node = if per_node_only {
        nodes[0].clone()
    } else {
        single_node(&nodes)?
    };
    let cluster = cluster(&a.endpoint, None, Some(&a.kubeconfig), &control_plane_node)?;
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
        layout: layout(&a.common, Some(&a.kubeconfig)),
        cluster: Some(cluster),
        wants,
        options: options(&a.common, a.validity.validity, DEFAULT_CA_VALIDITY, now),
    })
}

/// The nodes named by --node-name and --node-list, or the host's name when none is.
fn node_specs(a: &NodeArgs) -> anyhow::Result<Vec<NodeSpec>> {
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
    if nodes.is_empty() {
        let name = host::node_name().ok_or_else(|| {
            Error::usage("--node-name", "no hostname to default to; pass --node-name")
        })?;
        let node = name.parse::<NodeSpec>().map_err(|e| {
            Error::usage(
                "--node-name",
                format!("the hostname is not a valid node name ({e}); pass --node-name"),
            )
        })?;
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

fn cluster(
    a: &EndpointArgs,
    sans: Option<&SanArgs>,
    kubeconfig: Option<&KubeconfigArgs>,
    node: &NodeSpec,
) -> anyhow::Result<Cluster> {
    let advertise_address = match a.apiserver_advertise_address {
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
    let (service_cidrs, dns_domain) = match sans {
        Some(s) => {
            names::validate_dns_name(&s.service_dns_domain, false)
                .map_err(|e| Error::usage("--service-dns-domain", e))?;
            (s.service_cidr.0.clone(), s.service_dns_domain.clone())
        }
        None => (
            names::parse_service_cidrs("10.96.0.0/12").map_err(anyhow::Error::msg)?,
            "cluster.local".to_string(),
        ),
    };
    let (bind_port, cluster_name) = match kubeconfig {
        Some(k) => {
            names::validate_dns_name(&k.cluster_name, false)
                .map_err(|e| Error::usage("--cluster-name", e))?;
            (k.apiserver_bind_port, k.cluster_name.clone())
        }
        None => (6443, "kubernetes".to_string()),
    };
    Ok(Cluster {
        node_name: node.name.clone(),
        advertise_address,
        control_plane_endpoint: a.control_plane_endpoint.clone(),
        apiserver_extra_sans: sans
            .map(|s| s.apiserver_cert_extra_sans.clone())
            .unwrap_or_default(),
        service_cidrs,
        dns_domain,
        etcd_server_extra_sans: sans
            .map(|s| s.etcd_server_extra_sans.clone())
            .unwrap_or_default(),
        etcd_peer_extra_sans: sans
            .map(|s| s.etcd_peer_extra_sans.clone())
            .unwrap_or_default(),
        bind_port,
        cluster_name,
    })
}
