//! What a signer does with one CertificateSigningRequest, as a pure function of the object, the
//! signer's rules, the CA's NotAfter and the clock: leave it alone (and why), issue (exactly
//! what), or fail it with the message the `Failed` condition carries.
//!
//! It follows kube-controller-manager's signer (pkg/controller/certificates/signer/signer.go,
//! authority/policies.go, v1.22.3; ../shared/reference/csr-api.md §2): only approved objects
//! that are neither failed nor issued; the request's own signature checked; subject and DNS, IP,
//! email and URI SANs copied from the request and every other requested extension dropped;
//! CA:FALSE; key usages and extended key usages from `spec.usages` only; TTL the signing
//! duration, or `expirationSeconds` when shorter but never under 10 minutes; NotBefore now − 5
//! min; NotAfter now + TTL − 5 min (now + TTL when the TTL is under 8 h), cut at the CA's
//! NotAfter.

use ipnet::IpNet;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::{State, state};
use crate::pki::catalog::ExtUsage;
use crate::pki::cert::{CertSpec, ExactKeyUsage};
use crate::pki::csr;
use crate::pki::duration::BACKDATE;
use crate::pki::keys::SubjectPublicKey;
use crate::pki::profile::{BuiltinSigner, Profile, Restrictions, Usage};
use crate::pki::untrusted::show_untrusted;

/// The shortest certificate the built-in signer issues, whatever `expirationSeconds` says.
pub const MIN_TTL: Duration = Duration::minutes(10);
/// Below this TTL the built-in signer does not take the backdate off NotAfter.
pub const SHORT_TTL: Duration = Duration::hours(8);
/// kube-controller-manager's `--cluster-signing-duration` default.
pub const DEFAULT_SIGNING_DURATION: Duration = Duration::hours(8760);

/// The rules a signerName's requests are checked against.
#[derive(Debug, Clone)]
pub enum Rules {
    /// A built-in signer of kube-controller-manager, with its texts.
    Builtin(BuiltinSigner),
    /// A custom signerName: `spec.usages` must be among the profile's usages, and the profile's
    /// built-in signer rules (if it names one) and restrictions apply.
    Profile(Profile),
}

/// Policies a signer adds to its rules (`--allowed-dns-suffix`, `--allowed-ip-range`,
/// `--max-duration`, `--allowed-requestor`).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// DNS SANs must be one of these names or below one, as in a profile's
    /// [`Restrictions`]; `None` allows any.
    pub allowed_dns_suffixes: Option<Vec<String>>,
    /// IP SANs must be inside one of these ranges; `None` allows any.
    pub allowed_ip_ranges: Option<Vec<IpNet>>,
    /// The longest certificate issued (a cap, as `--cluster-signing-duration` is).
    pub max_duration: Option<Duration>,
    /// `spec.username` must be one of these.
    pub allowed_requestors: Option<Vec<String>>,
}

/// A signer: the signerName it serves, its rules and policies, and its default TTL.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The signerName whose objects it signs (`spec.signerName`).
    pub signer_name: String,
    /// What every request must satisfy.
    pub rules: Rules,
    /// What the operator adds on top of the rules.
    pub policy: Policy,
    /// The TTL when the object asks for none (`--cluster-signing-duration`).
    pub duration: Duration,
}

/// Why an object is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Skip {
    /// Its signerName is another signer's.
    OtherSigner,
    /// Not approved (and not denied) yet.
    NotApproved,
    /// An approver denied it.
    Denied,
    /// It has a `Failed` condition already.
    Failed,
    /// It has a certificate already.
    Issued,
}

impl Skip {
    /// The reason in words, for the signer's log and reports (`not approved`).
    pub fn describe(self) -> &'static str {
        match self {
            Skip::OtherSigner => "for another signer",
            Skip::NotApproved => "not approved",
            Skip::Denied => "denied",
            Skip::Failed => "failed already",
            Skip::Issued => "has a certificate already",
        }
    }
}

/// What to issue.
#[derive(Debug, Clone)]
pub struct Issue {
    /// The certificate: subject and SANs from the request, extended key usages from
    /// `spec.usages`, the validity window after the TTL and the CA cut.
    pub spec: CertSpec,
    /// The key usage bits, from `spec.usages` exactly.
    pub key_usage: ExactKeyUsage,
    /// The request's public key, the one the certificate certifies.
    pub public_key: SubjectPublicKey,
    /// The TTL used, after `expirationSeconds`, the minimum and the caps (before the CA cut).
    pub ttl: Duration,
}

