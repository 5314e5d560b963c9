//! What `sign` and `issue-cert` share while planning: the CA they sign with (a CA of the tree,
//! or a pair given by path and checked here), the validity window a certificate gets (cut at
//! the CA's NotAfter), and the reuse check of a certificate on disk.

use std::path::PathBuf;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::Options;
use super::authority::{CaFiles, CaState, Signer};
use super::decide::Existing;
use super::signing::{GivenCa, SignWith, SigningNotes};
use crate::pki::catalog;
use crate::pki::cert::{self, Authority, CertFacts, CertSpec};
use crate::pki::csr::CsrSpec;
use crate::pki::duration::MIN_VALIDITY;
use crate::pki::error::{Error, ErrorKind, Result};
use crate::pki::identity::san_list;
use crate::pki::inventory::{CertFile, Found, KeyFile, chain_problem};
use crate::pki::keys::KeyAlgorithm;
use crate::pki::names::AltNames;
use crate::pki::profile::Profile;

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
                    chain: Vec::new(),
                }))),
                label: pair.cert_path.display().to_string(),
                not_after: cert.facts.not_after,
                certs: cert.chain.clone(),
            })
        }
    }
}

/// A CA pair given by path, loaded and checked for signing outside a plan (`kubepki signer`,
/// which signs for as long as it runs).
pub(crate) struct LoadedCa {
    /// The CA certificate (the first of its file) with its key.
    pub(crate) authority: Authority,
    /// The CA certificate's NotAfter: nothing it signs is valid longer.
    pub(crate) not_after: OffsetDateTime,
    /// The CA file, for messages.
    pub(crate) label: String,
}

/// Loads the pair `pair` with the checks `sign` makes: a CA certificate (CA:TRUE),
/// unexpired at `now`, and the key that matches it.
pub(crate) fn load_ca(pair: Arc<CaPairFiles>, now: OffsetDateTime) -> Result<LoadedCa> {
    let ca = resolve_ca(&CaSource::Files(pair), None, "sign", now)?;
    match ca.with {
        SignWith::Given(given) => Ok(LoadedCa {
            authority: given.0.authority,
            not_after: ca.not_after,
            label: ca.label,
        }),
        SignWith::Tree(_) => Err(internal("a CA pair resolved as a tree CA")),
    }
}

/// The certificate `profile` makes for `subject` with `alt_names` (both already checked against
/// the profile), in the window `validity` and `ca` allow, and the notes that explain it.
pub(super) fn profile_cert(
    profile: &Profile,
    ca: &ResolvedCa,
    subject: &CsrSpec,
    alt_names: AltNames,
    key_algorithm: KeyAlgorithm,
    validity: Option<Duration>,
    opts: &Options,
) -> Result<(CertSpec, SigningNotes)> {
    let mut warnings = Vec::new();
    let (not_before, not_after) = window(profile, validity, ca, opts, &mut warnings)?;
    let spec = CertSpec {
        common_name: subject.common_name.clone(),
        organizations: subject.organizations.clone(),
        alt_names,
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
        usages: profile.usages_for(key_algorithm),
        sans_added: vec![],
        sans_dropped: vec![],
        warnings,
    };
    Ok((spec, notes))
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

pub(crate) fn subject_text(cn: &str, orgs: &[String]) -> String {
    let mut parts: Vec<String> = orgs.iter().map(|o| format!("O={o}")).collect();
    parts.push(format!("CN={cn}"));
    parts.join(", ")
}

fn internal(what: &str) -> Error {
    Error::Crypto(format!("internal: {what}"))
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
    /// The CA certificate file (`--ca-cert`); the first certificate of a bundle is the CA.
    pub cert_path: PathBuf,
    /// The CA's private key file (`--ca-key`).
    pub key_path: PathBuf,
    /// What [`read_cert`](crate::pki::inventory::read_cert) found at `cert_path`.
    pub cert: Found<CertFile>,
    /// What [`read_key`](crate::pki::inventory::read_key) found at `key_path`.
    pub key: Found<KeyFile>,
}
