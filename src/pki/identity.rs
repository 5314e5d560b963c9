//! Identities as users give them to `kubepki csr` and `kubepki issue-cert`: a subject (CN, O) and
//! SANs of every kind (DNS, IP, URI, email), from flags or from a cfssl CSR request (the JSON
//! `cfssl genkey` reads); and the SAN edits `kubepki sign` makes to a request (`--san`,
//! `--only-san`).

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use super::catalog;
use super::error::Error;
use super::keys::KeyAlgorithm;
use super::names::{AltNames, parse_ip, validate_dns_name};
use super::profile::file_support::{describe, rule};
use super::untrusted::{quote_input, show_untrusted};

/// One SAN of any kind, as a user writes it: `DNS:name`, `IP:addr`, `URI:uri`, `email:addr`, or
/// bare (an IP address, a URI when it has `://`, an email address when it has `@`, else a DNS
/// name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnySan {
    /// A DNS name (a DNS-1123 subdomain, a leading `*.` allowed).
    Dns(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A URI with a scheme, ASCII without spaces (`spiffe://cluster.local/ns/a/sa/b`).
    Uri(String),
    /// An email address (rfc822Name), `local@domain` in ASCII.
    Email(String),
}

impl FromStr for AnySan {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        let (kind, value) = match s.split_once(':') {
            Some((k, v))
                if ["dns", "ip", "uri", "email"].contains(&k.to_ascii_lowercase().as_str()) =>
            {
                (Some(k.to_ascii_lowercase()), v)
            }
            _ => (None, s),
        };
        let uri = |v: &str| check_uri(v).map(|()| AnySan::Uri(v.to_string()));
        let email = |v: &str| check_email(v).map(|()| AnySan::Email(v.to_string()));
        let dns = |v: &str| validate_dns_name(v, true).map(|()| AnySan::Dns(v.to_string()));
        match kind.as_deref() {
            Some("dns") => dns(value),
            Some("ip") => parse_ip(value).map(AnySan::Ip),
            Some("uri") => uri(value),
            Some("email") => email(value),
            _ => {
                if let Ok(ip) = parse_ip(value) {
                    Ok(AnySan::Ip(ip))
                } else if value.contains("://") {
                    uri(value)
                } else if value.contains('@') {
                    email(value)
                } else {
                    dns(value).map_err(|e| {
                        format!(
                            "{e} (nor an IP address, a URI or an email address; prefix DNS:, IP:, \
                             URI: or email: to say which)"
                        )
                    })
                }
            }
        }
    }
}

/// A URI SAN: ASCII without spaces, with a scheme (`spiffe://...`, `https://...`).
fn check_uri(v: &str) -> Result<(), String> {
    let scheme = v.split(':').next().unwrap_or("");
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'));
    if v.len() > scheme.len() + 1 && scheme_ok && v.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a URI (expected scheme:rest in ASCII without spaces, e.g. spiffe://cluster.local/ns/a/sa/b)",
            quote_input(v)
        ))
    }
}

/// An email SAN: `local@domain`, ASCII, the domain a DNS name.
fn check_email(v: &str) -> Result<(), String> {
    let ok = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.bytes().all(|b| b.is_ascii_graphic() && b != b'@')
                && validate_dns_name(&domain.to_ascii_lowercase(), false).is_ok()
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not an email address (expected local@domain in ASCII)",
            quote_input(v)
        ))
    }
}

impl fmt::Display for AnySan {
    /// openssl's notation: `DNS:a.example`, `IP:10.0.0.1`, `URI:spiffe://...`, `email:a@b`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnySan::Dns(d) => write!(f, "DNS:{d}"),
            AnySan::Ip(ip) => write!(f, "IP:{ip}"),
            AnySan::Uri(u) => write!(f, "URI:{u}"),
            AnySan::Email(e) => write!(f, "email:{e}"),
        }
    }
}

/// Parses a comma-separated list of SANs (`--san a.example,10.0.0.1,URI:spiffe://x`).
pub fn parse_san_list(s: &str) -> Result<Vec<AnySan>, String> {
    s.split(',')
        .enumerate()
        .map(|(i, item)| {
            if item.trim().is_empty() {
                return Err(format!("{}: entry {} is empty", quote_input(s), i + 1));
            }
            item.parse::<AnySan>()
        })
        .collect()
}

