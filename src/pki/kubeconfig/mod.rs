//! Kubeconfig files: client-go's `Config` (apiVersion v1) as serde types, serialised with
//! yaml_serde, never by string templates.
//!
//! Fields are declared in the order client-go writes them (its YAML comes from JSON with sorted
//! keys), so our files look like kubeadm's. Fields we do not model are kept in `extra` maps, so a
//! file we read and write back keeps everything an operator added.
//!
//! This file holds the types, making a kubeconfig as kubeadm does, and parsing one; `current`
//! follows `current-context` to the cluster and user it selects, reads their CA and credentials
//! and replaces them.

mod current;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::untrusted::show_untrusted;
use super::yaml_error::describe_yaml_error;

pub use current::Current;

type Extra = BTreeMap<String, yaml_serde::Value>;

/// A kubeconfig file (client-go's `Config`, `apiVersion: v1`, `kind: Config`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Kubeconfig {
    /// `apiVersion`: `v1` in every file kubepki writes.
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    /// `clusters`: the API servers, by name.
    #[serde(default)]
    pub clusters: Vec<NamedCluster>,
    /// `contexts`: cluster and user pairs, by name.
    #[serde(default)]
    pub contexts: Vec<NamedContext>,
    /// `current-context`: the name of the context kubectl and the components use.
    #[serde(rename = "current-context", default)]
    pub current_context: String,
    /// `kind`: `Config`; a file without one is read too.
    #[serde(default)]
    pub kind: String,
    /// `preferences`, kept as read.
    #[serde(default)]
    pub preferences: Extra,
    /// `users`: the credentials, by name.
    #[serde(default)]
    pub users: Vec<NamedUser>,
    /// Top-level fields kubepki does not model (`extensions`, ...), kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An entry of `clusters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    /// How to reach and trust the API server.
    pub cluster: ClusterEntry,
    /// The name contexts refer to it by.
    pub name: String,
}

/// An API server: its address and the CA its serving certificate chains to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterEntry {
    /// `certificate-authority`: a CA file's path, relative to the kubeconfig's directory.
    #[serde(
        rename = "certificate-authority",
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_authority: Option<String>,
    /// `certificate-authority-data`: the CA's PEM, base64-encoded.
    #[serde(
        rename = "certificate-authority-data",
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_authority_data: Option<String>,
    /// `server`: the API server's URL (`https://host:port`).
    #[serde(default)]
    pub server: String,
    /// Fields kubepki does not model (`tls-server-name`, `proxy-url`, ...), kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An entry of `contexts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    /// Which cluster and user it pairs.
    pub context: ContextEntry,
    /// The name `current-context` refers to it by.
    pub name: String,
}

/// A context: a cluster and a user, by their names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextEntry {
    /// The name of an entry of `clusters`.
    #[serde(default)]
    pub cluster: String,
    /// The name of an entry of `users`.
    #[serde(default)]
    pub user: String,
    /// Fields kubepki does not model (`namespace`, ...), kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An entry of `users`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedUser {
    /// The name contexts refer to it by.
    pub name: String,
    /// Its credentials.
    pub user: UserEntry,
}

