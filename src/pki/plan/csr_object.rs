//! `kubepki csr-object sign`: CertificateSigningRequest objects signed offline, each by the
//! rules of its signerName (a built-in signer's, or the profile's for a custom one), with a CA
//! of the tree or a pair given; the objects written back with `status.certificate` or a
//! `Failed` condition, as the signer would set them on the API server.
//!
//! Planning decides every object ([`csr_object::decide`], pure) and refuses the run, writing
//! nothing, when one cannot be signed here: not approved (without `--approve`), denied, invalid
//! as the API server would find it, or for a signerName kubepki has no rules for. Executing
//! signs what was decided and renders the document.

use std::path::PathBuf;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::authority::{CaFiles, CaState};
use super::issuing::{CaSource, resolve_ca};
use super::signing::SignWith;
use super::{Action, Decision, ItemKind, PlanItem, Request, Work};
use crate::pki::csr_object::{
    self, Document, Format, Policy, Rules, Signer, Skip, State, Verdict, api,
    decide::DEFAULT_SIGNING_DURATION,
};
use crate::pki::error::{Error, Result};
use crate::pki::profile::{BuiltinSigner, Profile};
use crate::pki::store::{self, FileKind};
use crate::pki::untrusted::show_untrusted;

/// `kubepki csr-object sign`: the objects of one document.
#[derive(Debug, Clone)]
pub struct CsrObjectsWant {
    /// The objects, as [`csr_object::document::read`] read them.
    pub document: Document,
    /// Where it was read from (a path, or `<stdin>`), for messages.
    pub source: PathBuf,
    /// The CA that signs every object issued.
    pub ca: CaSource,
    /// The profile of custom signerNames (`--profile`, `--profile-file`).
    pub profile: Option<Profile>,
    /// Why there is no profile (the error of resolving it), said when a custom signerName needs
    /// one.
    pub profile_missing: Option<String>,
    /// What this signer allows besides the signerName's rules (DNS suffixes, IP ranges, the
    /// longest duration, requestors).
    pub policy: Policy,
    /// The TTL when an object asks for none [default: 1 year for the built-in signers, as
    /// kube-controller-manager's `--cluster-signing-duration`; the profile's validity].
    pub duration: Option<Duration>,
    /// Approve pending objects first (`--approve`).
    pub approve: bool,
    /// Where the document goes; `None` for stdout.
    pub out: Option<PathBuf>,
    /// The output format (default: the input's).
    pub format: Option<Format>,
}

/// What happened to one object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectResult {
    /// The object's `metadata.name` (empty when it has none).
    pub name: String,
    /// The object's `spec.signerName`.
    pub signer_name: String,
    /// `issued`, `failed` or `skipped`.
    pub result: &'static str,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The NotAfter of the certificate issued; `None` when none was.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub not_after: Option<OffsetDateTime>,
    /// Approved by this run (`--approve`).
    pub approved: bool,
}

/// What executing made: the document (for stdout when it is not written), and each object's
/// result.
#[derive(Debug, Clone)]
pub struct SignedObjects {
    /// Every object of the input, in its order, layout and format (or the one asked): issued
    /// ones with `status.certificate`, failed ones with a `Failed` condition, the rest as they
    /// were (approved, when `--approve` approved them).
    pub document: String,
    /// One per object, in the document's order.
    pub results: Vec<ObjectResult>,
}

/// The work: objects and their verdicts, the CA that signs the issued ones.
#[derive(Debug)]
pub(super) struct CsrObjectsWork {
    ca: SignWith,
    objects: Vec<(CertificateSigningRequest, Verdict, bool)>,
    shape: csr_object::Shape,
    format: Format,
    dest: Option<PathBuf>,
    now: OffsetDateTime,
}

/// The signer of `signer_name` for an offline run.
fn signer_for(want: &CsrObjectsWant, signer_name: &str) -> std::result::Result<Signer, String> {
    let (rules, duration) = if let Some(builtin) = BuiltinSigner::from_name(signer_name) {
        (Rules::Builtin(builtin), DEFAULT_SIGNING_DURATION)
    } else if signer_name.starts_with("kubernetes.io/") {
        return Err(format!(
            "signerName {} is not one of kube-controller-manager's signers ({}): the built-in \
             signers leave it alone (\"unrecognized signerName\"), and so does kubepki",
            show_untrusted(signer_name),
            BuiltinSigner::ALL.map(|s| s.name()).join(", ")
        ));
    } else {
        match &want.profile {
            Some(p) => (Rules::Profile(p.clone()), p.validity),
            None => {
                return Err(format!(
                    "signerName {} is a custom signer: give its rules with --profile (and \
                     --profile-file){}",
                    show_untrusted(signer_name),
                    want.profile_missing
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ));
            }
        }
    };
    Ok(Signer {
        signer_name: signer_name.to_string(),
        rules,
        policy: want.policy.clone(),
        duration: want.duration.unwrap_or(duration),
    })
}

