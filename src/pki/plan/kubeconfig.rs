//! Kubeconfigs with an embedded client certificate: kubeadm's five, per-node kubelet ones, and
//! any user's. One on disk is reused only if its server, cluster and CA are the ones asked for
//! and its client certificate is valid, chains to the cluster CA, names the expected user and
//! groups, and matches its key.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::authority::{CaFiles, CaState};
use super::decide::{Existing, decide};
use super::{Action, Decision, ItemKind, PlanItem, Request, Work, conclude};
use crate::pki::catalog::{self, KubeconfigPlacement, KubeconfigProfile, ServerRule};
use crate::pki::cert::{self, CertSpec};
use crate::pki::error::{Error, ErrorKind, Result};
use crate::pki::inventory::{Found, Inventory, KubeconfigFile, chain_problem};
use crate::pki::names::{Cluster, NodeSpec};

/// A kubeconfig to plan: where it goes, what it points at, and whose identity it carries.
pub(super) struct Target {
    name: String,
    node: Option<String>,
    dest: Option<PathBuf>,
    server: String,
    cluster_name: String,
    common_name: String,
    organizations: Vec<String>,
}

impl Target {
    pub(super) fn of_profile(
        request: &Request,
        profile: &KubeconfigProfile,
        node: &NodeSpec,
    ) -> Result<Target> {
        let cluster = cluster_of(request)?;
        let server = match profile.server {
            ServerRule::ControlPlaneEndpoint => cluster.control_plane_url(),
            ServerRule::LocalEndpoint => cluster.local_endpoint_url(),
        };
        Ok(Target {
            name: profile.name.to_string(),
            node: (profile.placement == KubeconfigPlacement::PerNode).then(|| node.name.clone()),
            dest: Some(request.layout.kubeconfig_path(profile, &node.name)),
            server,
            cluster_name: cluster.cluster_name.clone(),
            common_name: profile.common_name(&node.name),
            organizations: profile
                .organizations
                .iter()
                .map(|o| o.to_string())
                .collect(),
        })
    }

    pub(super) fn user(
        request: &Request,
        client_name: &str,
        organizations: &[String],
        out: &Option<PathBuf>,
    ) -> Result<Target> {
        let cluster = cluster_of(request)?;
        Ok(Target {
            name: "user".into(),
            node: None,
            dest: out.clone(),
            server: cluster.control_plane_url(),
            cluster_name: cluster.cluster_name.clone(),
            common_name: client_name.to_string(),
            organizations: organizations.to_vec(),
        })
    }
}

fn cluster_of(request: &Request) -> Result<&Cluster> {
    request.cluster.as_ref().ok_or_else(|| {
        Error::usage(
            "kubeconfig",
            "needs the cluster settings (advertise address, node name)",
        )
    })
}

pub(super) fn plan(
    request: &Request,
    inventory: &Inventory,
    target: Target,
    (ca, ca_files): (&CaState, CaFiles<'_>),
) -> Result<PlanItem> {
    let opts = &request.options;
    let (not_before, not_after) = cert::validity(opts.now, opts.validity);
    let spec = CertSpec {
        common_name: target.common_name.clone(),
        organizations: target.organizations.clone(),
        alt_names: Default::default(),
        usages: catalog::KUBECONFIG_USAGES.to_vec(),
        is_ca: false,
        not_before,
        not_after,
    };
    let signable = || {
        ca.signable(
            &ca_files,
            &format!("write {}", target.name),
            "provide the kubeconfig signed by the external CA",
        )
    };
    let make = |action: Action, reason: String| PlanItem {
        decision: Decision {
            kind: ItemKind::Kubeconfig,
            name: target.name.clone(),
            node: target.node.clone(),
            action,
            reason,
            files: target.dest.iter().cloned().collect(),
        },
        spec: Some(spec.clone()),
        key_algorithm: Some(opts.key_algorithm),
        work: Work::Kubeconfig {
            dest: target.dest.clone(),
            server: target.server.clone(),
            cluster_name: target.cluster_name.clone(),
        },
    };
    let existing = match &target.dest {
        None => Existing::Missing,
        Some(dest) => match inventory.kubeconfig(dest) {
            None | Some(Found::Missing) => Existing::Missing,
            Some(Found::Broken(p)) => match p.kind {
                ErrorKind::Io => return Err(p.to_error(dest)),
                _ => Existing::Differs(vec![p.to_string()]),
            },
            Some(Found::Present(file)) => compare(file, &target, &spec, ca, opts.now),
        },
    };
    conclude(
        decide(existing, opts.force),
        make,
        signable,
        None,
        None,
        target.dest.as_deref().unwrap_or(Path::new("-")),
        opts,
    )
}

/// How a kubeconfig on disk compares with `target`.
fn compare(
    file: &KubeconfigFile,
    target: &Target,
    spec: &CertSpec,
    ca: &CaState,
    now: OffsetDateTime,
) -> Existing {
    let current = match &file.current {
        Ok(c) => c,
        Err(e) => return Existing::Differs(vec![e.clone()]),
    };
    let mut problems = Vec::new();
    if current.cluster_name != target.cluster_name {
        problems.push(format!(
            "its cluster is named {:?}, expected {:?}",
            current.cluster_name, target.cluster_name
        ));
    }
    if current.server != target.server {
        problems.push(format!(
            "its server is {}, expected {}",
            current.server, target.server
        ));
    }
    let ca_certs = ca.certs();
    match &current.ca {
        Ok(certs) if ca_certs.is_some_and(|ca| certs[0] == ca[0]) => {}
        Ok(_) if matches!(ca, CaState::New) => problems.push("the CA is being created now".into()),
        Ok(_) if ca_certs.is_none() => {}
        Ok(_) => problems.push("its CA certificate is not the cluster CA (ca.crt)".into()),
        Err(e) => problems.push(format!("its CA: {e}")),
    }
    let (chain, facts) = match &current.client {
        Ok(c) => c,
        Err(e) => {
            problems.push(format!("its client certificate: {e}"));
            return Existing::Differs(problems);
        }
    };
    if let Some(ca) = ca_certs
        && let Some(e) = chain_problem(chain, ca)
    {
        problems.push(format!("its client certificate does not chain to ca: {e}"));
    }
    if facts.common_name != spec.common_name {
        problems.push(format!(
            "its client CN is {:?}, expected {:?}",
            facts.common_name, spec.common_name
        ));
    }
    let mut have = facts.organizations.clone();
    let mut want = spec.organizations.clone();
    have.sort();
    want.sort();
    if have != want {
        problems.push(format!(
            "its client groups (O) are {:?}, expected {:?}",
            facts.organizations, spec.organizations
        ));
    }
    let missing = facts.missing_usages(&spec.usages);
    if !missing.is_empty() {
        problems.push(format!(
            "its client certificate lacks {}",
            missing.join(", ")
        ));
    }
    if facts.not_after <= now {
        problems.push(format!(
            "its client certificate expired on {} (renew it with `kubepki renew`)",
            facts.not_after
        ));
    }
    match &current.client_key {
        Ok(key) if key.public_key_raw() == facts.public_key_raw => {}
        Ok(_) => problems.push("its client key does not match its client certificate".into()),
        Err(e) => problems.push(format!("its client key: {e}")),
    }
    if problems.is_empty() {
        Existing::Matches(format!(
            "server {}, CA matches, client {} valid and chains to ca",
            target.server, target.common_name
        ))
    } else {
        Existing::Differs(problems)
    }
}