/// A user's credentials: a client certificate and its key, each embedded or in a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserEntry {
    /// `client-certificate`: the certificate file's path, relative to the kubeconfig's
    /// directory.
    #[serde(rename = "client-certificate", skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    /// `client-certificate-data`: the certificate's PEM, base64-encoded.
    #[serde(
        rename = "client-certificate-data",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_certificate_data: Option<String>,
    /// `client-key`: the key file's path, relative to the kubeconfig's directory.
    #[serde(rename = "client-key", skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    /// `client-key-data`: the private key's PEM, base64-encoded.
    #[serde(rename = "client-key-data", skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
    /// Fields kubepki does not model (`token`, `exec`, ...), kept as read.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Kubeconfig {
    /// A kubeconfig as kubeadm's `CreateWithCerts` makes it: one cluster, one user named after
    /// the client CN, one context `<user>@<cluster>` that is current.
    pub fn with_client_cert(
        cluster_name: &str,
        server: &str,
        ca_pem: &str,
        user_name: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Self {
        let context = format!("{user_name}@{cluster_name}");
        Kubeconfig {
            api_version: "v1".into(),
            clusters: vec![NamedCluster {
                cluster: ClusterEntry {
                    certificate_authority_data: Some(BASE64.encode(ca_pem)),
                    server: server.into(),
                    ..Default::default()
                },
                name: cluster_name.into(),
            }],
            contexts: vec![NamedContext {
                context: ContextEntry {
                    cluster: cluster_name.into(),
                    user: user_name.into(),
                    extra: Extra::new(),
                },
                name: context.clone(),
            }],
            current_context: context,
            kind: "Config".into(),
            preferences: Extra::new(),
            users: vec![NamedUser {
                name: user_name.into(),
                user: UserEntry {
                    client_certificate_data: Some(BASE64.encode(cert_pem)),
                    client_key_data: Some(BASE64.encode(key_pem)),
                    ..Default::default()
                },
            }],
            extra: Extra::new(),
        }
    }

    /// The file's text, as YAML in client-go's field order; errs only if serde cannot
    /// serialise a value kept in an `extra` map.
    pub fn to_yaml(&self) -> Result<String, String> {
        yaml_serde::to_string(self).map_err(|e| format!("cannot serialise kubeconfig: {e}"))
    }

    /// Parses a kubeconfig. The error names the field path, the line and column and the kind of
    /// problem, never the file's content (a kubeconfig holds a private key), since serde's own
    /// messages would quote values.
    pub fn parse(text: &[u8]) -> Result<Self, String> {
        if let Err(e) = std::str::from_utf8(text) {
            let (line, column) = line_and_column(text, e.valid_up_to());
            return Err(format!(
                "is not a valid kubeconfig: line {line} column {column}: the file is not UTF-8 text"
            ));
        }
        let config: Kubeconfig = yaml_serde::from_slice(text)
            .map_err(|e| format!("is not a valid kubeconfig: {}", describe_yaml_error(&e, 1)))?;
        if !config.kind.is_empty() && config.kind != "Config" {
            return Err(format!(
                "has kind {}, not a kubeconfig (Config)",
                show_untrusted(&config.kind)
            ));
        }
        Ok(config)
    }
}

