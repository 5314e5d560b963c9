//! Profile files (`--profile-file`): kubepki's small format, or a cfssl signing configuration,
//! in YAML or JSON.
//!
//! ```yaml
//! profiles:
//!   web:
//!     usages: [digital signature, key encipherment, server auth]
//!     validity: 90d                      # default 1y
//!     allowedDNSSuffixes: [example.com]  # DNS SANs must be at or below one of these
//!     allowedIPRanges: [10.0.0.0/8]      # IP SANs must be inside one of these
//!     maxValidity: 1y                    # the most --validity may ask
//!     signerName: kubernetes.io/kubelet-serving   # apply a built-in signer's rules
//! ```
//!
//! cfssl's `{"signing": {"default": {...}, "profiles": {"NAME": {...}}}}` with `usages`,
//! `expiry` and `ca_constraint` (which must not ask for a CA) is read as the same thing; its
//! `default` is the profile named `default`.
//!
//! Every field is known: an unknown one is an error naming the field and its line. No error
//! quotes the file (a message names the field path, the line and what is wrong).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};
use time::Duration;

use super::{BuiltinSigner, Profile, Restrictions, UNRECOGNIZED_USAGE, Usage};
use crate::pki::cert::DEFAULT_VALIDITY;
use crate::pki::duration::{check_period, parse_duration};
use crate::pki::error::Error;
use crate::pki::untrusted::is_identifier;
use crate::pki::yaml_error::{describe_yaml_error, safe_path};

/// The profiles of one file.
#[derive(Debug, Clone)]
pub struct ProfileFile {
    /// The file read, as given.
    pub path: PathBuf,
    profiles: Vec<Profile>,
}

impl ProfileFile {
    /// The profile it defines under `name`.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// The names it defines, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.profiles.iter().map(|p| p.name.as_str()).collect()
    }

    /// The profile used when `--profile` is not given: cfssl's `default`, or the only profile.
    pub fn default_profile(&self) -> Option<&Profile> {
        self.get("default").or(match self.profiles.as_slice() {
            [only] => Some(only),
            _ => None,
        })
    }
}

/// Reads a profile file's contents. Errors name `path`, the field and the line.
pub fn load(path: &Path, bytes: &[u8]) -> Result<ProfileFile, Error> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::bad_file(path, "is not UTF-8 text (YAML or JSON)"))?;
    let raw: RawFile =
        yaml_serde::from_str(text).map_err(|e| Error::bad_file(path, describe(&e)))?;
    let origin = path.display().to_string();
    let mut profiles = Vec::new();
    match (raw.profiles, raw.signing) {
        (Some(p), None) => {
            for (name, raw) in p {
                profiles.push(raw.into_profile(name.0, &origin));
            }
        }
        (None, Some(signing)) => {
            if let Some(default) = signing.default {
                profiles.push(default.into_profile("default".into(), &origin));
            }
            for (name, raw) in signing.profiles.unwrap_or_default() {
                profiles.retain(|p: &Profile| p.name != name.0);
                profiles.push(raw.into_profile(name.0, &origin));
            }
        }
        (Some(_), Some(_)) => {
            return Err(Error::bad_file(
                path,
                "has both `profiles` (kubepki's format) and `signing` (cfssl's); use one",
            ));
        }
        (None, None) => {
            return Err(Error::bad_file(
                path,
                "defines no profiles: expected `profiles` (kubepki's format) or `signing` (a cfssl \
                 signing configuration)",
            ));
        }
    }
    if profiles.is_empty() {
        return Err(Error::bad_file(path, "defines no profiles"));
    }
    for p in &profiles {
        check_signer_usages(p)
            .map_err(|e| Error::bad_file(path, format!("profiles.{}.usages: {e}", p.name)))?;
    }
    profiles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ProfileFile {
        path: path.to_path_buf(),
        profiles,
    })
}

