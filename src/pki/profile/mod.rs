//! Signing profiles: what a certificate signed from a request (`kubepki sign`) or made in one step
//! (`kubepki issue-cert`) may be used for, how long it lives, and which requests it accepts.
//!
//! The key usages and extended key usages of such a certificate come only from its profile, never
//! from what a request asks (as the Kubernetes CSR API takes them from `spec.usages`, not from the
//! request's extensions); every one is CA:FALSE. Usages are named with the CSR API's strings
//! (`digital signature`, `key encipherment`, `server auth`, `client auth`; cfssl's `signing` is
//! `digital signature`). keyEncipherment is put on RSA keys only (RFC 8813, as everywhere in
//! kubepki), so a profile's usages are exactly what an RSA certificate carries, less
//! keyEncipherment for other keys.
//!
//! Built-in profiles cover the Kubernetes roles; three of them apply the rules of the built-in
//! signers of kube-controller-manager (`rules`). A profile file (`file`) adds user profiles, in
//! kubepki's small format or as a cfssl signing configuration.

mod file;
mod rules;

use std::fmt;

use ipnet::IpNet;
use serde::Serialize;
use time::Duration;

use super::catalog::ExtUsage;
use super::cert::DEFAULT_VALIDITY;
use super::error::Error;
use super::keys::KeyAlgorithm;
use super::names::AltNames;
use super::untrusted::quote_input;

pub use file::{ProfileFile, load as load_file};
pub use rules::BuiltinSigner;

/// The error helpers of profile files, shared with the cfssl request reader
/// ([`crate::pki::identity`]).
pub(crate) mod file_support {
    pub(crate) use super::file::{describe, rule};
}

/// A usage a profile can give, as the CSR API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Usage {
    /// `digital signature` (cfssl's `signing`): the keyUsage digitalSignature bit.
    DigitalSignature,
    /// `key encipherment`: the keyUsage keyEncipherment bit, given to RSA keys only.
    KeyEncipherment,
    /// `server auth`: the serverAuth extended key usage.
    ServerAuth,
    /// `client auth`: the clientAuth extended key usage.
    ClientAuth,
}

impl Usage {
    /// The CSR API's name (`spec.usages`).
    pub const fn api_name(self) -> &'static str {
        match self {
            Usage::DigitalSignature => "digital signature",
            Usage::KeyEncipherment => "key encipherment",
            Usage::ServerAuth => "server auth",
            Usage::ClientAuth => "client auth",
        }
    }

    /// Reads a usage string of the CSR API or of cfssl (`signing` is `digital signature`). The
    /// other usages of the API (`code signing`, `cert sign`, ...) are not for Kubernetes TLS
    /// certificates and are refused as unrecognized.
    pub fn parse(s: &str) -> Option<Usage> {
        match s {
            "digital signature" | "signing" => Some(Usage::DigitalSignature),
            "key encipherment" => Some(Usage::KeyEncipherment),
            "server auth" => Some(Usage::ServerAuth),
            "client auth" => Some(Usage::ClientAuth),
            _ => None,
        }
    }

    /// The extended key usage it is, if it is one.
    pub fn ext(self) -> Option<ExtUsage> {
        match self {
            Usage::ServerAuth => Some(ExtUsage::ServerAuth),
            Usage::ClientAuth => Some(ExtUsage::ClientAuth),
            _ => None,
        }
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.api_name())
    }
}

impl Serialize for Usage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.api_name())
    }
}

/// What the refusal of an unknown usage string says (the CSR API says "unrecognized usage
/// values").
pub const UNRECOGNIZED_USAGE: &str = "unrecognized usage: kubepki signs TLS certificates with \
     `digital signature` (or `signing`), `key encipherment`, `server auth` and `client auth`";

/// Limits a user profile puts on what it signs, besides a built-in signer's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restrictions {
    /// DNS SANs must be one of these names or below one (`example.com` allows `example.com`
    /// and `*.example.com`, `a.b.example.com`); `Some([])` allows none, `None` any.
    pub allowed_dns_suffixes: Option<Vec<String>>,
    /// IP SANs must be inside one of these ranges; `Some([])` allows none, `None` any.
    pub allowed_ip_ranges: Option<Vec<IpNet>>,
    /// The longest validity `--validity` may ask for.
    pub max_validity: Option<Duration>,
}

/// A signing profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The name `--profile` selects it by.
    pub name: String,
    /// Sorted, without repeats; always holds `digital signature`.
    pub usages: Vec<Usage>,
    /// How long a certificate it signs is valid when `--validity` does not say
    /// ([`DEFAULT_VALIDITY`] for the built-ins).
    pub validity: Duration,
    /// A built-in signer whose rules requests must pass.
    pub signer: Option<BuiltinSigner>,
    /// The file profile's limits on SANs and validity (none for the built-ins).
    pub restrictions: Restrictions,
    /// `built-in`, or the file it was read from.
    pub origin: String,
}