/// The 1-based line and column of byte `offset` of `text`.
fn line_and_column(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn layout_is_kubeadms_and_round_trips() {
        let k = Kubeconfig::with_client_cert(
            "kubernetes",
            "https://192.168.1.10:6443",
            "CA",
            "kubernetes-admin",
            "CERT",
            "KEY",
        );
        let yaml = k.to_yaml().unwrap();
        let keys: Vec<&str> = yaml
            .lines()
            .filter(|l| !l.starts_with(' ') && !l.starts_with('-'))
            .map(|l| l.split(':').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "apiVersion",
                "clusters",
                "contexts",
                "current-context",
                "kind",
                "preferences",
                "users"
            ]
        );
        assert!(
            yaml.contains("current-context: kubernetes-admin@kubernetes"),
            "{yaml}"
        );
        let back = Kubeconfig::parse(yaml.as_bytes()).unwrap();
        assert_eq!(back, k);
        let current = back.current().unwrap();
        assert_eq!(current.user_name, "kubernetes-admin");
        assert_eq!(current.client_key_pem(Path::new(".")).unwrap(), b"KEY");
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = b"apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\ncurrent-context: x\nextensions: [{name: a}]\n";
        let k = Kubeconfig::parse(text).unwrap();
        assert!(k.to_yaml().unwrap().contains("extensions"));
        assert!(k.current().is_err());
        let err = Kubeconfig::parse(b"clusters: [\n").unwrap_err();
        assert!(err.contains("line"), "{err}");
    }

    /// A private key as someone might paste it where it does not belong; its body holds a
    /// marker that must never appear in an error.
    pub(super) const MARKER: &str = "SECRETxMARKERxSECRET";
    pub(super) fn pasted_key() -> String {
        format!(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA{MARKER}q+/0123456789abcdefABCDEF==\nZm9vYmFy{MARKER}\n-----END RSA PRIVATE KEY-----\n"
        )
    }

    /// Every rendering of the error, as the CLI may print it: the message, the typed error's
    /// Display and Debug, and anyhow's chain.
    pub(super) fn assert_no_secret(err: &str, secrets: &[&str]) {
        let typed = crate::pki::Error::bad_file("/etc/kubernetes/admin.conf", err.to_string());
        let chained = anyhow::Error::from(crate::pki::Error::bad_file("admin.conf", err))
            .context("renew admin.conf");
        let renderings = [
            err.to_string(),
            typed.to_string(),
            format!("{typed:?}"),
            format!("{chained:#}"),
            format!("{chained:?}"),
        ];
        for text in renderings {
            for secret in secrets {
                assert!(!text.contains(secret), "{secret:?} leaked in: {text}");
            }
        }
    }

    #[test]
    fn parse_errors_never_quote_the_file() {
        let key = pasted_key();
        let key_b64 = BASE64.encode(&key);
        let indented: String = key.lines().map(|l| format!("    {l}\n")).collect();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "broken YAML around a PEM key",
                format!("apiVersion: v1\nkind: Config\nusers:\n- name: a\n  user:\n{key}").into_bytes(),
                "line 7 column 1: could not find expected ':'",
            ),
            (
                "users[0].user as a base64 string",
                format!("apiVersion: v1\nkind: Config\nusers:\n- name: a\n  user: {key_b64}\n")
                    .into_bytes(),
                "users[0].user: line 5 column 9: expected a mapping, found a string",
            ),
            (
                "users[0].user as a block scalar key",
                format!("apiVersion: v1\nusers:\n- name: a\n  user: |\n{indented}").into_bytes(),
                "users[0].user: line 4",
            ),
            (
                "a key as a mapping key",
                format!(
                    "apiVersion: v1\nclusters:\n  {:?}: x\n",
                    key.trim_end()
                )
                .into_bytes(),
                "clusters: line 3 column 3: expected a sequence, found a mapping",
            ),
            (
                "a key as a list entry's mapping key",
                format!("apiVersion: v1\nusers:\n- {:?}: x\n", key.trim_end()).into_bytes(),
                "users[0]: line 3",
            ),
            (
                "non-UTF-8 bytes after the key",
                [
                    format!("apiVersion: v1\ncurrent-context: {MARKER}\n").as_bytes(),
                    b"\xff\xfe garbage\n",
                ]
                .concat(),
                "line 3 column 1: the file is not UTF-8 text",
            ),
            (
                "a key as the kind",
                format!("apiVersion: v1\nkind: {key_b64}\n").into_bytes(),
                "has kind a value of",
            ),
            (
                "client-key-data as a sequence of key lines",
                format!(
                    "apiVersion: v1\nusers:\n- name: a\n  user:\n    client-key-data: [{key_b64}, {MARKER}]\n"
                )
                .into_bytes(),
                "users[0].user.client-key-data: line 5",
            ),
            (
                "preferences as the key",
                format!("apiVersion: v1\npreferences: {key_b64}\n").into_bytes(),
                "preferences: line 2",
            ),
        ];
        for (what, text, want) in cases {
            let err = Kubeconfig::parse(&text).expect_err(what);
            assert!(err.contains(want), "{what}: {want:?} in {err}");
            assert_no_secret(&err, &[MARKER, &key_b64[..24], "MIIEowIBAAKCAQEA"]);
        }
    }
}
