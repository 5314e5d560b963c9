//! `kubepki sign`: a certificate for the public key of a PKCS#10 request, signed by a CA of the
//! tree or a CA pair given by path, with a signing profile.
//!
//! The request has been read and its signature verified (proof of possession) before it gets
//! here ([`crate::pki::csr::parse`]). The certificate certifies the request's subject and SANs
//! (edited by `--san`/`--only-san`, which the result says); its usages come only from the
//! profile; it is CA:FALSE, and a request that asks for a CA is refused. Its validity is the
//! profile's (or `--validity`), from 5 minutes before now, cut at the CA's NotAfter with a
//! warning (as the CSR API's signer does). What `sign`, `csr` and `issue-cert` share is in
//! `issuing` (the CA, the validity, the reuse check) and `signing` (their work and its
//! execution).

use std::path::PathBuf;
use std::sync::Arc;

use time::Duration;

use super::authority::{CaFiles, CaState};
use super::decide::{Existing, decide};
use super::issuing::CaSource;
use super::issuing::{ResolvedCa, compare, profile_cert, resolve_ca};
use super::signing::SigningWork;
use super::{Action, Decision, ItemKind, PlanItem, Request, Work, conclude};
use crate::pki::csr::{self};
use crate::pki::error::{Error, Result};
use crate::pki::identity::{SanEdits, san_list};
use crate::pki::inventory::{CertFile, Found};
use crate::pki::profile::Profile;

/// `kubepki sign`: one request to sign.
#[derive(Debug, Clone)]
pub struct SignWant {
    /// The request, read and verified.
    pub request: csr::Request,
    /// Where it was read from (a path, or `<stdin>`), for messages.
    pub source: PathBuf,
    /// The signing profile: which subjects and SANs it accepts, and the usages and validity
    /// the certificate gets. A request it refuses is refused with the reason.
    pub profile: Profile,
    /// The CA that signs.
    pub ca: CaSource,
    /// What `--san` and `--only-san` change in the request's SANs.
    pub edits: SanEdits,
    /// `--validity`, instead of the profile's.
    pub validity: Option<Duration>,
    /// `--out`, and what is there now; `None` for stdout.
    pub out: Option<OutputFile>,
    /// Append the CA file's certificates (`--bundle`).
    pub bundle: bool,
}

/// An output certificate file and what is there now.
#[derive(Debug, Clone)]
pub struct OutputFile {
    /// Where the certificate goes (PEM).
    pub path: PathBuf,
    /// What is at `path` now ([`read_cert`](crate::pki::inventory::read_cert)): a certificate
    /// there already for the request's key, subject, SANs and usages, chaining to the CA and
    /// unexpired, is kept.
    pub found: Arc<Found<CertFile>>,
}

pub(super) fn plan(
    request: &Request,
    want: &SignWant,
    tree: Option<(&CaState, CaFiles<'_>)>,
) -> Result<PlanItem> {
    let opts = &request.options;
    let req = &want.request;
    let source = &want.source;
    let ca = resolve_ca(
        &want.ca,
        tree,
        &format!("sign {}", source.display()),
        opts.now,
    )?;
    if req.asks_ca {
        return Err(Error::bad_file(
            source,
            "asks for a CA certificate (basicConstraints CA:TRUE); kubepki signs only CA:FALSE \
             certificates, never a CA from a request",
        ));
    }
    let subject = &req.spec;
    if [&subject.common_name]
        .into_iter()
        .chain(&subject.organizations)
        .any(|v| v.chars().any(char::is_control))
    {
        return Err(Error::bad_file(
            source,
            "its subject holds a control character",
        ));
    }
    let unprintable = san_list(&subject.alt_names)
        .iter()
        .any(|s| !s.to_string().bytes().all(|b| b.is_ascii_graphic()));
    if unprintable {
        return Err(Error::bad_file(
            source,
            "asks for a SAN that is not printable ASCII (not shown)",
        ));
    }
    let edited = want.edits.apply(&subject.alt_names);
    if subject.common_name.is_empty()
        && subject.organizations.is_empty()
        && edited.alt_names.is_empty()
    {
        return Err(Error::bad_file(
            source,
            "names nothing to certify: its subject is empty and it has no SANs (add some with --san)",
        ));
    }
    let profile = &want.profile;
    profile
        .check(
            &subject.common_name,
            &subject.organizations,
            &edited.alt_names,
            req.key_algorithm,
        )
        .map_err(|e| Error::bad_file(source, format!("refused: {e}")))?;
    let (spec, mut notes) = profile_cert(
        profile,
        &ca,
        subject,
        edited.alt_names.clone(),
        req.key_algorithm,
        want.validity,
        opts,
    )?;
    notes.sans_added = edited.added.clone();
    notes.sans_dropped = edited.dropped.clone();
    let warnings = notes.warnings.clone();
    let dest = want.out.as_ref().map(|o| o.path.clone());
    let ResolvedCa { with, certs, .. } = ca;
    let work = std::cell::RefCell::new(Some(SigningWork::SignCsr {
        ca: with,
        public_key: req.public_key.clone(),
        key_encipherment: profile.key_encipherment(),
        dest: dest.clone(),
        bundle: want.bundle,
        notes,
    }));
    let make = |action: Action, reason: String| PlanItem {
        decision: Decision {
            kind: ItemKind::Certificate,
            name: profile.name.clone(),
            node: None,
            action,
            reason,
            files: dest.iter().cloned().collect(),
        },
        spec: Some(spec.clone()),
        key_algorithm: Some(req.key_algorithm),
        work: work
            .borrow_mut()
            .take()
            .map_or(Work::Keep(None), |w| Work::Signing(Box::new(w))),
    };
    let existing = match &want.out {
        None => Existing::Missing,
        Some(out) => compare(
            &out.found,
            &spec,
            Some(req.public_key.raw()),
            None,
            &certs,
            opts.now,
        )
        .map_err(|e| e.to_error(&out.path))?,
    };
    let note = (!warnings.is_empty()).then(|| warnings.join("; "));
    let kept = want
        .out
        .as_ref()
        .and_then(|o| o.found.present())
        .map(|c| &c.facts);
    conclude(
        decide(existing, opts.force),
        make,
        || Ok(()),
        note,
        kept,
        want.out
            .as_ref()
            .map_or(source.as_path(), |o| o.path.as_path()),
        opts,
    )
}
