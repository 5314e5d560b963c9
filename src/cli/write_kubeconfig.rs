//! `kubepki write-kubeconfig NAME...`: kubeadm's `init phase kubeconfig` and `kubeconfig user`.
// The doc comments here are the command-line help (clap), written for a terminal:
// `HOST[:PORT]` and `<cert-dir>` are not rustdoc links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::Args;
use time::OffsetDateTime;

use super::args::{CommonArgs, EndpointArgs, KubeconfigArgs, NodeArgs, ValidityArgs};
use super::nodes::{node_specs, single_node};
use super::pipeline::{self, Epilogue};
use super::settings::{Resolved, cluster};
use crate::exit::ExitStatus;
use crate::pki::Error;
use crate::pki::catalog::{self, KubeconfigPlacement};
use crate::pki::names::{self, NodeSpec};
use crate::pki::plan::{Request, Want};

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
    #[command(flatten)]
    pub explain: super::args::ExplainArgs,
}

pub(super) fn run(a: &WriteKubeconfigArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let resolved = Resolved::new(&a.common, a.validity.validity, None)?;
    let (profiles, user) = resolved.selection().kubeconfigs(&a.names)?;
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
            .all(|p| p.placement == KubeconfigPlacement::PerNode);
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
        let for_nodes: &[NodeSpec] = match profile.placement {
            KubeconfigPlacement::PerNode => &nodes,
            KubeconfigPlacement::ControlPlane => std::slice::from_ref(&control_plane_node),
        };
        wants.extend(for_nodes.iter().map(|n| Want::Kubeconfig {
            profile,
            node: n.clone(),
        }));
    }
    if user {
        wants.push(user_want(a)?);
    }
    let request = Request {
        layout: resolved.layout(a.kubeconfig.kubeconfig_dir.as_ref()),
        cluster: Some(cluster),
        wants,
        options: resolved.options(a.common.force, now)?,
    };
    if a.explain.explain {
        return pipeline::explain(&request, "write-kubeconfig");
    }
    pipeline::write(request, a.common.dry_run, a.common.output, Epilogue::None)
}

/// `user`: any identity, from --client-name and --org.
fn user_want(a: &WriteKubeconfigArgs) -> anyhow::Result<Want> {
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
    names::validate_subject_value(&client_name).map_err(|e| Error::usage("--client-name", e))?;
    if let Some(o) = a.orgs.iter().find(|o| o.trim().is_empty()) {
        return Err(Error::usage("--org", format!("{o:?} is not a group name")).into());
    }
    for o in &a.orgs {
        names::validate_subject_value(o).map_err(|e| Error::usage("--org", e))?;
    }
    Ok(Want::UserKubeconfig {
        client_name,
        organizations: a.orgs.clone(),
        out: a.out.clone(),
    })
}