/// The signer's verdict on one object.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Leave the object alone, for this reason.
    Skip(Skip),
    /// Sign this certificate and put it in `status.certificate`.
    Issue(Box<Issue>),
    /// A `Failed` condition, reason `SignerValidationFailure`, with this message.
    Fail(String),
}

/// The reason of the `Failed` condition the built-in signer sets.
pub const FAILED_REASON: &str = "SignerValidationFailure";

/// Decides what `signer` does with `object` at `now`, with a CA valid until `ca_not_after`.
/// An error is a problem of the signer, not of the object (its CA has expired).
pub fn decide(
    object: &CertificateSigningRequest,
    signer: &Signer,
    ca_not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Verdict, String> {
    let spec = &object.spec;
    if spec.signer_name != signer.signer_name {
        return Ok(Verdict::Skip(Skip::OtherSigner));
    }
    match state(object) {
        State::Issued => return Ok(Verdict::Skip(Skip::Issued)),
        State::Failed => return Ok(Verdict::Skip(Skip::Failed)),
        State::Denied => return Ok(Verdict::Skip(Skip::Denied)),
        State::Pending => return Ok(Verdict::Skip(Skip::NotApproved)),
        State::Approved => {}
    }
    let now = now.replace_nanosecond(0).unwrap_or(now);
    if now >= ca_not_after {
        return Err(format!(
            "the CA expired on {ca_not_after}: refusing to sign (CA rotation is needed)"
        ));
    }
    let request = match csr::parse(&spec.request.0) {
        Ok(r) => r,
        Err(e) => return Ok(Verdict::Fail(format!("the request {e}"))),
    };
    let usages: Vec<&str> = spec
        .usages
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    if let Err(message) = check(&request, &usages, spec.username.as_deref(), signer) {
        return Ok(Verdict::Fail(message));
    }
    let Some(key_usage) = cert_usages(&usages) else {
        return Ok(Verdict::Fail(format!(
            "unrecognized usage values: {} (kubepki issues digital signature, key \
             encipherment, server auth and client auth)",
            usages
                .iter()
                .filter(|u| Usage::parse(u).is_none())
                .map(|u| show_usage(u))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let ttl = ttl(signer, spec.expiration_seconds);
    let not_before = now - BACKDATE;
    let mut not_after = if ttl < SHORT_TTL {
        now + ttl
    } else {
        now + ttl - BACKDATE
    };
    if not_after >= ca_not_after {
        not_after = ca_not_after;
    }
    // Server before client, whatever order the request lists them in.
    let ext: Vec<ExtUsage> = [Usage::ServerAuth, Usage::ClientAuth]
        .into_iter()
        .filter(|u| usages.contains(&u.api_name()))
        .filter_map(Usage::ext)
        .collect();
    let subject = request.spec;
    Ok(Verdict::Issue(Box::new(Issue {
        spec: CertSpec {
            common_name: subject.common_name,
            organizations: subject.organizations,
            alt_names: subject.alt_names,
            usages: ext,
            is_ca: false,
            not_before,
            not_after,
        },
        key_usage,
        public_key: request.public_key,
        ttl,
    })))
}

/// The TTL: the signer's duration, or `expirationSeconds` when shorter but at least 10
/// minutes; then the policy's and the profile's maximum.
pub fn ttl(signer: &Signer, expiration_seconds: Option<i32>) -> Duration {
    let mut ttl = match expiration_seconds {
        None => signer.duration,
        Some(s) => Duration::seconds(i64::from(s)).clamp(MIN_TTL, signer.duration.max(MIN_TTL)),
    };
    let profile_max = match &signer.rules {
        Rules::Profile(p) => p.restrictions.max_validity,
        Rules::Builtin(_) => None,
    };
    for max in [signer.policy.max_duration, profile_max]
        .into_iter()
        .flatten()
    {
        ttl = ttl.min(max.max(MIN_TTL));
    }
    ttl
}

/// The signer's rules, then its policies; the error is the `Failed` condition's message.
fn check(
    request: &csr::Request,
    usages: &[&str],
    username: Option<&str>,
    signer: &Signer,
) -> Result<(), String> {
    let subject = &request.spec;
    let (cn, orgs, sans) = (
        &subject.common_name,
        &subject.organizations,
        &subject.alt_names,
    );
    match &signer.rules {
        Rules::Builtin(builtin) => builtin.validate_api(cn, orgs, sans, usages)?,
        Rules::Profile(profile) => {
            if let Some(bad) = usages
                .iter()
                .find(|u| !Usage::parse(u).is_some_and(|usage| profile.usages.contains(&usage)))
            {
                return Err(format!(
                    "usage {} is not allowed by profile {} (it allows {})",
                    show_usage(bad),
                    profile.name,
                    profile
                        .usages
                        .iter()
                        .map(|u| u.api_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if let Some(builtin) = profile.signer {
                builtin.validate_api(cn, orgs, sans, usages)?;
            }
            profile
                .restrictions
                .check(sans, &format!("profile {}", profile.name))?;
        }
    }
    let policy = &signer.policy;
    Restrictions {
        allowed_dns_suffixes: policy.allowed_dns_suffixes.clone(),
        allowed_ip_ranges: policy.allowed_ip_ranges.clone(),
        max_validity: None,
    }
    .check(sans, &format!("the policy of {}", signer.signer_name))?;
    if let Some(allowed) = &policy.allowed_requestors {
        let who = username.unwrap_or_default();
        if !allowed.iter().any(|a| a == who) {
            return Err(format!(
                "the requestor {} is not allowed by the policy of {}",
                if who.is_empty() {
                    "(none)".to_string()
                } else {
                    show_untrusted(who)
                },
                signer.signer_name
            ));
        }
    }
    Ok(())
}

/// A usage string from an object: quoted when it is one of the API's, else described.
fn show_usage(u: &str) -> String {
    if super::api::USAGES.contains(&u) {
        format!("{u:?}")
    } else {
        show_untrusted(u)
    }
}

/// The key usage bits `spec.usages` ask for, or `None` when one of them is not a usage kubepki
/// issues.
fn cert_usages(usages: &[&str]) -> Option<ExactKeyUsage> {
    let mut bits = ExactKeyUsage::default();
    for u in usages {
        match Usage::parse(u)? {
            Usage::DigitalSignature => bits.digital_signature = true,
            Usage::KeyEncipherment => bits.key_encipherment = true,
            Usage::ServerAuth | Usage::ClientAuth => {}
        }
    }
    Some(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::csr::CsrSpec;
    use crate::pki::csr_object::{ObjectSpec, approve, make};
    use crate::pki::keys::{KeyAlgorithm, PrivateKey};
    use crate::pki::names::AltNames;

    fn object(
        cn: &str,
        dns: &[&str],
        usages: &[&str],
        secs: Option<i32>,
    ) -> CertificateSigningRequest {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let spec = CsrSpec {
            common_name: cn.into(),
            organizations: vec![],
            alt_names: AltNames {
                dns: dns.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
        };
        let pem = csr::csr_pem(&csr::build(&spec, &key).unwrap());
        let spec = ObjectSpec {
            name: "x".into(),
            signer_name: "example.com/serving".into(),
            usages: usages.iter().map(|s| s.to_string()).collect(),
            expiration_seconds: secs,
        };
        make(&spec, pem.as_bytes()).unwrap()
    }

    fn signer() -> Signer {
        Signer {
            signer_name: "example.com/serving".into(),
            rules: Rules::Profile(Profile::builtin("server").unwrap()),
            policy: Policy::default(),
            duration: DEFAULT_SIGNING_DURATION,
        }
    }

    const SERVING: &[&str] = &["digital signature", "key encipherment", "server auth"];

    fn issue(v: Verdict) -> Issue {
        match v {
            Verdict::Issue(i) => *i,
            other => panic!("not issued: {other:?}"),
        }
    }

    #[test]
    fn only_approved_objects_of_its_signer_are_decided() {
        let now = OffsetDateTime::now_utc();
        let ca = now + Duration::days(3650);
        let mut o = object("a", &["a.example.com"], SERVING, None);
        assert!(matches!(
            decide(&o, &signer(), ca, now),
            Ok(Verdict::Skip(Skip::NotApproved))
        ));
        approve(&mut o, now);
        let mut other = signer();
        other.signer_name = "example.com/other".into();
        assert!(matches!(
            decide(&o, &other, ca, now),
            Ok(Verdict::Skip(Skip::OtherSigner))
        ));
        let i = issue(decide(&o, &signer(), ca, now).unwrap());
        assert_eq!(i.spec.alt_names.dns, ["a.example.com"]);
        assert!(i.key_usage.digital_signature && i.key_usage.key_encipherment);
        assert_eq!(i.spec.usages, [ExtUsage::ServerAuth]);
        crate::pki::csr_object::set_certificate(&mut o, "-----BEGIN CERTIFICATE-----\n");
        assert!(matches!(
            decide(&o, &signer(), ca, now),
            Ok(Verdict::Skip(Skip::Issued))
        ));
    }

    #[test]
    fn ttl_backdate_and_the_ca_cut_as_the_controller_manager() {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let ca = now + Duration::days(3650);
        let window = |secs: Option<i32>, ca: OffsetDateTime| {
            let mut o = object("a", &["a.example.com"], SERVING, secs);
            approve(&mut o, now);
            let i = issue(decide(&o, &signer(), ca, now).unwrap());
            (i.spec.not_before, i.spec.not_after)
        };
        // The default: one year, NotBefore and NotAfter both 5 minutes back.
        assert_eq!(
            window(None, ca),
            (now - BACKDATE, now + Duration::hours(8760) - BACKDATE)
        );
        // Under 8 h: NotAfter not backdated; 600 s is the floor.
        assert_eq!(window(Some(3600), ca).1, now + Duration::hours(1));
        assert_eq!(window(Some(600), ca).1, now + Duration::minutes(10));
        // 8 h and more: backdated.
        assert_eq!(
            window(Some(8 * 3600), ca).1,
            now + Duration::hours(8) - BACKDATE
        );
        // Longer than the signing duration: capped.
        assert_eq!(
            window(Some(i32::MAX), ca).1,
            now + Duration::hours(8760) - BACKDATE
        );
        // Cut at the CA's NotAfter.
        let soon = now + Duration::days(30);
        assert_eq!(window(None, soon).1, soon);
        // An expired CA signs nothing.
        let mut o = object("a", &["a.example.com"], SERVING, None);
        approve(&mut o, now);
        assert!(decide(&o, &signer(), now, now).is_err());
        // The policy's maximum caps too.
        let mut s = signer();
        s.policy.max_duration = Some(Duration::days(1));
        assert_eq!(ttl(&s, None), Duration::days(1));
        assert_eq!(ttl(&s, Some(3600)), Duration::hours(1));
    }

    #[test]
    fn rules_and_policies_fail_with_their_messages() {
        let now = OffsetDateTime::now_utc();
        let ca = now + Duration::days(3650);
        let fail = |o: &mut CertificateSigningRequest, s: &Signer| {
            approve(o, now);
            match decide(o, s, ca, now).unwrap() {
                Verdict::Fail(m) => m,
                other => panic!("not failed: {other:?}"),
            }
        };
        let mut o = object(
            "a",
            &["a.example.com"],
            &["digital signature", "client auth"],
            None,
        );
        assert_eq!(
            fail(&mut o, &signer()),
            "usage \"client auth\" is not allowed by profile server (it allows digital \
             signature, key encipherment, server auth)"
        );
        let mut s = signer();
        s.policy.allowed_dns_suffixes = Some(vec!["example.org".into()]);
        let mut o = object("a", &["a.example.com"], SERVING, None);
        assert!(
            fail(&mut o, &s)
                .contains("is not under a DNS suffix the policy of example.com/serving allows")
        );
        let mut s = signer();
        s.policy.allowed_requestors = Some(vec!["alice".into()]);
        let mut o = object("a", &["a.example.com"], SERVING, None);
        o.spec.username = Some("bob".into());
        assert_eq!(
            fail(&mut o, &s),
            "the requestor \"bob\" is not allowed by the policy of example.com/serving"
        );
        // A built-in signer's rules and texts.
        let mut s = signer();
        s.signer_name = "kubernetes.io/kube-apiserver-client".into();
        s.rules = Rules::Builtin(BuiltinSigner::KubeApiserverClient);
        let mut o = object("a", &[], &["digital signature", "server auth"], None);
        o.spec.signer_name = s.signer_name.clone();
        assert_eq!(
            fail(&mut o, &s),
            "invalid usage for client certificate: server auth"
        );
        // A forged request fails.
        let mut o = object("a", &["a.example.com"], SERVING, None);
        let text = String::from_utf8(o.spec.request.0.clone()).unwrap();
        let der = pem::parse(&text).unwrap().into_contents();
        let mut der = der;
        let last = der.len() - 1;
        der[last] ^= 1;
        o.spec.request.0 = csr::csr_pem(&der).into_bytes();
        assert!(fail(&mut o, &signer()).contains("signature does not verify"));
    }
}
