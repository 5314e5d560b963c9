//! `kubepki csr` and `kubepki issue-cert`: a new key for any identity, with a request for it or a
//! certificate for it signed by a CA with a profile. Files on disk are reused only when they are
//! what is asked (the key loads, of the algorithm asked; the request or certificate is for that
//! key with that subject and those SANs); otherwise the run is refused, or `--force` replaces
//! both files (keeping backups).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use time::Duration;

use super::authority::{CaFiles, CaState};
use super::decide::{Existing, decide};
use super::issuing::CaSource;
use super::issuing::{self, sans_text};
use super::signing::SigningWork;
use super::{Action, Decision, ItemKind, PlanItem, Request, Work, conclude};
use crate::pki::csr::{self, CsrSpec};
use crate::pki::error::{Error, ErrorKind, Result};
use crate::pki::inventory::{CertFile, Found, KeyFile, Problem};
use crate::pki::keys::KeyAlgorithm;
use crate::pki::profile::Profile;

/// A new key and what goes with it.
#[derive(Debug, Clone)]
pub struct IdentityWant {
    /// The identity: CN, O values and SANs of the request or certificate.
    pub subject: CsrSpec,
    /// The algorithm of the new key; a key at `key_path` of another algorithm is not reused.
    pub key_algorithm: KeyAlgorithm,
    /// Where the key goes (written 0600).
    pub key_path: PathBuf,
    /// What is at `key_path` now ([`read_key`](crate::pki::inventory::read_key)).
    pub key_found: Arc<Found<KeyFile>>,
    /// A request or a certificate.
    pub make: IdentityMake,
}

/// What goes with the key.
#[derive(Debug, Clone)]
pub enum IdentityMake {
    /// `kubepki csr`: a request, at `path`.
    Csr {
        /// Where the request goes (PEM).
        path: PathBuf,
        /// What is at `path` now: the request parsed with its signature checked
        /// ([`csr::parse`]), or why it cannot be used.
        found: Arc<Found<csr::Request>>,
    },
    /// `kubepki issue-cert`: a certificate at `path`, signed by `ca` with `profile`.
    Cert {
        /// Where the certificate goes (PEM).
        path: PathBuf,
        /// What is at `path` now ([`read_cert`](crate::pki::inventory::read_cert)).
        found: Arc<Found<CertFile>>,
        /// The signing profile: what the identity may be, and the usages and validity the
        /// certificate gets. An identity it refuses is a usage error.
        profile: Profile,
        /// The CA that signs.
        ca: CaSource,
        /// `--validity`, instead of the profile's; checked against the profile's limits and
        /// cut at the CA's NotAfter.
        validity: Option<Duration>,
    },
}

impl IdentityWant {
    /// The CA of the tree it needs, if any.
    pub fn tree_ca(&self) -> Option<&'static crate::pki::catalog::Profile> {
        match &self.make {
            IdentityMake::Cert { ca, .. } => ca.tree(),
            IdentityMake::Csr { .. } => None,
        }
    }
}

