//! `kubepki sign`: a certificate for the public key of a PKCS#10 request, signed by a CA of the
//! tree or a CA pair given by path, with a signing profile.
//!
//! The request has been read and its signature verified (proof of possession) before it gets
//! here ([`crate::pki::csr::parse`]). The certificate certifies the request's subject and SANs
//! (edited by `--san`/`--only-san`, which the result says); its usages come only from the
//! profile; it is CA:FALSE, and a request that asks for a CA is refused. Its validity is the
//! profile's (or `--validity`), from 5 minutes before now, cut at the CA's NotAfter with a
//! warning (as the CSR API's signer does). This module also holds what `sign` and `issue-cert`
//! share: the CA they sign with ([`CaSource`]), the reuse check of a certificate on disk, and
//! the execution of their work ([`SigningWork`]).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::authority::{CaFiles, CaState, Signer};
use super::decide::{Existing, decide};
use super::{Action, Decision, ItemKind, Options, Plan, PlanItem, Request, Work, conclude};
use crate::pki::catalog;
use crate::pki::cert::{self, Authority, CertFacts, CertSpec};
use crate::pki::csr::{self, CsrSpec};
use crate::pki::duration::MIN_VALIDITY;
use crate::pki::error::{Error, ErrorKind, Result};
use crate::pki::identity::{SanEdits, san_list};
use crate::pki::inventory::{CertFile, Found, KeyFile, chain_problem};
use crate::pki::keys::{PrivateKey, SubjectPublicKey};
use crate::pki::names::AltNames;
use crate::pki::profile::{Profile, Usage};
use crate::pki::store::FileKind;

/// `kubepki sign`: one request to sign.
#[derive(Debug, Clone)]
pub struct SignWant {
    /// The request, read and verified.
    pub request: csr::Request,
    /// Where it was read from (a path, or `<stdin>`), for messages.
    pub source: PathBuf,
    pub profile: Profile,
    pub ca: CaSource,
    pub edits: SanEdits,
    /// `--validity`, instead of the profile's.
    pub validity: Option<Duration>,
    /// `--out`, and what is there now; `None` for stdout.
    pub out: Option<OutputFile>,
    /// Append the CA file's certificates (`--bundle`).
    pub bundle: bool,
}

/// The CA that signs.
#[derive(Debug, Clone)]
pub enum CaSource {
    /// A CA of the tree (`--ca ca|front-proxy-ca|etcd-ca`), read through the inventory.
    Tree(&'static catalog::Profile),
    /// A certificate and key given by path (`--ca-cert`, `--ca-key`), as read.
    Files(Arc<CaPairFiles>),
}

impl CaSource {
    /// The catalog CA, when it is one of the tree.
    pub fn tree(&self) -> Option<&'static catalog::Profile> {
        match self {
            CaSource::Tree(p) => Some(p),
            CaSource::Files(_) => None,
        }
    }
}

/// A CA certificate and key given by path, as read (problems are data until planning).
#[derive(Debug)]
pub struct CaPairFiles {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub cert: Found<CertFile>,
    pub key: Found<KeyFile>,
}

/// An output certificate file and what is there now.
#[derive(Debug, Clone)]
pub struct OutputFile {
    pub path: PathBuf,
    pub found: Arc<Found<CertFile>>,
}

/// What the result of `sign` or `issue-cert` says besides the certificate.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningNotes {
    pub profile: String,
    /// `built-in` or the profile file.
    pub profile_origin: String,
    /// The built-in signer whose rules were applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_rules: Option<&'static str>,
    /// The CA: its catalog name and file, or the file given.
    pub ca: String,
    /// The usages the certificate gets (the profile's; keyEncipherment for RSA keys only).
    pub usages: Vec<Usage>,
    /// SANs `--san` added to the request's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sans_added: Vec<String>,
    /// SANs of the request `--only-san` left out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sans_dropped: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What `sign`, `csr` and `issue-cert` made: the PEM written (the certificate, with the CA
/// certificates when bundled, or the request), for stdout and the report.
#[derive(Debug, Clone)]
pub struct Issued {
    pub pem: String,
    pub notes: Option<SigningNotes>,
}

/// The CA a plan item signs with.
#[derive(Debug)]
pub(super) enum SignWith {
    /// A catalog CA, loaded by the planner's authorities.
    Tree(&'static str),
    /// A pair given by path, loaded and checked while planning.
    Given(Box<GivenCa>),
}

/// A CA given by path, ready to sign.
pub(super) struct GivenCa(Signer);

impl std::fmt::Debug for GivenCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GivenCa")
    }
}

