//! `kubepki init`: kubeadm's `init phase certs all` and `init phase kubeconfig all`.

use clap::Args;
use time::OffsetDateTime;

use super::args::{
    CaValidityArgs, CommonArgs, EndpointArgs, KubeconfigArgs, NodeArgs, SanArgs, ValidityArgs,
};
use super::nodes::{node_specs, single_node};
use super::pipeline::{self, Epilogue};
use super::settings::{
    Resolved, cluster, external_etcd_note, refuse_etcd_flags_with_external_etcd,
};
use crate::exit::ExitStatus;
use crate::pki::plan::Request;

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
    #[command(flatten)]
    pub explain: super::args::ExplainArgs,
    /// Phases to skip, as kubeadm names them: `kubeconfig` for certificates only (kubeadm init
    /// phase certs all), `certs`, or one step (`certs/etcd-ca`, `certs/sa`, `kubeconfig/admin`).
    #[arg(long, value_name = "PHASE,...", value_delimiter = ',')]
    pub skip_phases: Vec<String>,
}

pub(super) fn run(a: &InitArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
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
    let wants = resolved.selection().init_without(&node, &a.skip_phases)?;
    let request = Request {
        layout: resolved.layout(a.kubeconfig.kubeconfig_dir.as_ref()),
        cluster: Some(cluster),
        wants,
        options: resolved.options(a.common.force, now)?,
    };
    if a.explain.explain {
        return pipeline::explain(&request, "init");
    }
    pipeline::write(request, a.common.dry_run, a.common.output, Epilogue::None)
}