/// The SANs of a list, without repeats, in the order given.
pub fn alt_names(sans: &[AnySan]) -> AltNames {
    let mut out = AltNames::default();
    for san in sans {
        if !contains(&out, san) {
            push(&mut out, san);
        }
    }
    out
}

/// Every SAN of `names`, in openssl's notation.
pub fn san_list(names: &AltNames) -> Vec<AnySan> {
    let mut out: Vec<AnySan> = names.dns.iter().cloned().map(AnySan::Dns).collect();
    out.extend(names.ips.iter().copied().map(AnySan::Ip));
    out.extend(names.uris.iter().cloned().map(AnySan::Uri));
    out.extend(names.emails.iter().cloned().map(AnySan::Email));
    out
}

fn contains(names: &AltNames, san: &AnySan) -> bool {
    match san {
        AnySan::Dns(d) => names.dns.iter().any(|x| x.eq_ignore_ascii_case(d)),
        AnySan::Ip(ip) => names.ips.contains(ip),
        AnySan::Uri(u) => names.uris.contains(u),
        AnySan::Email(e) => names.emails.iter().any(|x| x.eq_ignore_ascii_case(e)),
    }
}

fn push(names: &mut AltNames, san: &AnySan) {
    match san {
        AnySan::Dns(d) => names.dns.push(d.clone()),
        AnySan::Ip(ip) => names.ips.push(*ip),
        AnySan::Uri(u) => names.uris.push(u.clone()),
        AnySan::Email(e) => names.emails.push(e.clone()),
    }
}

/// What `kubepki sign` changes in a request's SANs: `--only-san` keeps only the listed ones of
/// the request, then `--san` adds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SanEdits {
    /// `--san`: added when the request lacks them.
    pub add: Vec<AnySan>,
    /// `--only-san`: the request's SANs not listed here are dropped; `None` keeps them all.
    pub only: Option<Vec<AnySan>>,
}

/// The SANs a certificate gets, and what the edits changed, in openssl's notation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditedSans {
    /// The SANs the certificate gets.
    pub alt_names: AltNames,
    /// The SANs `--san` added (`DNS:a.example`).
    pub added: Vec<String>,
    /// The request's SANs `--only-san` dropped.
    pub dropped: Vec<String>,
}

impl SanEdits {
    /// No edit: the request's SANs are kept as they are.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.only.is_none()
    }

    /// Applies the edits to a request's SANs: `only` first, then `add`.
    pub fn apply(&self, requested: &AltNames) -> EditedSans {
        let mut out = EditedSans::default();
        let keep = self.only.as_ref().map(|only| alt_names(only));
        for san in san_list(requested) {
            match &keep {
                Some(keep) if !contains(keep, &san) => out.dropped.push(san.to_string()),
                _ => push(&mut out.alt_names, &san),
            }
        }
        for san in &self.add {
            if !contains(&out.alt_names, san) {
                push(&mut out.alt_names, san);
                out.added.push(san.to_string());
            }
        }
        out
    }
}

/// Checks a subject value typed on the command line (`--cn`, `--org`): not empty, no control
/// characters, at most 64 characters (X.520's bound) except for kubelet identities
/// (`system:node:<name>` with a node name of up to 253 characters, as kubeadm makes them).
pub fn check_subject_value(s: &str) -> Result<(), String> {
    if s.starts_with(catalog::NODE_USER_PREFIX)
        && !s.chars().any(char::is_control)
        && s.len() <= catalog::NODE_USER_PREFIX.len() + 253
    {
        return Ok(());
    }
    crate::pki::names::validate_subject_value(s)
}