/// The work of the signing commands.
#[derive(Debug)]
pub(super) enum SigningWork {
    /// Sign a request's public key; write the certificate to `dest`, or keep it for stdout.
    SignCsr {
        ca: SignWith,
        public_key: SubjectPublicKey,
        key_encipherment: bool,
        dest: Option<PathBuf>,
        bundle: bool,
        notes: SigningNotes,
    },
    /// A new key and a request for it.
    NewCsr {
        key_path: PathBuf,
        csr_path: PathBuf,
        subject: CsrSpec,
    },
    /// A new key and a certificate for it, signed by `ca`.
    IssueCert {
        ca: SignWith,
        key_path: PathBuf,
        cert_path: PathBuf,
        key_encipherment: bool,
        notes: SigningNotes,
    },
}

/// A CA resolved for planning: how to sign, what it says in messages, until when it is valid,
/// and the certificates of its file (for reuse checks and bundles).
pub(super) struct ResolvedCa {
    pub(super) with: SignWith,
    pub(super) label: String,
    pub(super) not_after: OffsetDateTime,
    pub(super) certs: Vec<Vec<u8>>,
}

/// Resolves the CA of `source`: a tree CA through what the authorities know (`tree`), or a pair
/// given by path, checked here: a CA certificate (CA:TRUE), unexpired, with the key that
/// matches it.
pub(super) fn resolve_ca(
    source: &CaSource,
    tree: Option<(&CaState, CaFiles<'_>)>,
    what: &str,
    now: OffsetDateTime,
) -> Result<ResolvedCa> {
    match (source, tree) {
        (CaSource::Tree(profile), Some((state, files))) => {
            state.signable(
                &files,
                what,
                "sign with the external CA's key, or give it with --ca-cert and --ca-key",
            )?;
            let certs = state.certs().map(<[_]>::to_vec).unwrap_or_default();
            let first = certs
                .first()
                .ok_or_else(|| internal("a loaded CA has no certificate"))?;
            let facts = CertFacts::from_der(first).map_err(|e| Error::bad_file(files.cert, e))?;
            Ok(ResolvedCa {
                with: SignWith::Tree(profile.name),
                label: format!("{} ({})", profile.name, files.cert.display()),
                not_after: facts.not_after,
                certs,
            })
        }
        (CaSource::Tree(_), None) => Err(internal("the tree CA was not read")),
        (CaSource::Files(pair), _) => {
            let cert = match &pair.cert {
                Found::Missing => {
                    return Err(Error::bad_file(
                        &pair.cert_path,
                        "--ca-cert: does not exist",
                    ));
                }
                Found::Broken(p) => return Err(p.to_error(&pair.cert_path)),
                Found::Present(c) => c,
            };
            if !cert.facts.is_ca {
                return Err(Error::bad_file(
                    &pair.cert_path,
                    "is not a CA certificate (basicConstraints CA:TRUE is missing)",
                ));
            }
            if cert.facts.not_after <= now {
                return Err(Error::bad_file(
                    &pair.cert_path,
                    format!(
                        "the CA expired on {}; it cannot sign (CA rotation is needed)",
                        cert.facts.not_after
                    ),
                ));
            }
            let key = match &pair.key {
                Found::Missing => {
                    return Err(Error::bad_file(&pair.key_path, "--ca-key: does not exist"));
                }
                Found::Broken(p) => return Err(p.to_error(&pair.key_path)),
                Found::Present(k) => k
                    .key
                    .duplicate()
                    .map_err(|e| Error::bad_file(&pair.key_path, e))?,
            };
            let authority = Authority::new(cert.chain[0].clone(), key).map_err(|e| {
                Error::bad_file(
                    &pair.key_path,
                    format!("{e} (the CA certificate {})", pair.cert_path.display()),
                )
            })?;
            Ok(ResolvedCa {
                with: SignWith::Given(Box::new(GivenCa(Signer {
                    authority,
                    trust: cert.chain.clone(),
                }))),
                label: pair.cert_path.display().to_string(),
                not_after: cert.facts.not_after,
                certs: cert.chain.clone(),
            })
        }
    }
}

/// The validity window of a signed certificate: the profile's period or `asked`, from 5 minutes
/// before now, cut at the CA's NotAfter (with a warning).
pub(super) fn window(
    profile: &Profile,
    asked: Option<Duration>,
    ca: &ResolvedCa,
    opts: &Options,
    warnings: &mut Vec<String>,
) -> Result<(OffsetDateTime, OffsetDateTime)> {
    let (period, from) = match asked {
        Some(p) => {
            profile
                .check_validity(p)
                .map_err(|e| Error::usage("--validity", e))?;
            (p, "--validity")
        }
        None => (profile.validity, "the profile's validity"),
    };
    let (not_before, mut not_after) = cert::try_validity(opts.now, period, from)
        .map_err(|e| Error::usage(from, e.trim_start_matches(from).trim_start_matches(": ")))?;
    if not_after > ca.not_after {
        if ca.not_after - opts.now < MIN_VALIDITY {
            return Err(Error::bad_file(
                ca.label.clone(),
                format!(
                    "the CA expires on {}, in less than 10 minutes: it cannot sign anything useful",
                    ca.not_after
                ),
            ));
        }
        warnings.push(format!(
            "WARNING: the validity was cut to end with the CA on {} ({from} asked until {}): a \
             certificate is not valid longer than its CA",
            ca.not_after.date(),
            not_after.date()
        ));
        not_after = ca.not_after;
    }
    Ok((not_before, not_after))
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
    let mut warnings = Vec::new();
    let (not_before, not_after) = window(profile, want.validity, &ca, opts, &mut warnings)?;
    let spec = CertSpec {
        common_name: subject.common_name.clone(),
        organizations: subject.organizations.clone(),
        alt_names: edited.alt_names.clone(),
        usages: profile.ext_usages(),
        is_ca: false,
        not_before,
        not_after,
    };
    let notes = SigningNotes {
        profile: profile.name.clone(),
        profile_origin: profile.origin.clone(),
        signer_rules: profile.signer.map(|s| s.name()),
        ca: ca.label.clone(),
        usages: profile.usages_for(req.key_algorithm),
        sans_added: edited.added.clone(),
        sans_dropped: edited.dropped.clone(),
        warnings: warnings.clone(),
    };
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

/// How a certificate on disk compares with `spec`: the key it certifies (`public_key`, or the
/// key file beside it), its subject, SANs and extended key usages exactly, its chain to the CA
/// file `ca_certs`, and its expiry. An unreadable file is an I/O problem (not something
/// `--force` fixes).
pub(super) fn compare(
    found: &Found<CertFile>,
    spec: &CertSpec,
    public_key: Option<&[u8]>,
    key: Option<(&PathBuf, &Found<KeyFile>)>,
    ca_certs: &[Vec<u8>],
    now: OffsetDateTime,
) -> std::result::Result<Existing, crate::pki::inventory::Problem> {
    let cert = match found {
        Found::Missing => {
            return Ok(match key {
                Some((path, k)) if k.exists() => Existing::Differs(vec![format!(
                    "the certificate is missing but its key {} exists",
                    path.display()
                )]),
                _ => Existing::Missing,
            });
        }
        Found::Broken(p) if p.kind == ErrorKind::Io => return Err(p.clone()),
        Found::Broken(p) => return Ok(Existing::Differs(vec![format!("it {p}")])),
        Found::Present(c) => c,
    };
    let facts = &cert.facts;
    let mut problems = Vec::new();
    if let Some(raw) = public_key
        && facts.public_key_raw != raw
    {
        problems.push("it certifies another public key than the request's".to_string());
    }
    if let Some((path, k)) = key {
        match k {
            Found::Missing => problems.push(format!("its key {} is missing", path.display())),
            Found::Broken(p) if p.kind == ErrorKind::Io => return Err(p.clone()),
            Found::Broken(p) => problems.push(format!("its key {} {p}", path.display())),
            Found::Present(k) if k.key.public_key_raw() != facts.public_key_raw => {
                problems.push(format!("its key {} does not match it", path.display()));
            }
            Found::Present(_) => {}
        }
    }
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    if facts.common_name != spec.common_name
        || sorted(&facts.organizations) != sorted(&spec.organizations)
    {
        problems.push(format!(
            "its subject is {}, expected {}",
            facts.subject,
            subject_text(&spec.common_name, &spec.organizations)
        ));
    }
    if !same_names(&facts.alt_names, &spec.alt_names) {
        problems.push(format!(
            "its SANs are [{}], expected [{}]",
            sans_text(&facts.alt_names),
            sans_text(&spec.alt_names)
        ));
    }
    let mut have = facts.usages.clone();
    let mut want = spec.usages.clone();
    have.sort_by_key(|u| u.name());
    want.sort_by_key(|u| u.name());
    if have != want || facts.is_ca {
        problems.push("its usages are not the profile's".into());
    }
    if let Some(e) = chain_problem(&cert.chain, ca_certs) {
        problems.push(format!("it does not chain to the CA: {e}"));
    }
    if facts.not_after <= now {
        problems.push(format!("it expired on {}", facts.not_after));
    }
    Ok(if problems.is_empty() {
        Existing::Matches(format!(
            "valid until {}, same key, subject, SANs and usages, chains to the CA",
            facts.not_after.date()
        ))
    } else {
        Existing::Differs(problems)
    })
}

fn same_names(a: &AltNames, b: &AltNames) -> bool {
    let norm = |n: &AltNames| {
        let mut v: Vec<String> = san_list(n)
            .iter()
            .map(|s| s.to_string().to_ascii_lowercase())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    norm(a) == norm(b)
}

pub(super) fn sans_text(n: &AltNames) -> String {
    san_list(n)
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn subject_text(cn: &str, orgs: &[String]) -> String {
    let mut parts: Vec<String> = orgs.iter().map(|o| format!("O={o}")).collect();
    parts.push(format!("CN={cn}"));
    parts.join(", ")
}

fn internal(what: &str) -> Error {
    Error::Crypto(format!("internal: {what}"))
}

/// What realising a [`SigningWork`] made: the files, the certificate's facts, the report.
pub(super) struct Made {
    pub(super) files: Vec<(PathBuf, FileKind, String)>,
    pub(super) certificate: Option<CertFacts>,
    pub(super) issued: Issued,
}

/// The signer `with` names: a CA loaded for the plan, or the one given.
fn signer<'a>(plan: &'a Plan, with: &'a SignWith) -> Result<&'a Signer> {
    match with {
        SignWith::Tree(name) => plan
            .loaded_cas
            .get(name)
            .ok_or_else(|| internal(&format!("CA {name} is not loaded"))),
        SignWith::Given(given) => Ok(&given.0),
    }
}

impl SigningWork {
    pub(super) fn needs_new_key(&self) -> bool {
        !matches!(self, SigningWork::SignCsr { .. })
    }

    /// Makes the certificate or request (with `new_key` for the kinds that make a key).
    pub(super) fn realize(
        &self,
        plan: &Plan,
        spec: Option<&CertSpec>,
        new_key: Option<&PrivateKey>,
    ) -> Result<Made> {
        let spec = || spec.ok_or_else(|| internal("a signing item has no spec"));
        let key = || new_key.ok_or_else(|| internal("no key generated for an item"));
        match self {
            SigningWork::SignCsr {
                ca,
                public_key,
                key_encipherment,
                dest,
                bundle,
                notes,
            } => {
                let signer = signer(plan, ca)?;
                let der = cert::issue_leaf_with_usages(
                    spec()?,
                    public_key,
                    &signer.authority,
                    *key_encipherment,
                )?;
                let mut pem = cert::cert_pem(&der);
                if *bundle {
                    pem.extend(signer.trust.iter().map(|c| cert::cert_pem(c)));
                }
                Ok(Made {
                    files: dest
                        .iter()
                        .map(|d| (d.clone(), FileKind::Certificate, pem.clone()))
                        .collect(),
                    certificate: CertFacts::from_der(&der).ok(),
                    issued: Issued {
                        pem,
                        notes: Some(notes.clone()),
                    },
                })
            }
            SigningWork::NewCsr {
                key_path,
                csr_path,
                subject,
            } => {
                let key = key()?;
                let pem = csr::csr_pem(&csr::build(subject, key)?);
                Ok(Made {
                    files: vec![
                        (key_path.clone(), FileKind::PrivateKey, key.to_pem()?),
                        (csr_path.clone(), FileKind::Certificate, pem.clone()),
                    ],
                    certificate: None,
                    issued: Issued { pem, notes: None },
                })
            }
            SigningWork::IssueCert {
                ca,
                key_path,
                cert_path,
                key_encipherment,
                notes,
            } => {
                let key = key()?;
                let signer = signer(plan, ca)?;
                let der = cert::issue_leaf_with_usages(
                    spec()?,
                    key.key_pair(),
                    &signer.authority,
                    *key_encipherment,
                )?;
                let pem = cert::cert_pem(&der);
                Ok(Made {
                    files: vec![
                        (key_path.clone(), FileKind::PrivateKey, key.to_pem()?),
                        (cert_path.clone(), FileKind::Certificate, pem.clone()),
                    ],
                    certificate: CertFacts::from_der(&der).ok(),
                    issued: Issued {
                        pem,
                        notes: Some(notes.clone()),
                    },
                })
            }
        }
    }
}

impl PlanItem {
    /// For `sign` and `issue-cert` items: the profile, CA, usages and SAN edits.
    pub fn signing_notes(&self) -> Option<&SigningNotes> {
        match &self.work {
            Work::Signing(w) => match w.as_ref() {
                SigningWork::SignCsr { notes, .. } | SigningWork::IssueCert { notes, .. } => {
                    Some(notes)
                }
                SigningWork::NewCsr { .. } => None,
            },
            _ => None,
        }
    }

    /// For `csr` items: the subject and SANs the request will ask for.
    pub fn request_spec(&self) -> Option<&CsrSpec> {
        match &self.work {
            Work::Signing(w) => match w.as_ref() {
                SigningWork::NewCsr { subject, .. } => Some(subject),
                _ => None,
            },
            _ => None,
        }
    }
}