pub(super) fn plan(
    request: &Request,
    want: &CsrObjectsWant,
    tree: Option<(&CaState, CaFiles<'_>)>,
) -> Result<PlanItem> {
    let now = request.options.now;
    let source = &want.source;
    let ca = resolve_ca(
        &want.ca,
        tree,
        &format!("sign the objects of {}", source.display()),
        now,
    )?;
    if let Some(out) = &want.out
        && store::exists(out)
        && !request.options.force
    {
        return Err(Error::conflict(
            out,
            "exists; pass --force to replace it (the old file is kept as a backup)",
        ));
    }
    let mut problems = Vec::new();
    let mut objects = Vec::new();
    for object in &want.document.objects {
        let name = csr_object::display_name(object);
        let mut refuse = |what: String| {
            problems.push(Error::bad_file(
                source,
                format!("the CertificateSigningRequest {name}: {what}"),
            ))
        };
        let errors = api::spec_errors(&object.spec);
        if !errors.is_empty() {
            // The API's texts quote the values; a message names the field and the problem only.
            refuse(format!(
                "the API server would refuse it: {} (`kubepki csr-object make` or `kubectl \
                 apply --dry-run=server` say more)",
                errors
                    .iter()
                    .map(|e| e.splitn(3, ": ").take(2).collect::<Vec<_>>().join(": "))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
            continue;
        }
        let mut object = object.clone();
        let mut approved = false;
        match csr_object::state(&object) {
            State::Pending if want.approve => {
                csr_object::approve(&mut object, now);
                approved = true;
            }
            State::Pending => {
                refuse(
                    "is not approved; approve it (kubectl certificate approve), or pass \
                     --approve to approve it here"
                        .into(),
                );
                continue;
            }
            State::Denied => {
                refuse("was denied; kubepki signs no denied request".into());
                continue;
            }
            State::Approved | State::Issued | State::Failed => {}
        }
        let signer = match signer_for(want, &object.spec.signer_name) {
            Ok(s) => s,
            Err(e) => {
                refuse(e);
                continue;
            }
        };
        let verdict = csr_object::decide(&object, &signer, ca.not_after, now)
            .map_err(|e| Error::bad_file(ca.label.clone(), e))?;
        objects.push((object, verdict, approved));
    }
    Error::from_all(problems)?;
    let issued = objects
        .iter()
        .filter(|(_, v, _)| matches!(v, Verdict::Issue(_)))
        .count();
    let failed = objects
        .iter()
        .filter(|(_, v, _)| matches!(v, Verdict::Fail(_)))
        .count();
    let reason = format!(
        "{} object(s): {issued} to issue, {failed} to fail, {} left as they are; CA {}",
        objects.len(),
        objects.len() - issued - failed,
        ca.label
    );
    Ok(PlanItem {
        decision: Decision {
            kind: ItemKind::Certificate,
            name: "csr-object".into(),
            node: None,
            action: if want.out.as_ref().is_some_and(|o| store::exists(o)) {
                Action::Replace
            } else {
                Action::Create
            },
            reason,
            files: want.out.iter().cloned().collect(),
        },
        spec: None,
        key_algorithm: None,
        work: Work::CsrObjects(Box::new(CsrObjectsWork {
            ca: ca.with,
            objects,
            shape: want.document.shape,
            format: want.format.unwrap_or(want.document.format),
            dest: want.out.clone(),
            now,
        })),
    })
}

/// A file the work writes: where, its kind, its contents.
type DocumentFile = (PathBuf, FileKind, String);

impl CsrObjectsWork {
    /// Signs the issued objects, sets the failed ones' condition, renders the document.
    pub(super) fn realize(&self, plan: &super::Plan) -> Result<(Vec<DocumentFile>, SignedObjects)> {
        let signer = super::signing::signer(plan, &self.ca)?;
        let mut objects = Vec::with_capacity(self.objects.len());
        let mut results = Vec::with_capacity(self.objects.len());
        for (object, verdict, approved) in &self.objects {
            let mut object = object.clone();
            let mut result = ObjectResult {
                name: object.metadata.name.clone().unwrap_or_default(),
                signer_name: object.spec.signer_name.clone(),
                result: "skipped",
                message: None,
                not_after: None,
                approved: *approved,
            };
            match verdict {
                Verdict::Issue(issue) => {
                    let pem = csr_object::sign(issue, &signer.authority)?;
                    csr_object::set_certificate(&mut object, &pem);
                    result.result = "issued";
                    result.not_after = Some(issue.spec.not_after);
                }
                Verdict::Fail(message) => {
                    csr_object::fail(&mut object, message, self.now);
                    result.result = "failed";
                    result.message = Some(message.clone());
                }
                Verdict::Skip(skip) => {
                    result.message = Some(skip_text(*skip).into());
                }
            }
            objects.push(object);
            results.push(result);
        }
        let document = csr_object::document::render(&objects, self.shape, self.format)?;
        let files = self
            .dest
            .iter()
            .map(|d| (d.clone(), FileKind::Certificate, document.clone()))
            .collect();
        Ok((files, SignedObjects { document, results }))
    }
}

fn skip_text(skip: Skip) -> &'static str {
    match skip {
        Skip::Issued => "left as it is: it has a certificate already",
        Skip::Failed => "left as it is: it has a Failed condition already",
        other => other.describe(),
    }
}
