//! `kubepki issue NAME...`: leaf certificates signed by the CAs on disk.
//!
//! `kubepki issue etcd-server etcd-peer ... --node-name m1=IP --node-name m2=IP ...`: the
//! members of an HA etcd cluster in one call. Each member's serving and peer certificates (its
//! name and addresses as SANs) go into `<cert-dir>/etcd-members/<node>/etcd/`, with a copy of
//! the etcd CA certificate: a `pki/` tree to copy to that member as it is. Client certificates
//! asked for in the same call (etcd-healthcheck-client, apiserver-etcd-client) are issued once,
//! into the tree as usual.

use clap::Args;
use time::OffsetDateTime;

use super::args::{CommonArgs, EndpointArgs, NodeArgs, SanArgs, ValidityArgs};
use super::nodes::{node_specs, single_node};
use super::pipeline::{self, Epilogue};
use super::settings::{
    Resolved, cluster, external_etcd_note, refuse_etcd_flags_with_external_etcd,
};
use crate::exit::ExitStatus;
use crate::pki::Error;
use crate::pki::catalog::{self, CommonName, Profile, SanRule, Scope};
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
    #[command(flatten)]
    pub explain: super::args::ExplainArgs,
}

pub(super) fn run(a: &IssueArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let resolved = Resolved::new(&a.common, a.validity.validity, None)?;
    refuse_etcd_flags_with_external_etcd(&resolved, &a.sans)?;
    let profiles = resolved.selection().issue(&a.names)?;
    if let Some(request) = members_request(a, &resolved, &profiles, now)? {
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
    if a.explain.explain {
        return pipeline::explain(&request, "issue");
    }
    pipeline::write(request, a.common.dry_run, a.common.output, Epilogue::None)
}

/// The request of an `issue` for etcd members, or `None` when the command is not that: the
/// member profiles are named, or etcd-server/etcd-peer for more than one node.
fn members_request(
    a: &IssueArgs,
    resolved: &Resolved,
    profiles: &[&'static Profile],
    now: OffsetDateTime,
) -> anyhow::Result<Option<Request>> {
    let members_named = profiles.iter().any(|p| p.scope == Scope::EtcdMember);
    let etcd_named = profiles
        .iter()
        .any(|p| catalog::etcd_member_of(p).is_some());
    if !members_named && !etcd_named {
        return Ok(None);
    }
    // Members are per node: the config's node name is just one more default.
    let nodes = node_specs(&a.nodes, resolved.config(), false)?;
    let several = nodes.len() > 1;
    if !members_named && !several {
        return Ok(None);
    }
    let mut chosen: Vec<&'static Profile> = Vec::new();
    for p in profiles {
        let p = match several {
            true => catalog::etcd_member_of(p).unwrap_or(p),
            false => p,
        };
        if !chosen.contains(&p) {
            chosen.push(p);
        }
    }
    // Anything else must be the same for every node (a client certificate) or per node.
    let per_node_or_same_for_all = |p: &Profile| {
        p.per_node() || (matches!(p.common_name, CommonName::Fixed(_)) && p.sans == SanRule::None)
    };
    let node_bound = |p: &&&'static Profile| !per_node_or_same_for_all(p);
    if let Some(p) = chosen.iter().find(node_bound) {
        return Err(Error::usage(
            "NAME",
            format!(
                "{} is for one control-plane node; issue it separately, with one --node-name \
                 (with etcd members, only per-node and client certificates are issued)",
                p.name
            ),
        )
        .into());
    }
    // The cluster settings only add the etcd extra SANs to every member's certificates; without
    // any, they are not needed (nor the advertise address they would ask for).
    let config = resolved.config();
    let extras = !a.sans.etcd_server_extra_sans.is_empty()
        || !a.sans.etcd_peer_extra_sans.is_empty()
        || config.is_some_and(|c| {
            !c.etcd_server_cert_sans.is_empty() || !c.etcd_peer_cert_sans.is_empty()
        });
    let cluster = match extras {
        true => Some(cluster(
            &a.endpoint,
            Some(&a.sans),
            None,
            &nodes[0],
            config,
        )?),
        false => None,
    };
    let mut wants = Vec::new();
    for profile in catalog::CATALOG.iter().filter(|p| chosen.contains(p)) {
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
    if chosen.iter().any(|p| p.scope == Scope::EtcdMember) {
        wants.extend(nodes.iter().map(|n| Want::EtcdMemberCa {
            node: n.name.clone(),
        }));
    }
    Ok(Some(Request {
        layout: resolved.layout(None),
        cluster,
        wants,
        options: resolved.options(a.common.force, now)?,
    }))
}
