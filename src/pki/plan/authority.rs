//! The signing CAs as the planner sees them: created in this run, on disk with their key, on disk
//! without it (an external CA), missing, or unusable. One place answers "can this CA sign?".

use std::collections::HashMap;
use std::path::Path;

use time::OffsetDateTime;

use super::Options;
use crate::pki::catalog::Profile;
use crate::pki::cert::{self, Authority, CertFacts, CertSpec};
use crate::pki::error::{Error, Result};
use crate::pki::inventory::{Found, Inventory, Pair};

/// What the planner knows about a CA.
pub(super) enum CaState {
    /// Created or replaced in this run.
    New,
    /// On disk with its key; `certs` is the whole file (a bundle during CA rotation), the first
    /// certificate the one that signs.
    Loaded {
        certs: Vec<Vec<u8>>,
    },
    /// On disk without its key: an external CA.
    External {
        certs: Vec<Vec<u8>>,
    },
    Missing,
}

impl CaState {
    /// The CA certificates on disk, when there are any.
    pub(super) fn certs(&self) -> Option<&[Vec<u8>]> {
        match self {
            CaState::Loaded { certs } | CaState::External { certs } => Some(certs),
            CaState::New | CaState::Missing => None,
        }
    }

    /// Whether this CA can sign for `what` ("issue apiserver", "write admin"); the error says why
    /// not, with `advice` for an external CA.
    pub(super) fn signable(&self, files: &CaFiles<'_>, what: &str, advice: &str) -> Result<()> {
        match self {
            CaState::New | CaState::Loaded { .. } => Ok(()),
            CaState::External { .. } => Err(Error::bad_file(
                files.key,
                format!(
                    "cannot {what}: the {} CA key is absent (external CA); {advice}",
                    files.name
                ),
            )),
            CaState::Missing => Err(Error::bad_file(
                files.cert,
                format!(
                    "cannot {what}: the {} CA does not exist; run `kubepki init-ca` first",
                    files.name
                ),
            )),
        }
    }

    /// A warning when `spec` would expire after this CA (kubeadm warns too): it stops working
    /// when the CA does, whatever its own NotAfter says.
    pub(super) fn outlives(&self, spec: &CertSpec, opts: &Options) -> Option<String> {
        let ca_not_after = match self {
            CaState::Loaded { certs } | CaState::External { certs } => {
                CertFacts::from_der(&certs[0]).ok()?.not_after
            }
            CaState::New => cert::validity(opts.now, opts.ca_validity).1,
            CaState::Missing => return None,
        };
        (spec.not_after > ca_not_after).then(|| {
            format!(
                "WARNING: it would expire on {} but its CA expires on {}; it is only valid as long \
                 as the CA",
                spec.not_after.date(),
                ca_not_after.date()
            )
        })
    }
}

/// A CA's name and files, for messages.
pub(super) struct CaFiles<'a> {
    pub name: &'static str,
    pub cert: &'a Path,
    pub key: &'a Path,
}

impl<'a> CaFiles<'a> {
    pub(super) fn of(profile: &'static Profile, pair: &'a Pair) -> Self {
        CaFiles {
            name: profile.name,
            cert: &pair.cert_path,
            key: &pair.key_path,
        }
    }
}

/// The CA states of one plan, taken from the inventory the first time each is needed; the CAs
/// that can sign are loaded for the executor.
pub(super) struct Authorities<'i> {
    inventory: &'i Inventory,
    now: OffsetDateTime,
    states: HashMap<&'static str, Option<CaState>>,
    loaded: HashMap<&'static str, Signer>,
    errors: Vec<Error>,
}

/// A CA that signs in this run, and the CA certificates clients are told to trust for it: the
/// whole CA file (old and new during a rotation), which kubeconfigs embed.
pub(super) struct Signer {
    pub authority: Authority,
    pub trust: Vec<Vec<u8>>,
    /// Certificates written after each certificate file it signs: during a cross-signed
    /// rotation, the new CA cross-signed by the old one (`<ca>.cross.crt`).
    pub chain: Vec<Vec<u8>>,
}

impl Signer {
    /// A CA made in this run: trusted alone.
    pub(super) fn new(authority: Authority) -> Signer {
        Signer {
            trust: vec![authority.cert_der.clone()],
            authority,
            chain: Vec::new(),
        }
    }

    /// The trust bundle as PEM, as `certificate-authority-data` holds it.
    pub(super) fn trust_pem(&self) -> String {
        self.trust.iter().map(|der| cert::cert_pem(der)).collect()
    }

    /// What follows a certificate it signs in the file, as PEM (empty but for a cross-signed
    /// rotation).
    pub(super) fn chain_pem(&self) -> String {
        self.chain.iter().map(|der| cert::cert_pem(der)).collect()
    }
}

