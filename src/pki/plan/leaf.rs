//! Leaf certificates of the catalog: reuse one on disk only if its key matches, it chains to
//! its CA, and its CN, SANs, usages and validity cover the request.

use time::OffsetDateTime;

use super::authority::{CaFiles, CaState};
use super::decide::{Existing, decide};
use super::{Action, Decision, ItemKind, Options, PlanItem, Request, Work, conclude, display_name};
use crate::pki::catalog::Profile;
use crate::pki::cert::{self, CertSpec};
use crate::pki::error::{Error, ErrorKind, Result};
use crate::pki::inventory::{Found, Inventory, Pair, chain_problem};
use crate::pki::names::{self, Cluster, NodeSpec};

pub(super) fn plan(
    request: &Request,
    inventory: &Inventory,
    profile: &'static Profile,
    node: &NodeSpec,
    (ca, ca_files): (&CaState, CaFiles<'_>),
) -> Result<PlanItem> {
    let opts = &request.options;
    let ca_profile = profile.issuer();
    let pair = inventory
        .pair(profile, &node.name)
        .ok_or_else(|| internal(profile))?;
    let (name, node_name) = display_name(profile, node);
    let spec = spec_for(profile, request.cluster.as_ref(), node, opts)?;
    let cert_path = pair.cert_path.clone();
    let key_path = pair.key_path.clone();
    let make = |action: Action, reason: String| PlanItem {
        decision: Decision {
            kind: ItemKind::Certificate,
            name: name.clone(),
            node: node_name.clone(),
            action,
            reason,
            files: vec![key_path.clone(), cert_path.clone()],
        },
        spec: Some(spec.clone()),
        key_algorithm: Some(opts.key_algorithm),
        work: Work::Cert {
            ca: Some(ca_profile.name),
            cert_path: cert_path.clone(),
            key_path: key_path.clone(),
            reuse_key: None,
        },
    };
    let signable = || {
        ca.signable(
            &ca_files,
            &format!("issue {name}"),
            &format!("sign {} with the external CA", cert_path.display()),
        )
    };
    let existing = compare(pair, &spec, ca, &ca_files, opts.now)?;
    conclude(
        decide(existing, opts.force),
        make,
        signable,
        ca.outlives(&spec, opts),
        pair.cert.present().map(|c| &c.facts),
        &cert_path,
        opts,
    )
}

fn internal(profile: &Profile) -> Error {
    Error::Crypto(format!("internal: {} was not read", profile.name))
}

/// What a new certificate of `profile` for `node` contains (CAs and per-node certificates need
/// no cluster settings).
pub(super) fn spec_for(
    profile: &Profile,
    cluster: Option<&Cluster>,
    node: &NodeSpec,
    opts: &Options,
) -> Result<CertSpec> {
    let alt_names = names::alt_names(profile, cluster, node).ok_or_else(|| {
        Error::usage(
            profile.name,
            "needs the cluster settings (advertise address, node name)",
        )
    })?;
    let period = if profile.is_ca() {
        opts.ca_validity
    } else {
        opts.validity
    };
    let (not_before, not_after) = cert::validity(opts.now, period);
    Ok(CertSpec {
        common_name: profile.common_name(&node.name),
        organizations: profile
            .organizations
            .iter()
            .map(|o| o.to_string())
            .collect(),
        alt_names,
        usages: profile.usages.to_vec(),
        is_ca: profile.is_ca(),
        not_before,
        not_after,
    })
}

/// How the files on disk compare with `spec`.
fn compare(
    pair: &Pair,
    spec: &CertSpec,
    ca: &CaState,
    ca_files: &CaFiles<'_>,
    now: OffsetDateTime,
) -> Result<Existing> {
    if !pair.cert.exists() && !pair.key.exists() {
        return Ok(Existing::Missing);
    }
    // A file that cannot be read at all (as opposed to one that is malformed) is an I/O error,
    // not a difference that --force could fix.
    for (found, path) in [
        (pair.cert.problem(), &pair.cert_path),
        (pair.key.problem(), &pair.key_path),
    ] {
        if let Some(p) = found.filter(|p| p.kind == ErrorKind::Io) {
            return Err(p.to_error(path));
        }
    }
    let mut problems = Vec::new();
    match &pair.key {
        Found::Missing => problems.push(format!("its key {} is missing", pair.key_path.display())),
        Found::Broken(p) => problems.push(format!("its key {} {p}", pair.key_path.display())),
        Found::Present(_) => {}
    }
    let cert = match &pair.cert {
        Found::Missing => {
            problems.push("the certificate is missing (only the key exists)".into());
            return Ok(Existing::Differs(problems));
        }
        Found::Broken(p) => {
            problems.push(format!("the certificate {p}"));
            return Ok(Existing::Differs(problems));
        }
        Found::Present(c) => c,
    };
    let facts = &cert.facts;
    if pair.key_matches() == Some(false) {
        problems.push(format!(
            "its key {} does not match it",
            pair.key_path.display()
        ));
    }
    match ca {
        CaState::Loaded { certs } | CaState::External { certs } => {
            // Checked against the CA file when the tree was read; again only if the inventory
            // had no verdict.
            let verdict = pair
                .chain
                .clone()
                .unwrap_or_else(|| chain_problem(&cert.chain, certs).map_or(Ok(()), Err));
            if let Err(e) = verdict {
                problems.push(format!(
                    "it does not chain to {}: {e}",
                    ca_files.cert.display()
                ));
            }
        }
        CaState::New => problems.push(format!(
            "{} is being created now, and this certificate cannot chain to a new CA",
            ca_files.cert.display()
        )),
        CaState::Missing => {}
    }
    if facts.common_name != spec.common_name {
        problems.push(format!(
            "its CN is {:?}, expected {:?}",
            facts.common_name, spec.common_name
        ));
    }
    let missing = facts.missing_names(&spec.alt_names);
    if !missing.is_empty() {
        problems.push(format!("it lacks SANs {}", missing.join(", ")));
    }
    let missing = facts.missing_usages(&spec.usages);
    if !missing.is_empty() {
        problems.push(format!(
            "it lacks extended key usages {}",
            missing.join(", ")
        ));
    }
    if facts.not_after <= now {
        problems.push(format!(
            "it expired on {} (renew it with `kubepki renew`)",
            facts.not_after
        ));
    }
    if !problems.is_empty() {
        return Ok(Existing::Differs(problems));
    }
    let ca_word = match ca {
        CaState::External { .. } => "chains to the external",
        _ => "chains to",
    };
    Ok(Existing::Matches(format!(
        "valid until {}, key matches, {ca_word} {}, SANs and usages cover the request",
        facts.not_after.date(),
        ca_files.name
    )))
}
