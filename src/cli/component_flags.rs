//! `kubepki component-flags [COMPONENT...]`: the certificate flags of etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and the kubelet for this tree's paths, with the TLS
//! hardening the docs recommend, for running components by hand.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use time::OffsetDateTime;

use super::settings::{load_config, read_layout, service_network};
use crate::exit::ExitStatus;
use crate::output::OutputFormat;
use crate::pki::Error;
use crate::pki::component_flags::{self, COMPONENTS, ComponentFlags, Settings};

#[derive(Debug, Args)]
pub struct ComponentFlagsArgs {
    /// Components to show (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
    /// kubelet) [default: all].
    #[arg(value_name = "COMPONENT")]
    pub components: Vec<String>,
    /// A kubeadm configuration file (its certificatesDir and networking.dnsDomain).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The certificate directory [default: /etc/kubernetes/pki].
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// The kubeconfig directory [default: the parent of --cert-dir].
    #[arg(long, value_name = "DIR")]
    pub kubeconfig_dir: Option<PathBuf>,
    /// etcd's client URL as kube-apiserver reaches it.
    #[arg(long, value_name = "URL", default_value = "https://127.0.0.1:2379")]
    pub etcd_servers: String,
    /// Output format: text (one shell command per component), json or yaml.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    kind: &'static str,
    api_version: &'static str,
    components: Vec<ComponentFlags>,
}

pub(super) fn run(a: &ComponentFlagsArgs, _now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let config = load_config(a.config.as_ref())?;
    let c = config.as_ref();
    let layout = read_layout(c, a.cert_dir.clone(), a.kubeconfig_dir.clone())?;
    let (_, dns_domain) = service_network(None, None, c)?;
    let settings = Settings {
        dns_domain,
        etcd_servers: a.etcd_servers.clone(),
    };
    let mut chosen = Vec::new();
    for name in &a.components {
        let c = COMPONENTS
            .iter()
            .find(|c| **c == name.as_str())
            .ok_or_else(|| {
                Error::usage(
                    "COMPONENT",
                    format!(
                        "unknown component {name:?}; expected one of: {}",
                        COMPONENTS.join(", ")
                    ),
                )
            })?;
        chosen.push(*c);
    }
    if chosen.is_empty() {
        chosen = COMPONENTS.to_vec();
    }
    let components: Vec<_> = chosen
        .into_iter()
        .map(|c| component_flags::flags_for(c, &layout, &settings))
        .collect();
    let mut out = std::io::stdout().lock();
    let text = match a.output {
        OutputFormat::Text => components.iter().map(shell).collect::<Vec<_>>().join("\n"),
        OutputFormat::Json | OutputFormat::Yaml => {
            let report = Report {
                kind: "ComponentFlags",
                api_version: crate::pki::REPORT_API_VERSION,
                components,
            };
            crate::output::serialize(&report, a.output)?
        }
    };
    out.write_all(text.as_bytes())?;
    Ok(ExitStatus::Success)
}

/// `component \` and one `--flag=value \` a line: a command to paste.
fn shell(c: &ComponentFlags) -> String {
    let mut s = format!("{} \\\n", c.component);
    let n = c.flags.len();
    for (i, f) in c.flags.iter().enumerate() {
        let end = if i + 1 < n { " \\" } else { "" };
        s += &format!("  {}={}{end}\n", f.flag, f.value);
    }
    s
}