/// Messages of this module's own checks carry this mark, so that [`describe`] can tell them (which
/// never quote the file) from serde's and libyaml's (which may).
const MARK: &str = "kubepki-rule: ";

pub(crate) fn rule<E: serde::de::Error>(message: impl std::fmt::Display) -> E {
    E::custom(format!("{MARK}{message}"))
}

/// `PATH: line L column C: PROBLEM`, never quoting the file.
pub(crate) fn describe(e: &yaml_serde::Error) -> String {
    let text = e.to_string();
    let Some(at) = text.rfind(MARK) else {
        return describe_yaml_error(e, 1);
    };
    let path = safe_path(text[..at].trim_end().trim_end_matches(':'));
    let message = &text[at + MARK.len()..];
    let message = message
        .rfind(" at line ")
        .map_or(message, |i| &message[..i]);
    let mut out = String::new();
    if !path.is_empty() {
        out.push_str(&path);
        out.push_str(": ");
    }
    if let Some(l) = e.location() {
        out.push_str(&format!("line {} column {}: ", l.line(), l.column()));
    }
    out.push_str(message);
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    profiles: Option<BTreeMap<Name, RawProfile>>,
    signing: Option<RawSigning>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawProfile {
    usages: Usages,
    validity: Option<Validity>,
    signer_name: Option<SignerName>,
    #[serde(rename = "allowedDNSSuffixes")]
    allowed_dns_suffixes: Option<Vec<DnsSuffix>>,
    #[serde(rename = "allowedIPRanges")]
    allowed_ip_ranges: Option<Vec<IpRange>>,
    max_validity: Option<MaxValidity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigning {
    default: Option<RawCfssl>,
    profiles: Option<BTreeMap<Name, RawCfssl>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCfssl {
    usages: Usages,
    expiry: Option<Expiry>,
    ca_constraint: Option<CaConstraint>,
}

impl RawProfile {
    fn into_profile(self, name: String, origin: &str) -> Profile {
        Profile {
            name,
            usages: self.usages.0,
            validity: self.validity.map_or(DEFAULT_VALIDITY, |p| p.0),
            signer: self.signer_name.map(|s| s.0),
            restrictions: Restrictions {
                allowed_dns_suffixes: self
                    .allowed_dns_suffixes
                    .map(|v| v.into_iter().map(|s| s.0).collect()),
                allowed_ip_ranges: self
                    .allowed_ip_ranges
                    .map(|v| v.into_iter().map(|r| r.0).collect()),
                max_validity: self.max_validity.map(|p| p.0),
            },
            origin: origin.to_string(),
        }
    }
}

impl RawCfssl {
    fn into_profile(self, name: String, origin: &str) -> Profile {
        let _ = self.ca_constraint;
        Profile {
            name,
            usages: self.usages.0,
            // cfssl's default expiry is 8760h, as kubepki's default validity.
            validity: self.expiry.map_or(DEFAULT_VALIDITY, |p| p.0),
            signer: None,
            restrictions: Restrictions::default(),
            origin: origin.to_string(),
        }
    }
}

/// A profile name: a mapping key of the file, so it must look like a name.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Name(String);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if is_identifier(&s) {
            Ok(Name(s))
        } else {
            Err(rule(
                "a profile name must be 1 to 40 letters, digits, '-', '_' or '.', starting with a \
                 letter",
            ))
        }
    }
}

/// A profile's usages: known strings, `digital signature` among them; sorted, without repeats.
struct Usages(Vec<Usage>);

impl<'de> Deserialize<'de> for Usages {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let strings = Vec::<UsageName>::deserialize(d)?;
        let mut usages: Vec<Usage> = strings.into_iter().map(|u| u.0).collect();
        usages.sort();
        usages.dedup();
        if !usages.contains(&Usage::DigitalSignature) {
            return Err(rule(
                "usages: must include `digital signature` (or `signing`): every TLS \
                 certificate signs",
            ));
        }
        Ok(Usages(usages))
    }
}

struct UsageName(Usage);

