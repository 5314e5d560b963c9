//! The work of `sign`, `csr` and `issue-cert` and what executing it makes, and what their
//! reports say besides the certificate.

use std::path::PathBuf;

use serde::Serialize;

use super::authority::Signer;
use super::{Plan, PlanItem, Work};
use crate::pki::cert::{self, CertFacts, CertSpec};
use crate::pki::csr::{self, CsrSpec};
use crate::pki::error::{Error, Result};
use crate::pki::keys::{PrivateKey, SubjectPublicKey};
use crate::pki::profile::Usage;
use crate::pki::store::FileKind;

/// What the result of `sign` or `issue-cert` says besides the certificate.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningNotes {
    /// The signing profile's name.
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
    /// What the operator should know about the certificate, such as its validity cut to end
    /// with the CA's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What `sign`, `csr` and `issue-cert` made: the PEM written (the certificate, with the CA
/// certificates when bundled, or the request), for stdout and the report.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The PEM: the certificate (then the CA file's certificates with `--bundle`), or for
    /// `kubepki csr` the request.
    pub pem: String,
    /// For certificates, how they were made; `None` for a request.
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
pub(super) struct GivenCa(pub(super) Signer);

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

/// What realising a [`SigningWork`] made: the files, the certificate's facts, the report.
pub(super) struct Made {
    pub(super) files: Vec<(PathBuf, FileKind, String)>,
    pub(super) certificate: Option<CertFacts>,
    pub(super) issued: Issued,
}

/// The signer `with` names: a CA loaded for the plan, or the one given.
pub(super) fn signer<'a>(plan: &'a Plan, with: &'a SignWith) -> Result<&'a Signer> {
    match with {
        SignWith::Tree(name) => plan
            .loaded_cas
            .get(name)
            .ok_or_else(|| internal(&format!("CA {name} is not loaded"))),
        SignWith::Given(given) => Ok(&given.0),
    }
}

impl SigningWork {
    /// What it makes, for `--explain` (a CA given by path is not scripted).
    pub(super) fn making(&self) -> super::Making<'_> {
        use super::Making;
        match self {
            SigningWork::NewCsr {
                key_path,
                csr_path,
                subject,
            } => Making::KeyAndRequest {
                key: key_path,
                csr: csr_path,
                spec: subject,
            },
            SigningWork::IssueCert {
                ca: SignWith::Tree(name),
                key_path,
                cert_path,
                ..
            } => Making::Cert {
                signer: Some(name),
                cert: cert_path,
                key: key_path,
                new_key: true,
            },
            SigningWork::SignCsr {
                ca: SignWith::Tree(name),
                dest,
                ..
            } => Making::SignRequest {
                signer: name,
                dest: dest.as_deref(),
            },
            _ => Making::Other,
        }
    }

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

fn internal(what: &str) -> Error {
    Error::Crypto(format!("internal: {what}"))
}