/// A cfssl CSR request (`cfssl genkey`'s input):
/// `{"CN": .., "hosts": [..], "key": {"algo": "ecdsa", "size": 256}, "names": [{"O": ..}]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CfsslRequest {
    /// `CN`, when given.
    pub common_name: Option<String>,
    /// The `O` of every entry of `names`, in order.
    pub organizations: Vec<String>,
    /// `hosts`: the SANs, each read as a bare [`AnySan`] is.
    pub hosts: Vec<AnySan>,
    /// `None` when the request has no `key` (cfssl then makes ECDSA P-256).
    pub key_algorithm: Option<KeyAlgorithm>,
}

/// Reads a cfssl CSR request. Only CN and O are put in a subject (all Kubernetes reads): C, ST,
/// L and OU are refused rather than dropped. Errors name `path`, the field and the line.
pub fn parse_cfssl_request(path: &Path, bytes: &[u8]) -> Result<CfsslRequest, Error> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::bad_file(path, "is not UTF-8 text (a cfssl JSON request)"))?;
    let raw: RawCfsslRequest =
        yaml_serde::from_str(text).map_err(|e| Error::bad_file(path, describe(&e)))?;
    Ok(CfsslRequest {
        common_name: raw.cn.map(|v| v.0),
        organizations: raw
            .names
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| n.o.map(|v| v.0))
            .collect(),
        hosts: raw
            .hosts
            .unwrap_or_default()
            .into_iter()
            .map(|h| h.0)
            .collect(),
        key_algorithm: raw.key.map(|k| k.0),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCfsslRequest {
    #[serde(rename = "CN")]
    cn: Option<SubjectValue>,
    hosts: Option<Vec<Host>>,
    key: Option<CfsslKey>,
    names: Option<Vec<RawName>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // C, ST, L and OU are read only to be refused.
struct RawName {
    #[serde(rename = "O")]
    o: Option<SubjectValue>,
    #[serde(rename = "C")]
    c: Option<NotInSubject>,
    #[serde(rename = "ST")]
    st: Option<NotInSubject>,
    #[serde(rename = "L")]
    l: Option<NotInSubject>,
    #[serde(rename = "OU")]
    ou: Option<NotInSubject>,
}

struct SubjectValue(String);

impl<'de> Deserialize<'de> for SubjectValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        check_subject_value(&s)
            .map(|()| SubjectValue(s))
            .map_err(|_| rule("CN and O must be 1 to 64 characters without control characters"))
    }
}

/// C, ST, L, OU: valid cfssl, but kubepki writes only CN and O (Kubernetes reads nothing else),
/// and never drops what was asked.
struct NotInSubject;

impl<'de> Deserialize<'de> for NotInSubject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let _ = serde::de::IgnoredAny::deserialize(d)?;
        Err(rule(
            "kubepki puts only CN and O in a subject (Kubernetes reads only the user name and \
             groups); remove C, ST, L and OU",
        ))
    }
}

struct Host(AnySan);

impl<'de> Deserialize<'de> for Host {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<AnySan>().map(Host).map_err(|_| {
            rule(format!(
                "{} is neither an IP address, a DNS name, a URI nor an email address",
                show_untrusted(&s)
            ))
        })
    }
}

struct CfsslKey(KeyAlgorithm);