impl<'de> Deserialize<'de> for UsageName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Usage::parse(&s)
            .map(UsageName)
            .ok_or_else(|| rule(UNRECOGNIZED_USAGE))
    }
}

/// A validity period: `1y`, `90d`, `8760h`, Go's `876000h0m0s`. Errors from a scalar carry the
/// line of the mapping that holds it, so each field's type names the field.
macro_rules! period {
    ($name:ident, $field:literal) => {
        struct $name(Duration);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                let period = parse_duration(&s).map_err(|_| {
                    rule(concat!(
                        $field,
                        ": is not a duration (expected e.g. 1y, 90d, 8760h, 876000h)"
                    ))
                })?;
                check_period(period, $field).map_err(rule)?;
                Ok($name(period))
            }
        }
    };
}

period!(Validity, "validity");
period!(MaxValidity, "maxValidity");
period!(Expiry, "expiry");

struct SignerName(BuiltinSigner);

impl<'de> Deserialize<'de> for SignerName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BuiltinSigner::from_name(&s).map(SignerName).ok_or_else(|| {
            rule(format!(
                "signerName: not a built-in signer whose rules kubepki applies; expected one of {}",
                BuiltinSigner::ALL.map(|s| s.name()).join(", ")
            ))
        })
    }
}

struct DnsSuffix(String);

impl<'de> Deserialize<'de> for DnsSuffix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let s = s.strip_prefix('.').unwrap_or(&s).to_string();
        crate::pki::names::validate_dns_name(&s, false)
            .map(|()| DnsSuffix(s))
            .map_err(|_| {
                rule("allowedDNSSuffixes: an entry is not a DNS name (lowercase letters, digits, '-' and '.')")
            })
    }
}

struct IpRange(IpNet);

impl<'de> Deserialize<'de> for IpRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<IpNet>().map(|n| IpRange(n.trunc())).map_err(|_| {
            rule("allowedIPRanges: an entry is not an IP range in CIDR notation (e.g. 10.0.0.0/8)")
        })
    }
}

/// cfssl's `ca_constraint`: kubepki never signs a CA, so `is_ca` must be false.
struct CaConstraint;

impl<'de> Deserialize<'de> for CaConstraint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            is_ca: Option<bool>,
            #[allow(dead_code)]
            max_path_len: Option<i64>,
            #[allow(dead_code)]
            max_path_len_zero: Option<bool>,
        }
        let raw = Raw::deserialize(d)?;
        if raw.is_ca == Some(true) {
            return Err(rule(
                "ca_constraint: kubepki signs only CA:FALSE certificates; is_ca must be false",
            ));
        }
        Ok(CaConstraint)
    }
}