/// The built-in profiles: name, usages, the built-in signer whose rules apply, and what it is for.
const BUILTINS: &[(&str, &[Usage], Option<BuiltinSigner>, &str)] = &[
    (
        "server",
        &[
            Usage::DigitalSignature,
            Usage::KeyEncipherment,
            Usage::ServerAuth,
        ],
        None,
        "a TLS server (serverAuth)",
    ),
    (
        "client",
        &[
            Usage::DigitalSignature,
            Usage::KeyEncipherment,
            Usage::ClientAuth,
        ],
        None,
        "a TLS client, e.g. a user for kubectl or curl (clientAuth)",
    ),
    (
        "peer",
        &[
            Usage::DigitalSignature,
            Usage::KeyEncipherment,
            Usage::ServerAuth,
            Usage::ClientAuth,
        ],
        None,
        "both ends, as etcd members (serverAuth and clientAuth)",
    ),
    (
        "kubelet-serving",
        &[
            Usage::DigitalSignature,
            Usage::KeyEncipherment,
            Usage::ServerAuth,
        ],
        Some(BuiltinSigner::KubeletServing),
        "a kubelet's serving certificate, with the rules of kubernetes.io/kubelet-serving",
    ),
    (
        "kubelet-client",
        &[
            Usage::DigitalSignature,
            Usage::KeyEncipherment,
            Usage::ClientAuth,
        ],
        Some(BuiltinSigner::KubeletClient),
        "a kubelet's client certificate, with the rules of kubernetes.io/kube-apiserver-client-kubelet",
    ),
    (
        "kube-apiserver-client",
        &[
            Usage::DigitalSignature,
            Usage::KeyEncipherment,
            Usage::ClientAuth,
        ],
        Some(BuiltinSigner::KubeApiserverClient),
        "a client of the API server, with the rules of kubernetes.io/kube-apiserver-client \
         (and its admission plugin: no system:masters)",
    ),
];

/// The names of the built-in profiles, in the order help lists them.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.0)
}

/// The profile `--profile` names, looked up in the profile file first, then among the built-ins;
/// without a name, the file's default (cfssl's `default`, or its only profile).
pub(crate) fn resolve(name: Option<&str>, file: Option<&ProfileFile>) -> Result<Profile, Error> {
    let known = || {
        let mut s = format!(
            "built-in: {}",
            builtin_names().collect::<Vec<_>>().join(", ")
        );
        if let Some(f) = file {
            s.push_str(&format!(
                "; in {}: {}",
                f.path.display(),
                f.names().join(", ")
            ));
        }
        s
    };
    match name {
        Some(n) => file
            .and_then(|f| f.get(n))
            .cloned()
            .or_else(|| Profile::builtin(n))
            .ok_or_else(|| {
                Error::usage(
                    "--profile",
                    format!("unknown profile {} ({})", quote_input(n), known()),
                )
            }),
        None => file
            .and_then(ProfileFile::default_profile)
            .cloned()
            .ok_or_else(|| Error::usage("--profile", format!("is required ({})", known()))),
    }
}

impl Profile {
    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<Profile> {
        let (name, usages, signer, _) = BUILTINS.iter().find(|b| b.0 == name)?;
        Some(Profile {
            name: name.to_string(),
            usages: usages.to_vec(),
            validity: DEFAULT_VALIDITY,
            signer: *signer,
            restrictions: Restrictions::default(),
            origin: "built-in".into(),
        })
    }

    /// The usages a certificate for a key of `algorithm` gets: the profile's, without
    /// `key encipherment` for a key that is not RSA (RFC 8813 §3).
    pub fn usages_for(&self, algorithm: KeyAlgorithm) -> Vec<Usage> {
        self.usages
            .iter()
            .copied()
            .filter(|u| *u != Usage::KeyEncipherment || algorithm.is_rsa())
            .collect()
    }

    /// The extended key usages of the profile.
    pub fn ext_usages(&self) -> Vec<ExtUsage> {
        self.usages.iter().filter_map(|u| u.ext()).collect()
    }

    /// Whether an RSA key gets keyEncipherment.
    pub fn key_encipherment(&self) -> bool {
        self.usages.contains(&Usage::KeyEncipherment)
    }

    /// Checks what a certificate would certify (the subject and the SANs, after any `--san`
    /// edits) for a key of `algorithm` against the profile: the built-in signer's rules first,
    /// in that signer's order and with its texts, then the profile's restrictions.
    pub fn check(
        &self,
        common_name: &str,
        organizations: &[String],
        alt_names: &AltNames,
        algorithm: KeyAlgorithm,
    ) -> Result<(), String> {
        if let Some(signer) = self.signer {
            signer
                .validate(
                    common_name,
                    organizations,
                    alt_names,
                    &self.usages_for(algorithm),
                )
                .map_err(|e| format!("{e} (profile {}, {})", self.name, signer.name()))?;
        }
        self.restrictions
            .check(alt_names, &format!("profile {}", self.name))
    }

