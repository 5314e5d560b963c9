//! The rules of the built-in signers of kube-controller-manager, with their check order and error
//! texts (pkg/apis/certificates/helpers.go, pkg/controller/certificates/signer/signer.go, and the
//! CertificateSubjectRestriction admission plugin; see ../shared/reference/csr-api.md §3).
//!
//! They apply to what the certificate will certify (the subject and SANs of the request, after
//! `--san` edits) and to the usages the profile gives it.

use serde::Serialize;

use super::Usage;
use crate::pki::names::AltNames;

/// A built-in signerName whose rules a profile applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BuiltinSigner {
    /// `kubernetes.io/kube-apiserver-client`.
    #[serde(rename = "kubernetes.io/kube-apiserver-client")]
    KubeApiserverClient,
    /// `kubernetes.io/kube-apiserver-client-kubelet`.
    #[serde(rename = "kubernetes.io/kube-apiserver-client-kubelet")]
    KubeletClient,
    /// `kubernetes.io/kubelet-serving`.
    #[serde(rename = "kubernetes.io/kubelet-serving")]
    KubeletServing,
}

use crate::pki::catalog::{MASTERS_GROUP, NODE_USER_PREFIX as NODE_PREFIX, NODES_GROUP};

pub(super) const ORGANIZATION_NOT_SYSTEM_NODES: &str = "subject organization is not system:nodes";
pub(super) const COMMON_NAME_NOT_SYSTEM_NODE: &str =
    "subject common name does not begin with system:node:";
pub(super) const DNS_OR_IP_SAN_REQUIRED: &str = "DNS or IP subjectAltName is required";
pub(super) const DNS_SAN_NOT_ALLOWED: &str = "DNS subjectAltNames are not allowed";
pub(super) const EMAIL_SAN_NOT_ALLOWED: &str = "Email subjectAltNames are not allowed";
pub(super) const IP_SAN_NOT_ALLOWED: &str = "IP subjectAltNames are not allowed";
pub(super) const URI_SAN_NOT_ALLOWED: &str = "URI subjectAltNames are not allowed";

impl BuiltinSigner {
    /// Every built-in signer kubepki applies.
    pub const ALL: [BuiltinSigner; 3] = [
        BuiltinSigner::KubeApiserverClient,
        BuiltinSigner::KubeletClient,
        BuiltinSigner::KubeletServing,
    ];

    /// Its signerName (`kubernetes.io/kubelet-serving`).
    pub fn name(self) -> &'static str {
        match self {
            BuiltinSigner::KubeApiserverClient => "kubernetes.io/kube-apiserver-client",
            BuiltinSigner::KubeletClient => "kubernetes.io/kube-apiserver-client-kubelet",
            BuiltinSigner::KubeletServing => "kubernetes.io/kubelet-serving",
        }
    }

    /// The built-in signer of a signerName, if kubepki applies its rules.
    pub fn from_name(name: &str) -> Option<BuiltinSigner> {
        BuiltinSigner::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The signer's rules, in its order; the error is the signer's text.
    pub fn validate(
        self,
        common_name: &str,
        organizations: &[String],
        sans: &AltNames,
        usages: &[Usage],
    ) -> Result<(), String> {
        let names: Vec<&str> = usages.iter().map(|u| u.api_name()).collect();
        self.validate_api(common_name, organizations, sans, &names)
    }

    /// The signer's rules on the usage strings of a CSR API object's `spec.usages` (any of the
    /// API's strings, e.g. `code signing`, which the rules refuse with the signer's text).
    pub fn validate_api(
        self,
        common_name: &str,
        organizations: &[String],
        sans: &AltNames,
        usages: &[&str],
    ) -> Result<(), String> {
        match self {
            BuiltinSigner::KubeApiserverClient => kube_apiserver_client(organizations, usages),
            BuiltinSigner::KubeletClient => {
                kubelet_client(common_name, organizations, sans, usages)
            }
            BuiltinSigner::KubeletServing => {
                kubelet_serving(common_name, organizations, sans, usages)
            }
        }
    }

    /// Checks the usages alone (a profile file that names this signer is checked when read).
    pub fn validate_usages(self, usages: &[Usage]) -> Result<(), String> {
        let usages: Vec<&str> = usages.iter().map(|u| u.api_name()).collect();
        let usages = usages.as_slice();
        match self {
            BuiltinSigner::KubeApiserverClient => client_usages(usages),
            BuiltinSigner::KubeletClient => exact_usages(usages, Usage::ClientAuth),
            BuiltinSigner::KubeletServing => exact_usages(usages, Usage::ServerAuth),
        }
    }
}

/// `kubernetes.io/kube-apiserver-client`: the admission plugin refuses system:masters when the
/// CSR is created; the signer then checks the usages.
fn kube_apiserver_client(organizations: &[String], usages: &[&str]) -> Result<(), String> {
    if organizations.iter().any(|o| o == MASTERS_GROUP) {
        return Err(format!(
            "use of {} signer with {MASTERS_GROUP} group is not allowed",
            BuiltinSigner::KubeApiserverClient.name()
        ));
    }
    client_usages(usages)
}