pub(super) fn plan(
    request: &Request,
    want: &IdentityWant,
    tree: Option<(&CaState, CaFiles<'_>)>,
) -> Result<PlanItem> {
    match &want.make {
        IdentityMake::Csr { path, found } => plan_csr(request, want, path, found),
        IdentityMake::Cert {
            path,
            found,
            profile,
            ca,
            validity,
        } => plan_cert(request, want, path, found, profile, ca, *validity, tree),
    }
}

fn plan_csr(
    request: &Request,
    want: &IdentityWant,
    csr_path: &Path,
    found: &Found<csr::Request>,
) -> Result<PlanItem> {
    let opts = &request.options;
    let make = |action: Action, reason: String| PlanItem {
        decision: Decision {
            kind: ItemKind::CertificateRequest,
            name: "csr".into(),
            node: None,
            action,
            reason,
            files: vec![want.key_path.clone(), csr_path.to_path_buf()],
        },
        spec: None,
        key_algorithm: Some(want.key_algorithm),
        work: Work::Signing(Box::new(SigningWork::NewCsr {
            key_path: want.key_path.clone(),
            csr_path: csr_path.to_path_buf(),
            subject: want.subject.clone(),
        })),
    };
    let existing = compare_csr(want, csr_path, found).map_err(|p| p.to_error(csr_path))?;
    conclude(
        decide(existing, opts.force),
        make,
        || Ok(()),
        None,
        None,
        csr_path,
        opts,
    )
}

/// How a key and request on disk compare with what is asked.
fn compare_csr(
    want: &IdentityWant,
    csr_path: &Path,
    found: &Found<csr::Request>,
) -> std::result::Result<Existing, Problem> {
    let mut problems = key_problems(want)?;
    let key_exists = want.key_found.exists();
    match found {
        Found::Missing if !key_exists => return Ok(Existing::Missing),
        Found::Missing => problems.push(format!(
            "the request {} is missing but its key exists",
            csr_path.display()
        )),
        Found::Broken(p) if p.kind == ErrorKind::Io => return Err(p.clone()),
        Found::Broken(p) => problems.push(format!("the request {}: {p}", csr_path.display())),
        Found::Present(r) => {
            if let Found::Present(k) = want.key_found.as_ref()
                && k.key.public_key_raw() != r.public_key.raw()
            {
                problems.push("the request is for another key than the key file".into());
            }
            let mut have = r.spec.clone();
            let mut asked = want.subject.clone();
            for s in [&mut have, &mut asked] {
                s.organizations.sort();
            }
            if have.common_name != asked.common_name || have.organizations != asked.organizations {
                problems.push(format!("its subject is {}, not the one asked", r.subject));
            }
            if sans_text(&have.alt_names) != sans_text(&asked.alt_names) {
                problems.push(format!(
                    "its SANs are [{}], expected [{}]",
                    sans_text(&have.alt_names),
                    sans_text(&asked.alt_names)
                ));
            }
        }
    }
    Ok(if problems.is_empty() {
        Existing::Matches("the key and the request are the ones asked for".into())
    } else {
        Existing::Differs(problems)
    })
}

/// What is wrong with the key file for what is asked (its algorithm).
fn key_problems(want: &IdentityWant) -> std::result::Result<Vec<String>, Problem> {
    let path = want.key_path.display();
    Ok(match want.key_found.as_ref() {
        Found::Missing => vec![],
        Found::Broken(p) if p.kind == ErrorKind::Io => return Err(p.clone()),
        Found::Broken(p) => vec![format!("its key {path} {p}")],
        Found::Present(k) if k.key.algorithm() != want.key_algorithm => vec![format!(
            "its key {path} is {}, not {}",
            k.key.algorithm(),
            want.key_algorithm
        )],
        Found::Present(_) => vec![],
    })
}

#[allow(clippy::too_many_arguments)]
fn plan_cert(
    request: &Request,
    want: &IdentityWant,
    cert_path: &Path,
    found: &Found<CertFile>,
    profile: &Profile,
    ca_source: &CaSource,
    validity: Option<Duration>,
    tree: Option<(&CaState, CaFiles<'_>)>,
) -> Result<PlanItem> {
    let opts = &request.options;
    let subject = &want.subject;
    let what = format!("issue {}", cert_path.display());
    let ca = issuing::resolve_ca(ca_source, tree, &what, opts.now)?;
    profile
        .check(
            &subject.common_name,
            &subject.organizations,
            &subject.alt_names,
            want.key_algorithm,
        )
        .map_err(|e| Error::usage("--profile", format!("refuses this identity: {e}")))?;
    let (spec, notes) = issuing::profile_cert(
        profile,
        &ca,
        subject,
        subject.alt_names.clone(),
        want.key_algorithm,
        validity,
        opts,
    )?;
    let warnings = notes.warnings.clone();
    let existing = {
        let mut e = issuing::compare(
            found,
            &spec,
            None,
            Some((&want.key_path, want.key_found.as_ref())),
            &ca.certs,
            opts.now,
        )
        .map_err(|p| p.to_error(cert_path))?;
        let key = key_problems(want).map_err(|p| p.to_error(&want.key_path))?;
        if !key.is_empty() {
            e = match e {
                Existing::Differs(mut v) => {
                    v.extend(key);
                    Existing::Differs(v)
                }
                _ => Existing::Differs(key),
            };
        }
        e
    };
    let issuing::ResolvedCa { with, .. } = ca;
    let work = std::cell::RefCell::new(Some(SigningWork::IssueCert {
        ca: with,
        key_path: want.key_path.clone(),
        cert_path: cert_path.to_path_buf(),
        key_encipherment: profile.key_encipherment(),
        notes,
    }));
    let make = |action: Action, reason: String| PlanItem {
        decision: Decision {
            kind: ItemKind::Certificate,
            name: profile.name.clone(),
            node: None,
            action,
            reason,
            files: vec![want.key_path.clone(), cert_path.to_path_buf()],
        },
        spec: Some(spec.clone()),
        key_algorithm: Some(want.key_algorithm),
        work: work
            .borrow_mut()
            .take()
            .map_or(Work::Keep(None), |w| Work::Signing(Box::new(w))),
    };
    let note = (!warnings.is_empty()).then(|| warnings.join("; "));
    conclude(
        decide(existing, opts.force),
        make,
        || Ok(()),
        note,
        found.present().map(|c| &c.facts),
        cert_path,
        opts,
    )
}
