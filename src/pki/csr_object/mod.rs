//! CertificateSigningRequest objects of the Kubernetes CSR API (certificates.k8s.io/v1) without
//! a cluster: made from a request, signed offline as a signer would, and their certificate taken
//! back out and checked. The same decision ([`decide()`]) drives `kubepki signer` on a real API
//! server.
//!
//! The objects are k8s-openapi's types, so what kubepki writes is what the API serves: `api`
//! checks a spec as the API server does on create (with its texts), `document` reads and writes
//! them (one object, a `List`, or several YAML documents), `decide` is the signer's verdict.

pub mod api;
pub mod decide;
pub mod document;

use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestSpec,
    CertificateSigningRequestStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use time::OffsetDateTime;

use crate::pki::cert::{self, Authority, CertFacts};
use crate::pki::csr;

pub use decide::{FAILED_REASON, Issue, Policy, Rules, Signer, Skip, Verdict, decide};
pub use document::{Document, Format, Shape};

/// Where an object is in its life, from its conditions and certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No Approved, Denied or Failed condition.
    Pending,
    /// An `Approved` condition and no `Denied` one.
    Approved,
    /// A `Denied` condition.
    Denied,
    /// A `Failed` condition (whatever else).
    Failed,
    /// It has a certificate.
    Issued,
}

fn has_condition(object: &CertificateSigningRequest, kind: &str) -> bool {
    object
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == kind && c.status == "True"))
}

/// The object's state, as the built-in signer reads it (`IsCertificateRequestApproved` is
/// Approved and not Denied).
pub fn state(object: &CertificateSigningRequest) -> State {
    let issued = object
        .status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty());
    if issued {
        State::Issued
    } else if has_condition(object, "Failed") {
        State::Failed
    } else if has_condition(object, "Denied") {
        State::Denied
    } else if has_condition(object, "Approved") {
        State::Approved
    } else {
        State::Pending
    }
}

/// What `make` puts in an object.
#[derive(Debug, Clone)]
pub struct ObjectSpec {
    /// `metadata.name`.
    pub name: String,
    /// `spec.signerName`: who is to sign it (`kubernetes.io/kube-apiserver-client`).
    pub signer_name: String,
    /// `spec.usages`, as the CSR API names them (`digital signature`, `client auth`).
    pub usages: Vec<String>,
    /// `spec.expirationSeconds`: the certificate's requested lifetime in seconds (at least
    /// 600); `None` leaves it to the signer.
    pub expiration_seconds: Option<i32>,
}

/// A new object for the request `request_pem` (its PEM text), checked as the API server checks
/// it on create. The errors are the API's, one per problem.
pub fn make(
    spec: &ObjectSpec,
    request_pem: &[u8],
) -> Result<CertificateSigningRequest, Vec<String>> {
    let object = CertificateSigningRequest {
        metadata: ObjectMeta {
            name: Some(spec.name.clone()),
            ..Default::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(request_pem.to_vec()),
            signer_name: spec.signer_name.clone(),
            usages: Some(spec.usages.clone()),
            expiration_seconds: spec.expiration_seconds,
            ..Default::default()
        },
        status: None,
    };
    let mut errors = name_errors(&spec.name);
    errors.extend(api::spec_errors(&object.spec));
    match errors.is_empty() {
        true => Ok(object),
        false => Err(errors),
    }
}

/// `metadata.name` of a cluster-scoped object: a DNS-1123 subdomain.
pub fn name_errors(name: &str) -> Vec<String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        });
    match ok {
        true => Vec::new(),
        false => vec![format!(
            "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist \
             of lower case alphanumeric characters, '-' or '.', and must start and end with an \
             alphanumeric character"
        )],
    }
}

fn now_time(now: OffsetDateTime) -> Time {
    let secs = now.unix_timestamp();
    Time(
        k8s_openapi::jiff::Timestamp::from_second(secs)
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    )
}

fn conditions(
    object: &mut CertificateSigningRequest,
) -> &mut Vec<CertificateSigningRequestCondition> {
    object
        .status
        .get_or_insert_with(CertificateSigningRequestStatus::default)
        .conditions
        .get_or_insert_with(Vec::new)
}