fn client_usages(usages: &[&str]) -> Result<(), String> {
    const ALLOWED: [&str; 3] = [
        Usage::DigitalSignature.api_name(),
        Usage::KeyEncipherment.api_name(),
        Usage::ClientAuth.api_name(),
    ];
    if let Some(bad) = usages.iter().find(|u| !ALLOWED.contains(u)) {
        return Err(format!("invalid usage for client certificate: {bad}"));
    }
    if !usages.contains(&Usage::ClientAuth.api_name()) {
        return Err(format!(
            "missing required usage for client certificate: {}",
            Usage::ClientAuth
        ));
    }
    Ok(())
}

/// `kubernetes.io/kube-apiserver-client-kubelet` (ValidateKubeletClientCSR): O, then DNS, email,
/// IP and URI SANs, then CN, then usages.
fn kubelet_client(
    common_name: &str,
    organizations: &[String],
    sans: &AltNames,
    usages: &[&str],
) -> Result<(), String> {
    if organizations != [NODES_GROUP] {
        return Err(ORGANIZATION_NOT_SYSTEM_NODES.into());
    }
    if !sans.dns.is_empty() {
        return Err(DNS_SAN_NOT_ALLOWED.into());
    }
    if !sans.emails.is_empty() {
        return Err(EMAIL_SAN_NOT_ALLOWED.into());
    }
    if !sans.ips.is_empty() {
        return Err(IP_SAN_NOT_ALLOWED.into());
    }
    if !sans.uris.is_empty() {
        return Err(URI_SAN_NOT_ALLOWED.into());
    }
    if !common_name.starts_with(NODE_PREFIX) {
        return Err(COMMON_NAME_NOT_SYSTEM_NODE.into());
    }
    exact_usages(usages, Usage::ClientAuth)
}

/// `kubernetes.io/kubelet-serving` (ValidateKubeletServingCSR): O, then a DNS or IP SAN, no email
/// and no URI SANs, then usages, then CN.
fn kubelet_serving(
    common_name: &str,
    organizations: &[String],
    sans: &AltNames,
    usages: &[&str],
) -> Result<(), String> {
    if organizations != [NODES_GROUP] {
        return Err(ORGANIZATION_NOT_SYSTEM_NODES.into());
    }
    if sans.dns.is_empty() && sans.ips.is_empty() {
        return Err(DNS_OR_IP_SAN_REQUIRED.into());
    }
    if !sans.emails.is_empty() {
        return Err(EMAIL_SAN_NOT_ALLOWED.into());
    }
    if !sans.uris.is_empty() {
        return Err(URI_SAN_NOT_ALLOWED.into());
    }
    exact_usages(usages, Usage::ServerAuth)?;
    if !common_name.starts_with(NODE_PREFIX) {
        return Err(COMMON_NAME_NOT_SYSTEM_NODE.into());
    }
    Ok(())
}

