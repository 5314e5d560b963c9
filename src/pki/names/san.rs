//! Subject alternative names: one SAN as the user writes it (an IP or a DNS name), lists of them,
//! DNS-1123 validation, and the de-duplicated SANs of one certificate.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

use crate::pki::untrusted::quote_input;

/// One subject alternative name as the user gave it: an IP or a DNS name (wildcards allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    /// A DNS name, validated as a DNS-1123 subdomain (a leading `*.` allowed).
    Dns(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

impl FromStr for San {
    type Err = String;

    /// kubeadm classifies certSANs entries the same way: an IP, else a DNS-1123 subdomain, else a
    /// wildcard subdomain. It only warns about the rest; we refuse them, since a SAN the user
    /// asked for and did not get is a certificate that fails later.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(ip) = parse_ip(s) {
            return Ok(San::Ip(ip));
        }
        validate_dns_name(s, true).map(|()| San::Dns(s.to_string()))
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(d) => f.write_str(d),
            San::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Parses an IP address. IPv4-mapped IPv6 addresses are taken as IPv4, as Go's `To4` does when it
/// writes an IP SAN.
pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = s
        .parse()
        .map_err(|_| format!("{} is not an IP address", quote_input(s)))?;
    Ok(ip.to_canonical())
}

/// Checks a DNS-1123 subdomain (what Kubernetes accepts as a node name or SAN): lowercase
/// alphanumerics, '-' and '.', labels of 1–63 characters that start and end alphanumeric, at most
/// 253 characters. With `allow_wildcard`, a leading `*.` label is allowed.
pub fn validate_dns_name(s: &str, allow_wildcard: bool) -> Result<(), String> {
    let body = match s.strip_prefix("*.") {
        Some(rest) if allow_wildcard => rest,
        _ => s,
    };
    let why = if s.is_empty() {
        Some("is empty".to_string())
    } else if s.len() > 253 {
        Some("is longer than 253 characters".to_string())
    } else {
        body.split('.').find_map(|label| {
            let chars_ok = label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if label.is_empty() {
                Some("has an empty label".to_string())
            } else if label.len() > 63 {
                Some(format!(
                    "has a label longer than 63 characters ({})",
                    quote_input(label)
                ))
            } else if !chars_ok {
                Some(format!(
                    "may only hold lowercase letters, digits, '-' and '.' (label {})",
                    quote_input(label)
                ))
            } else if label.starts_with('-') || label.ends_with('-') {
                Some(format!(
                    "has a label that starts or ends with '-' ({})",
                    quote_input(label)
                ))
            } else {
                None
            }
        })
    };
    match why {
        None => Ok(()),
        Some(why) => Err(format!(
            "{} is neither an IP address nor a valid DNS name: it {why}",
            quote_input(s)
        )),
    }
}

/// An IP SAN as X.509 encodes it (4 or 16 octets); `None` for any other length.
pub fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

/// Parses a comma-separated list of SANs, as `--apiserver-cert-extra-sans` takes it. An error
/// quotes the list and the entry at fault.
pub fn parse_san_list(s: &str) -> Result<Vec<San>, String> {
    s.split(',')
        .enumerate()
        .map(|(i, item)| {
            if item.trim().is_empty() {
                return Err(format!("{}: entry {} is empty", quote_input(s), i + 1));
            }
            item.parse::<San>()
                .map_err(|e| format!("{}: {e}", quote_input(s)))
        })
        .collect()
}

/// The SANs of one certificate: DNS names sorted and de-duplicated, IPs de-duplicated in
/// first-seen order, exactly as kubeadm's `RemoveDuplicateAltNames` leaves them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AltNames {
    /// DNS names.
    pub dns: Vec<String>,
    /// IP addresses.
    pub ips: Vec<IpAddr>,
    /// URI SANs (SPIFFE IDs and the like): only in certificates signed from a CSR that asks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<String>,
    /// Email SANs (rfc822Name): only in certificates signed from a CSR that asks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
}

impl AltNames {
    /// It holds no name of any kind.
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.ips.is_empty() && self.uris.is_empty() && self.emails.is_empty()
    }

    pub(super) fn push(&mut self, san: &San) {
        match san {
            San::Dns(d) => self.dns.push(d.clone()),
            San::Ip(ip) => self.ips.push(*ip),
        }
    }

    pub(super) fn finish(mut self) -> Self {
        self.dns.sort();
        self.dns.dedup();
        let mut seen = Vec::with_capacity(self.ips.len());
        self.ips.retain(|ip| {
            let fresh = !seen.contains(ip);
            seen.push(*ip);
            fresh
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn san_lists() {
        let sans = parse_san_list("10.0.0.1,api.example.com,*.example.com").unwrap();
        assert_eq!(sans.len(), 3);
        let err = parse_san_list("api.example.com,Bad_Name").unwrap_err();
        assert!(
            err.contains("\"api.example.com,Bad_Name\"") && err.contains("\"Bad_Name\""),
            "{err}"
        );
        let err = parse_san_list("a.example,,b.example").unwrap_err();
        assert!(err.contains("entry 2 is empty"), "{err}");
    }

    #[test]
    fn ip_sans_decode_from_their_octets() {
        assert_eq!(
            ip_from_bytes(&[10, 0, 0, 1]),
            Some(IpAddr::from([10, 0, 0, 1]))
        );
        let v6 = "fd00::1".parse::<IpAddr>().unwrap();
        let IpAddr::V6(octets) = v6 else {
            unreachable!()
        };
        assert_eq!(ip_from_bytes(&octets.octets()), Some(v6));
        assert_eq!(ip_from_bytes(&[10, 0, 0]), None);
    }
}
