//! `kubepki issue NAME...`: leaf certificates signed by the CAs on disk.

use clap::Args;
use time::OffsetDateTime;

use super::args::{CommonArgs, EndpointArgs, NodeArgs, SanArgs, ValidityArgs};
use super::nodes::{node_specs, single_node};
use super::pipeline::{self, Epilogue};
use super::settings::{
    Resolved, cluster, external_etcd_note, refuse_etcd_flags_with_external_etcd,
};
use crate::exit::ExitStatus;
use crate::pki::catalog;
use crate::pki::plan::{Request, Want};
use crate::pki::selection;

#[derive(Debug, Args)]
pub struct IssueArgs {
    #[arg(value_name = "NAME", required = true, help = selection::issue_help())]
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

pub(super) fn run(a: &IssueArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let resolved = Resolved::new(&a.common, a.validity.validity, None)?;
    refuse_etcd_flags_with_external_etcd(&resolved, &a.sans)?;
    let profiles = resolved.selection().issue(&a.names)?;
    if let Some(request) = super::etcd_members::request(a, &resolved, &profiles, now)? {
        return pipeline::write(request, a.common.dry_run, a.common.output, Epilogue::None);
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
        let for_nodes = if profile.per_node() {
            &nodes[..]
        } else {
            &nodes[..1]
        };
        wants.extend(for_nodes.iter().map(|n| Want::Cert {
            profile,
            node: n.clone(),
        }));
    }
    let request = Request {
        layout: resolved.layout(None),
        cluster,
        wants,
        options: resolved.options(a.common.force, now)?,
    };
    pipeline::write(request, a.common.dry_run, a.common.output, Epilogue::None)
}