    /// Checks a validity asked with `--validity` against the profile's maximum.
    pub fn check_validity(&self, asked: Duration) -> Result<(), String> {
        match self.restrictions.max_validity {
            Some(max) if asked > max => Err(format!(
                "profile {} allows at most {}",
                self.name,
                crate::pki::duration::format_go(max)
            )),
            _ => Ok(()),
        }
    }
}

impl Restrictions {
    /// Checks DNS and IP SANs against the allowed suffixes and ranges (`who` names the profile
    /// or policy in the message: `profile web`).
    pub fn check(&self, alt_names: &AltNames, who: &str) -> Result<(), String> {
        use crate::pki::untrusted::show_untrusted;
        if let Some(suffixes) = &self.allowed_dns_suffixes
            && let Some(bad) = alt_names.dns.iter().find(|d| {
                !suffixes
                    .iter()
                    .any(|s| d.as_str() == s || d.ends_with(&format!(".{s}")))
            })
        {
            return Err(format!(
                "the DNS SAN {} is not under a DNS suffix {who} allows",
                show_untrusted(bad)
            ));
        }
        if let Some(ranges) = &self.allowed_ip_ranges
            && let Some(bad) = alt_names
                .ips
                .iter()
                .find(|ip| !ranges.iter().any(|r| r.contains(*ip)))
        {
            return Err(format!(
                "the IP SAN {bad} is not in an IP range {who} allows"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dns: &[&str], ips: &[&str]) -> AltNames {
        AltNames {
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn builtin_profiles_have_their_roles_usages() {
        let usages = |n: &str| Profile::builtin(n).unwrap().usages;
        use Usage::*;
        assert_eq!(
            usages("server"),
            [DigitalSignature, KeyEncipherment, ServerAuth]
        );
        assert_eq!(
            usages("client"),
            [DigitalSignature, KeyEncipherment, ClientAuth]
        );
        assert_eq!(
            usages("peer"),
            [DigitalSignature, KeyEncipherment, ServerAuth, ClientAuth]
        );
        for name in builtin_names() {
            let p = Profile::builtin(name).unwrap();
            assert_eq!(p.validity, Duration::days(365), "{name}");
            assert!(p.usages.windows(2).all(|w| w[0] < w[1]), "{name} sorted");
        }
        assert!(Profile::builtin("nope").is_none());
        // keyEncipherment only for RSA keys.
        let server = Profile::builtin("server").unwrap();
        assert_eq!(
            server.usages_for(KeyAlgorithm::EcdsaP256),
            [DigitalSignature, ServerAuth]
        );
        assert_eq!(server.usages_for(KeyAlgorithm::Rsa(2048)), server.usages);
    }

    #[test]
    fn usage_strings_are_the_csr_apis() {
        assert_eq!(Usage::parse("signing"), Some(Usage::DigitalSignature));
        assert_eq!(Usage::parse("server auth"), Some(Usage::ServerAuth));
        for other in ["cert sign", "code signing", "any", "Server Auth", ""] {
            assert_eq!(Usage::parse(other), None, "{other}");
        }
    }

    #[test]
    fn restrictions_limit_dns_and_ip_sans() {
        let mut p = Profile::builtin("server").unwrap();
        p.restrictions.allowed_dns_suffixes = Some(vec!["example.com".into()]);
        p.restrictions.allowed_ip_ranges = Some(vec!["10.0.0.0/8".parse().unwrap()]);
        let ok = names(
            &["example.com", "*.example.com", "a.b.example.com"],
            &["10.1.2.3"],
        );
        p.check("x", &[], &ok, KeyAlgorithm::EcdsaP256).unwrap();
        let err = p
            .check(
                "x",
                &[],
                &names(&["badexample.com"], &[]),
                KeyAlgorithm::EcdsaP256,
            )
            .unwrap_err();
        assert!(
            err.contains("\"badexample.com\" is not under a DNS suffix"),
            "{err}"
        );
        let err = p
            .check(
                "x",
                &[],
                &names(&[], &["192.168.0.1"]),
                KeyAlgorithm::EcdsaP256,
            )
            .unwrap_err();
        assert!(err.contains("192.168.0.1 is not in an IP range"), "{err}");
        p.restrictions.max_validity = Some(Duration::days(90));
        assert!(p.check_validity(Duration::days(90)).is_ok());
        assert!(
            p.check_validity(Duration::days(91))
                .unwrap_err()
                .contains("at most 2160h")
        );
    }
}