/// Adds an Approved condition, as `kubectl certificate approve` does (kubepki's reason).
pub fn approve(object: &mut CertificateSigningRequest, now: OffsetDateTime) {
    conditions(object).push(CertificateSigningRequestCondition {
        type_: "Approved".into(),
        status: "True".into(),
        reason: Some("KubepkiApprove".into()),
        message: Some("This CSR was approved by kubepki csr-object sign --approve.".into()),
        last_update_time: Some(now_time(now)),
        last_transition_time: Some(now_time(now)),
    });
}

/// Adds the `Failed` condition the built-in signer sets for a request its rules refuse.
pub fn fail(object: &mut CertificateSigningRequest, message: &str, now: OffsetDateTime) {
    conditions(object).push(CertificateSigningRequestCondition {
        type_: "Failed".into(),
        status: "True".into(),
        reason: Some(FAILED_REASON.into()),
        message: Some(message.into()),
        last_update_time: Some(now_time(now)),
        last_transition_time: None,
    });
}

/// Puts the certificate (PEM) into `status.certificate`.
pub fn set_certificate(object: &mut CertificateSigningRequest, pem: &str) {
    object
        .status
        .get_or_insert_with(CertificateSigningRequestStatus::default)
        .certificate = Some(ByteString(pem.as_bytes().to_vec()));
}

/// Signs what `issue` says with `ca`: the certificate's PEM.
pub fn sign(issue: &Issue, ca: &Authority) -> crate::pki::Result<String> {
    let der = cert::issue_for_object(&issue.spec, &issue.public_key, ca, issue.key_usage)?;
    Ok(cert::cert_pem(&der))
}

/// The certificate of an issued object, checked: `status.certificate` holds PEM CERTIFICATE
/// blocks only, and the first certifies `public_key` (the key it was requested for, or the
/// request's own). Returns the PEM text and what the first certificate holds.
pub fn certificate(
    object: &CertificateSigningRequest,
    public_key: Option<&[u8]>,
) -> Result<(String, CertFacts), String> {
    let Some(bytes) = object
        .status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .filter(|c| !c.0.is_empty())
    else {
        let why = match state(object) {
            State::Pending => "it is not approved yet",
            State::Approved => "it is approved, and its signer has not signed it yet",
            State::Denied => "it was denied",
            State::Failed => "its signer failed it (see its Failed condition)",
            State::Issued => "",
        };
        return Err(format!(
            "has no certificate (status.certificate is empty): {why}"
        ));
    };
    let blocks =
        pem::parse_many(&bytes.0).map_err(|_| "status.certificate is not PEM".to_string())?;
    if blocks.is_empty() || blocks.iter().any(|b| b.tag() != "CERTIFICATE") {
        return Err("status.certificate holds something other than PEM CERTIFICATE blocks".into());
    }
    let facts = CertFacts::from_der(blocks[0].contents())
        .map_err(|e| format!("status.certificate: {e}"))?;
    let request_key;
    let want = match public_key {
        Some(k) => k,
        None => {
            let request =
                csr::parse(&object.spec.request.0).map_err(|e| format!("spec.request {e}"))?;
            request_key = request.public_key;
            request_key.raw()
        }
    };
    if facts.public_key_raw != want {
        return Err(match public_key {
            Some(_) => "the certificate certifies another key than the one given".into(),
            None => "the certificate certifies another key than the request's".into(),
        });
    }
    let pem = blocks
        .iter()
        .map(|b| cert::cert_pem(b.contents()))
        .collect::<String>();
    Ok((pem, facts))
}

/// The object's name as messages show it.
pub(crate) fn display_name(object: &CertificateSigningRequest) -> String {
    object
        .metadata
        .name
        .as_deref()
        .map(crate::pki::untrusted::show_untrusted)
        .unwrap_or_else(|| "(no name)".into())
}

/// A time as messages show it (RFC 3339, UTC).
pub(crate) fn show_time(t: OffsetDateTime) -> String {
    crate::pki::duration::format_rfc3339(t)
}