/// A profile naming a built-in signer must give that signer's usages; checked once read.
fn check_signer_usages(profile: &Profile) -> Result<(), String> {
    match profile.signer {
        Some(s) => s.validate_usages(&profile.usages),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<ProfileFile, String> {
        load(Path::new("p.yaml"), text.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn kubepki_profiles_with_restrictions() {
        let f = load_str(
            "profiles:\n  web:\n    usages: [server auth, digital signature]\n    validity: 90d\n    \
             allowedDNSSuffixes: [.example.com]\n    allowedIPRanges: [10.0.0.0/8]\n    maxValidity: 1y\n",
        )
        .unwrap();
        let web = f.get("web").unwrap();
        assert_eq!(web.usages, [Usage::DigitalSignature, Usage::ServerAuth]);
        assert_eq!(web.validity, Duration::days(90));
        assert_eq!(
            web.restrictions.allowed_dns_suffixes.as_deref(),
            Some(&["example.com".to_string()][..])
        );
        assert_eq!(web.restrictions.max_validity, Some(Duration::days(365)));
        assert_eq!(f.default_profile().map(|p| p.name.as_str()), Some("web"));
    }

    #[test]
    fn the_docs_cfssl_signing_config_is_a_profile_file() {
        let f = load_str(
            "{\n\t\"signing\": {\n\t\t\"default\": {\n\t\t\t\"usages\": [\n\t\t\t\t\"digital signature\",\n\t\t\t\t\"key encipherment\",\n\t\t\t\t\"server auth\"\n\t\t\t],\n\t\t\t\"expiry\": \"876000h\",\n\t\t\t\"ca_constraint\": {\n\t\t\t\t\"is_ca\": false\n\t\t\t}\n\t\t}\n\t}\n}\n",
        )
        .unwrap();
        let d = f.default_profile().unwrap();
        assert_eq!(d.name, "default");
        assert_eq!(d.validity, Duration::hours(876000));
        assert_eq!(d.usages, Profile::builtin("server").unwrap().usages);
        let f = load_str(
            r#"{"signing":{"default":{"usages":["signing"],"expiry":"1h"},"profiles":{"kubernetes":{"usages":["signing","key encipherment","server auth","client auth"],"expiry":"876000h"}}}}"#,
        )
        .unwrap();
        assert_eq!(f.names(), ["default", "kubernetes"]);
        assert_eq!(f.get("kubernetes").unwrap().usages.len(), 4);
    }

    #[test]
    fn errors_name_the_field_and_line_and_never_quote_the_file() {
        const SECRET: &str = "c2VjcmV0c2VjcmV0+/==";
        for (text, want) in [
            (
                format!("profiles:\n  web:\n    usages: [signing]\n    {SECRET}x: 1\n"),
                "profiles.web: line 4 column 5: an unknown field, expected one of `usages`",
            ),
            (
                "profiles:\n  web:\n    usages: [signing]\n    expiry: 1y\n".into(),
                "profiles.web: line 4 column 5: unknown field `expiry`, expected one of",
            ),
            (
                format!("profiles:\n  web:\n    usages: [signing, {SECRET}]\n"),
                "profiles.web.usages: line 3 column 13: unrecognized usage",
            ),
            (
                "profiles:\n  web:\n    usages: [server auth]\n".into(),
                "profiles.web: line 3 column 5: usages: must include `digital signature`",
            ),
            (
                format!("profiles:\n  web:\n    usages: [signing]\n    validity: {SECRET}\n"),
                "profiles.web: line 3 column 5: validity: is not a duration",
            ),
            (
                "profiles:\n  web:\n    usages: [signing]\n    maxValidity: 1m\n".into(),
                "profiles.web: line 3 column 5: maxValidity: a validity of 0h1m0s is shorter than 10 minutes",
            ),
            (
                format!("profiles:\n  web:\n    usages: [signing]\n    allowedIPRanges: [{SECRET}]\n"),
                "profiles.web.allowedIPRanges: line 4 column 22: allowedIPRanges: an entry is not an IP range",
            ),
            (
                r#"{"signing":{"default":{"usages":["signing"],"ca_constraint":{"is_ca":true}}}}"#.into(),
                "signing.default: line 1 column 23: ca_constraint: kubepki signs only CA:FALSE",
            ),
            (
                r#"{"signing":{"default":{"usages":["signing"],"auth_key":"k"}}}"#.into(),
                "signing.default: line 1 column 45: unknown field `auth_key`",
            ),
            (
                format!("profiles:\n  {SECRET}:\n    usages: [signing]\n"),
                "profiles: line 2 column 3: a profile name must be",
            ),
            (
                "profiles:\n  web:\n    usages: [signing, client auth]\n    signerName: kubernetes.io/kubelet-serving\n".into(),
                "profiles.web.usages: usages did not match [digital signature key encipherment server auth]",
            ),
            ("{}".into(), "defines no profiles"),
        ] {
            let err = load_str(&text).unwrap_err();
            assert!(err.starts_with("p.yaml: "), "{err}");
            assert!(err.contains(want), "{text:?}\n{err}\nwanted {want}");
            assert!(!err.contains("c2VjcmV0"), "{err}");
        }
    }
}