impl<'de> Deserialize<'de> for CfsslKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            algo: String,
            size: Option<u32>,
        }
        let raw = Raw::deserialize(d)?;
        let alg = match (raw.algo.as_str(), raw.size) {
            ("ecdsa", None | Some(256)) => KeyAlgorithm::EcdsaP256,
            ("ecdsa", Some(384)) => KeyAlgorithm::EcdsaP384,
            ("rsa", None | Some(2048)) => KeyAlgorithm::Rsa(2048),
            ("rsa", Some(3072)) => KeyAlgorithm::Rsa(3072),
            ("rsa", Some(4096)) => KeyAlgorithm::Rsa(4096),
            ("ed25519", None | Some(0)) => KeyAlgorithm::Ed25519,
            _ => {
                return Err(rule(
                    "key: expected algo ecdsa (size 256 or 384), rsa (size 2048, 3072 or 4096) or \
                     ed25519",
                ));
            }
        };
        Ok(CfsslKey(alg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sans_of_every_kind_are_detected_or_prefixed() {
        let p = |s: &str| s.parse::<AnySan>();
        assert_eq!(p("10.0.0.1"), Ok(AnySan::Ip("10.0.0.1".parse().unwrap())));
        assert_eq!(p("IP:::1"), Ok(AnySan::Ip("::1".parse().unwrap())));
        assert_eq!(p("a.example"), Ok(AnySan::Dns("a.example".into())));
        assert_eq!(p("DNS:*.a.example"), Ok(AnySan::Dns("*.a.example".into())));
        assert_eq!(
            p("spiffe://cluster.local/ns/a/sa/b"),
            Ok(AnySan::Uri("spiffe://cluster.local/ns/a/sa/b".into()))
        );
        assert_eq!(p("URI:urn:x"), Ok(AnySan::Uri("urn:x".into())));
        assert_eq!(
            p("ops@example.com"),
            Ok(AnySan::Email("ops@example.com".into()))
        );
        assert_eq!(
            p("email:ops@example.com"),
            Ok(AnySan::Email("ops@example.com".into()))
        );
        for bad in [
            "Bad_Name",
            "URI:no scheme",
            "email:nobody",
            "IP:1.2.3",
            "a@b c",
            "",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(p("URI:urn:x").unwrap().to_string(), "URI:urn:x");
        assert!(
            parse_san_list("a.example,,b")
                .unwrap_err()
                .contains("entry 2 is empty")
        );
    }

    #[test]
    fn san_edits_restrict_then_add_and_say_what_changed() {
        let requested = alt_names(&parse_san_list("a.example,b.example,10.0.0.1").unwrap());
        let edits = SanEdits {
            add: parse_san_list("c.example,10.0.0.1").unwrap(),
            only: Some(parse_san_list("a.example,10.0.0.1").unwrap()),
        };
        let out = edits.apply(&requested);
        assert_eq!(out.alt_names.dns, ["a.example", "c.example"]);
        assert_eq!(out.alt_names.ips, ["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(out.added, ["DNS:c.example"]);
        assert_eq!(out.dropped, ["DNS:b.example"]);
        assert_eq!(SanEdits::default().apply(&requested).alt_names, requested);
    }

    #[test]
    fn the_docs_cfssl_request_reads_and_bad_ones_name_the_field() {
        let docs = r#"{
  "hosts": [
    "my-svc.my-namespace.svc.cluster.local",
    "my-pod.my-namespace.pod.cluster.local",
    "192.0.2.24",
    "10.0.34.2"
  ],
  "CN": "my-pod.my-namespace.pod.cluster.local",
  "key": {
    "algo": "ecdsa",
    "size": 256
  }
}"#;
        let r = parse_cfssl_request(Path::new("r.json"), docs.as_bytes()).unwrap();
        assert_eq!(
            r.common_name.as_deref(),
            Some("my-pod.my-namespace.pod.cluster.local")
        );
        assert_eq!(r.hosts.len(), 4);
        assert_eq!(r.key_algorithm, Some(KeyAlgorithm::EcdsaP256));
        let r = parse_cfssl_request(
            Path::new("r.json"),
            br#"{"CN":"jane","names":[{"O":"dev"},{"O":"ops"}]}"#,
        )
        .unwrap();
        assert_eq!(r.organizations, ["dev", "ops"]);
        assert_eq!(r.key_algorithm, None);
        for (text, want) in [
            (
                r#"{"CN":"x","names":[{"O":"dev","C":"US"}]}"#,
                "names[0]: line 1 column 20: kubepki puts only CN and O",
            ),
            (
                r#"{"CN":"x","key":{"algo":"ecdsa","size":521}}"#,
                "line 1 column 1: key: expected algo ecdsa",
            ),
            (
                r#"{"CN":"x","hosts":["c2VjcmV0+/=="]}"#,
                "hosts: line 1 column 19: a value of 12 bytes (not shown) is neither",
            ),
            (r#"{"CN":"x","ca":{}}"#, "unknown field `ca`"),
        ] {
            let err = parse_cfssl_request(Path::new("r.json"), text.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("r.json: ") && err.contains(want), "{err}");
            assert!(!err.contains("c2VjcmV0"), "{err}");
        }
    }
}