/// The kubelet signers want exactly {digital signature, key encipherment, `role`}, or (since
/// v1.27, for keys that are not RSA) {digital signature, `role`}. The text lists the set sorted,
/// as Go's `sets.String.List()` does.
fn exact_usages(usages: &[&str], role: Usage) -> Result<(), String> {
    let mut have: Vec<&str> = usages.to_vec();
    have.sort_unstable();
    have.dedup();
    let mut full = vec![
        Usage::DigitalSignature.api_name(),
        Usage::KeyEncipherment.api_name(),
        role.api_name(),
    ];
    full.sort_unstable();
    let mut no_rsa = vec![Usage::DigitalSignature.api_name(), role.api_name()];
    no_rsa.sort_unstable();
    if have == full || have == no_rsa {
        Ok(())
    } else {
        Err(format!("usages did not match [{}]", full.join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Usage::*;

    fn sans(dns: &[&str], ips: &[&str], uris: &[&str], emails: &[&str]) -> AltNames {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        AltNames {
            dns: s(dns),
            ips: ips.iter().map(|i| i.parse().unwrap()).collect(),
            uris: s(uris),
            emails: s(emails),
        }
    }

    fn nodes() -> Vec<String> {
        vec!["system:nodes".into()]
    }

    const CLIENT: &[Usage] = &[DigitalSignature, KeyEncipherment, ClientAuth];
    const SERVING: &[Usage] = &[DigitalSignature, KeyEncipherment, ServerAuth];

    #[test]
    fn kubelet_client_rules_in_order_with_the_signers_texts() {
        let v = |cn: &str, o: Vec<String>, s: AltNames, u: &[Usage]| {
            BuiltinSigner::KubeletClient.validate(cn, &o, &s, u)
        };
        let none = || sans(&[], &[], &[], &[]);
        assert_eq!(v("system:node:w1", nodes(), none(), CLIENT), Ok(()));
        assert_eq!(
            v(
                "system:node:w1",
                nodes(),
                none(),
                &[DigitalSignature, ClientAuth]
            ),
            Ok(()),
            "the no-RSA set is accepted"
        );
        // O first: wrong, missing, extra groups.
        for o in [
            vec![],
            vec!["system:masters".into()],
            vec!["system:nodes".into(), "x".into()],
        ] {
            assert_eq!(
                v("system:node:w1", o, sans(&["a"], &[], &[], &[]), CLIENT),
                Err("subject organization is not system:nodes".into())
            );
        }
        // Then SANs, DNS before email before IP before URI, all before the CN.
        let all = sans(&["a"], &["10.0.0.1"], &["spiffe://x"], &["a@b"]);
        assert_eq!(
            v("jane", nodes(), all, CLIENT),
            Err("DNS subjectAltNames are not allowed".into())
        );
        assert_eq!(
            v(
                "jane",
                nodes(),
                sans(&[], &["10.0.0.1"], &["spiffe://x"], &["a@b"]),
                CLIENT
            ),
            Err("Email subjectAltNames are not allowed".into())
        );
        assert_eq!(
            v(
                "jane",
                nodes(),
                sans(&[], &["10.0.0.1"], &["spiffe://x"], &[]),
                CLIENT
            ),
            Err("IP subjectAltNames are not allowed".into())
        );
        assert_eq!(
            v(
                "jane",
                nodes(),
                sans(&[], &[], &["spiffe://x"], &[]),
                CLIENT
            ),
            Err("URI subjectAltNames are not allowed".into())
        );
        // Then the CN, before the usages.
        assert_eq!(
            v("jane", nodes(), none(), SERVING),
            Err("subject common name does not begin with system:node:".into())
        );
        assert_eq!(
            v("system:node:w1", nodes(), none(), SERVING),
            Err("usages did not match [client auth digital signature key encipherment]".into())
        );
    }

    #[test]
    fn kubelet_serving_rules_in_order_with_the_signers_texts() {
        let v = |cn: &str, o: Vec<String>, s: AltNames, u: &[Usage]| {
            BuiltinSigner::KubeletServing.validate(cn, &o, &s, u)
        };
        let dns = || sans(&["worker-1"], &[], &[], &[]);
        assert_eq!(v("system:node:w1", nodes(), dns(), SERVING), Ok(()));
        assert_eq!(
            v(
                "system:node:w1",
                nodes(),
                sans(&[], &["10.0.0.1"], &[], &[]),
                &[DigitalSignature, ServerAuth]
            ),
            Ok(())
        );
        assert_eq!(
            v("jane", vec!["dev".into()], sans(&[], &[], &[], &[]), CLIENT),
            Err("subject organization is not system:nodes".into())
        );
        assert_eq!(
            v(
                "jane",
                nodes(),
                sans(&[], &[], &["spiffe://x"], &["a@b"]),
                CLIENT
            ),
            Err("DNS or IP subjectAltName is required".into())
        );
        assert_eq!(
            v(
                "jane",
                nodes(),
                sans(&["a"], &[], &["spiffe://x"], &["a@b"]),
                CLIENT
            ),
            Err("Email subjectAltNames are not allowed".into())
        );
        assert_eq!(
            v(
                "jane",
                nodes(),
                sans(&["a"], &[], &["spiffe://x"], &[]),
                CLIENT
            ),
            Err("URI subjectAltNames are not allowed".into())
        );
        // Usages before the CN, as upstream.
        assert_eq!(
            v("jane", nodes(), dns(), CLIENT),
            Err("usages did not match [digital signature key encipherment server auth]".into())
        );
        assert_eq!(
            v("jane", nodes(), dns(), SERVING),
            Err("subject common name does not begin with system:node:".into())
        );
    }

    #[test]
    fn kube_apiserver_client_rules() {
        let v = |o: &[&str], u: &[Usage]| {
            let o: Vec<String> = o.iter().map(|s| s.to_string()).collect();
            BuiltinSigner::KubeApiserverClient.validate("jane", &o, &sans(&["a"], &[], &[], &[]), u)
        };
        assert_eq!(v(&["dev"], CLIENT), Ok(()));
        assert_eq!(v(&[], &[DigitalSignature, ClientAuth]), Ok(()));
        assert_eq!(
            v(&["dev", "system:masters"], CLIENT),
            Err("use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed".into())
        );
        assert_eq!(
            v(&["dev"], SERVING),
            Err("invalid usage for client certificate: server auth".into())
        );
        assert_eq!(
            v(&["dev"], &[DigitalSignature, KeyEncipherment]),
            Err("missing required usage for client certificate: client auth".into())
        );
    }

    #[test]
    fn signer_names_round_trip() {
        for s in BuiltinSigner::ALL {
            assert_eq!(BuiltinSigner::from_name(s.name()), Some(s));
        }
        assert_eq!(
            BuiltinSigner::from_name("kubernetes.io/legacy-unknown"),
            None
        );
    }
}