impl<'i> Authorities<'i> {
    pub(super) fn new(inventory: &'i Inventory, options: &Options) -> Self {
        Authorities {
            inventory,
            now: options.now,
            states: HashMap::new(),
            loaded: HashMap::new(),
            errors: Vec::new(),
        }
    }

    /// Records the state a CA item of this plan decided, and the CA it loaded to sign with.
    pub(super) fn set(
        &mut self,
        ca: &'static Profile,
        state: CaState,
        authority: Option<Authority>,
    ) {
        if let (Some(authority), Some(trust)) = (authority, state.certs()) {
            let trust = trust.to_vec();
            self.loaded.insert(
                ca.name,
                Signer {
                    authority,
                    trust,
                    chain: Vec::new(),
                },
            );
        }
        self.states.insert(ca.name, Some(state));
    }

    /// The cross-signed CA to write after each certificate `ca` signs: `<ca>.cross.crt` when
    /// the CA file is (new, old) of a cross-signed rotation, so `renew` keeps the chain that
    /// `rotate-ca reissue` wrote.
    fn cross_signed(&self, ca: &'static Profile, trust: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let path = self.inventory.layout().rotation_cross_cert(ca);
        match (self.inventory.cert_file(&path), trust) {
            (Some(Found::Present(c)), [new, old]) => c
                .chain
                .first()
                .filter(|cross| crate::pki::rotation::cross_signs_new(cross, old, new))
                .map(|cross| vec![cross.clone()])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Has the loaded `ca` write `chain` after every certificate it signs in this run.
    pub(super) fn set_chain(&mut self, ca: &'static Profile, chain: Vec<Vec<u8>>) {
        if let Some(signer) = self.loaded.get_mut(ca.name) {
            signer.chain = chain;
        }
    }

    /// What is known of `ca`, with its files; `None` when it is unusable (the error is reported
    /// once, with the plan's other errors).
    pub(super) fn get(&mut self, ca: &'static Profile) -> Option<(&CaState, CaFiles<'i>)> {
        let pair = self.inventory.pair(ca, "")?;
        if !self.states.contains_key(ca.name) {
            let state = match load(pair, ca, self.now) {
                Ok((state, authority)) => {
                    if let (Some(authority), Some(trust)) = (authority, state.certs()) {
                        let trust = trust.to_vec();
                        let chain = self.cross_signed(ca, &trust);
                        self.loaded.insert(
                            ca.name,
                            Signer {
                                authority,
                                trust,
                                chain,
                            },
                        );
                    }
                    Some(state)
                }
                Err(e) => {
                    self.errors.push(e);
                    None
                }
            };
            self.states.insert(ca.name, state);
        }
        let state = self.states.get(ca.name)?.as_ref()?;
        Some((state, CaFiles::of(ca, pair)))
    }

    pub(super) fn take_errors(&mut self) -> Vec<Error> {
        std::mem::take(&mut self.errors)
    }

    pub(super) fn into_loaded(self) -> HashMap<&'static str, Signer> {
        self.loaded
    }
}

/// A CA as the inventory found it: `External` when the key is absent, an error when anything
/// is wrong.
pub(super) fn load(
    pair: &Pair,
    profile: &Profile,
    now: OffsetDateTime,
) -> Result<(CaState, Option<Authority>)> {
    let cert = match &pair.cert {
        Found::Missing => return Ok((CaState::Missing, None)),
        Found::Broken(p) => return Err(p.to_error(&pair.cert_path)),
        Found::Present(c) => c,
    };
    if !cert.facts.is_ca {
        return Err(Error::bad_file(
            &pair.cert_path,
            format!(
                "certificate {:?} is not a CA (basicConstraints CA:TRUE is missing)",
                profile.name
            ),
        ));
    }
    if cert.facts.not_after <= now {
        return Err(Error::bad_file(
            &pair.cert_path,
            format!(
                "the {} CA expired on {}; CA rotation is needed",
                profile.name, cert.facts.not_after
            ),
        ));
    }
    let certs = cert.chain.clone();
    let key = match &pair.key {
        Found::Missing => return Ok((CaState::External { certs }, None)),
        Found::Broken(p) => return Err(p.to_error(&pair.key_path)),
        Found::Present(k) => &k.key,
    };
    let key = key
        .duplicate()
        .map_err(|e| Error::bad_file(&pair.key_path, e))?;
    let authority = Authority::new(certs[0].clone(), key).map_err(|e| {
        Error::bad_file(
            &pair.key_path,
            format!("{e} ({})", pair.cert_path.display()),
        )
    })?;
    Ok((CaState::Loaded { certs }, Some(authority)))
}
