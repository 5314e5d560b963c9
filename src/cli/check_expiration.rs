//! `kubepki check-expiration [PATH...]`: kubeadm's `certs check-expiration`, with exit codes.

use std::path::PathBuf;

use clap::Args;
use time::OffsetDateTime;

use super::settings::{load_config, read_layout};
use crate::exit::ExitStatus;
use crate::output::{self, OutputFormat};
use crate::pki::duration::parse_duration;
use crate::pki::expiration;
use crate::pki::selection::Selection;
use crate::pki::store;

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
    pub warn_within: time::Duration,

    /// Exit with code 5 when a certificate expires within this time (expired ones always do).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub fail_within: Option<time::Duration>,

    /// Output format: text (kubeadm's tables), json or yaml (schema in the README), or
    /// prometheus (the text exposition format node_exporter's textfile collector reads).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: ReportFormat,

    /// Write the report to FILE atomically (temporary file, fsync, rename) instead of stdout:
    /// for node_exporter's textfile collector (`-o prometheus --textfile
    /// /var/lib/node_exporter/textfile/kubepki.prom`).
    #[arg(long, value_name = "FILE")]
    pub textfile: Option<PathBuf>,
}

/// check-expiration's formats: the common ones, and Prometheus's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Yaml,
    Prometheus,
}

pub(super) fn run(a: &CheckExpirationArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let config = load_config(a.config.as_ref())?;
    let c = config.as_ref();
    // With only PATHs given, check just those; the kubeadm tree is checked by default or when
    // asked for with --cert-dir/--kubeconfig-dir/--config (its certificatesDir).
    let tree = a.paths.is_empty()
        || a.cert_dir.is_some()
        || c.is_some_and(|c| c.cert_dir.is_some())
        || a.kubeconfig_dir.is_some();
    let layout = if tree {
        Some(read_layout(
            c,
            a.cert_dir.clone(),
            a.kubeconfig_dir.clone(),
        )?)
    } else {
        None
    };
    let mut report = expiration::report(&expiration::Request {
        layout,
        paths: a.paths.clone(),
        now,
        warn_within: a.warn_within,
        fail_within: a.fail_within,
    });
    // kubeadm's list without etcd: with external etcd nothing of etcd's is expected in the tree.
    let selection = Selection::new(c.is_some_and(|c| c.external_etcd.is_some()));
    report.certificates.retain(|e| selection.includes(&e.name));
    report
        .certificate_authorities
        .retain(|e| selection.includes(&e.name));
    match (a.output, &a.textfile) {
        (ReportFormat::Prometheus, None) => {
            use std::io::Write;
            std::io::stdout()
                .lock()
                .write_all(output::prometheus::render(&report).as_bytes())?;
        }
        (ReportFormat::Prometheus, Some(file)) => {
            let write = store::FileWrite {
                path: file.clone(),
                kind: store::FileKind::Report,
                contents: output::prometheus::render(&report).into_bytes(),
                backup: None,
            };
            store::commit(&[write], store::parent_dir(file))?;
        }
        (_, Some(_)) => {
            return Err(crate::pki::Error::usage(
                "--textfile",
                "only with -o prometheus (node_exporter's textfile collector)",
            )
            .into());
        }
        (format, None) => {
            let format = match format {
                ReportFormat::Json => OutputFormat::Json,
                ReportFormat::Yaml => OutputFormat::Yaml,
                _ => OutputFormat::Text,
            };
            output::print_expiration(&report, format)?;
        }
    }
    Ok(if report.has_expiring() {
        ExitStatus::Expiring
    } else if report.has_missing_or_invalid() {
        ExitStatus::MissingOrInvalid
    } else {
        ExitStatus::Success
    })
}
