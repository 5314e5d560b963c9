//! `kubepki audit`: every problem of a tree, with severity, file, what is wrong and the fix.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use time::OffsetDateTime;

use super::settings::{load_config, read_layout, service_network};
use crate::exit::ExitStatus;
use crate::output::OutputFormat;
use crate::pki::audit::{self, Severity};
use crate::pki::duration::parse_duration;
use crate::pki::names;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// A kubeadm configuration file (certificatesDir, networking.serviceSubnet and dnsDomain).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The certificate directory [default: /etc/kubernetes/pki].
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// The kubeconfig directory [default: the parent of --cert-dir].
    #[arg(long, value_name = "DIR")]
    pub kubeconfig_dir: Option<PathBuf>,
    /// The service CIDR whose first address the API server certificate must carry
    /// [default: 10.96.0.0/12].
    #[arg(long, value_name = "CIDR")]
    pub service_cidr: Option<String>,
    /// The cluster DNS domain [default: cluster.local].
    #[arg(long, value_name = "DOMAIN")]
    pub service_dns_domain: Option<String>,
    /// This node is a worker: a CA key on it is an error.
    #[arg(long)]
    pub worker: bool,
    /// Certificates that expire within this are warnings.
    #[arg(long, value_name = "DUR", default_value = "30d", value_parser = parse_duration)]
    pub warn_within: time::Duration,
    /// Exit 8 when a finding is at least this severe.
    #[arg(long, value_enum, default_value = "error")]
    pub fail_on: FailOn,
    /// Output format: text for people, json or yaml for scripts.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

pub(super) fn run(a: &AuditArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let config = load_config(a.config.as_ref())?;
    let c = config.as_ref();
    let layout = read_layout(c, a.cert_dir.clone(), a.kubeconfig_dir.clone())?;
    let service_cidr = a
        .service_cidr
        .as_deref()
        .map(names::parse_service_cidrs)
        .transpose()
        .map_err(|e| crate::pki::Error::usage("--service-cidr", e))?;
    let (cidrs, dns_domain) = service_network(service_cidr, a.service_dns_domain.clone(), c)?;
    let request = audit::Request {
        layout,
        now,
        warn_within: a.warn_within,
        worker: a.worker,
        external_etcd: c.is_some_and(|c| c.external_etcd.is_some()),
        service_vip: names::apiserver_virtual_ip(&cidrs),
        dns_domain,
    };
    let report = audit::audit(&request);
    crate::output::audit::print(&report, a.output)?;
    let threshold = match a.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
        FailOn::Info => Severity::Info,
    };
    std::io::stdout().flush()?;
    Ok(match report.worst() {
        Some(worst) if worst >= threshold => ExitStatus::AuditFindings,
        _ => ExitStatus::Success,
    })
}
