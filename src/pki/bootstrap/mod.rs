//! TLS bootstrapping, offline: what kubeadm's `bootstrap-token` phase puts into the cluster and
//! what a joining node needs (../shared/reference/csr-api.md §5).
//!
//! A [`Token`] (`[a-z0-9]{6}.[a-z0-9]{16}`), its `bootstrap-token-<id>` Secret, the RBAC
//! bindings kubeadm creates (node bootstrapper, auto-approval of new node client certificates
//! and of their renewals, and the `kubeadm:cluster-admins` binding admin.conf needs), the
//! `cluster-info` ConfigMap in `kube-public`, the bootstrap kubeconfig a kubelet starts with, and
//! the `sha256:` pin of the CA's public key that `kubeadm join --discovery-token-ca-cert-hash`
//! checks. Manifests are built as data and serialised, never as text templates.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::rbac;

/// The group kubeadm's default node token puts its users in.
pub const DEFAULT_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// Every extra group of a bootstrap token must start with this.
pub const GROUP_PREFIX: &str = "system:bootstrappers:";
/// The user name in a bootstrap kubeconfig, as kubeadm names it.
pub const TOKEN_USER: &str = "tls-bootstrap-token-user";

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A bootstrap token: `<id>.<secret>`. The secret is never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    id: String,
    secret: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// A new random token from the kernel's CSPRNG (through aws-lc).
    pub fn generate() -> Result<Token, String> {
        let pick = |n: usize| -> Result<String, String> {
            let mut out = String::with_capacity(n);
            while out.len() < n {
                let mut b = [0u8; 32];
                aws_lc_rs::rand::fill(&mut b).map_err(|_| "no randomness".to_string())?;
                // 252 = 7 × 36: reject the rest so every character is equally likely.
                out.extend(
                    b.iter()
                        .filter(|&&x| x < 252)
                        .map(|&x| ALPHABET[(x % 36) as usize] as char)
                        .take(n - out.len()),
                );
            }
            Ok(out)
        };
        Ok(Token {
            id: pick(6)?,
            secret: pick(16)?,
        })
    }

    /// Parses `<id>.<secret>`; the error never repeats the secret.
    pub fn parse(s: &str) -> Result<Token, String> {
        let valid = |part: &str, len: usize| {
            part.len() == len && part.bytes().all(|b| ALPHABET.contains(&b))
        };
        match s.split_once('.') {
            Some((id, secret)) if valid(id, 6) && valid(secret, 16) => Ok(Token {
                id: id.into(),
                secret: secret.into(),
            }),
            _ => Err(
                "is not a bootstrap token: expected [a-z0-9]{6}.[a-z0-9]{16} (the value is not shown)"
                    .into(),
            ),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// `<id>.<secret>`: the credential itself.
    pub fn reveal(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }
}

/// What the kit is made from.
#[derive(Debug, Clone)]
pub struct KitRequest {
    pub token: Token,
    /// The Secret's `expiration`; `None` for a token that does not expire.
    pub expires: Option<OffsetDateTime>,
    pub description: String,
    /// Extra groups (each `system:bootstrappers:...`); kubeadm's default when empty.
    pub groups: Vec<String>,
    /// The CA file's certificates (PEM), as clients are told to trust them.
    pub ca_pem: String,
    /// The first CA certificate's DER, for the pin.
    pub ca_der: Vec<u8>,
    pub server: String,
    pub cluster_name: String,
}

/// Checks the extra groups as the API server does (`ValidateBootstrapGroupName`).
pub fn check_groups(groups: &[String]) -> Result<(), String> {
    for g in groups {
        let rest = g.strip_prefix(GROUP_PREFIX).unwrap_or("");
        let ok = !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-:".contains(&b))
            && !rest.ends_with(':');
        if !ok {
            return Err(format!(
                "{}: a bootstrap group must be {GROUP_PREFIX}<lowercase letters, digits, '-' or ':'>",
                super::untrusted::quote_input(g)
            ));
        }
    }
    Ok(())
}

/// `sha256:<hex>` of the CA certificate's DER SubjectPublicKeyInfo, as `kubeadm join
/// --discovery-token-ca-cert-hash` expects it.
pub fn ca_pin(ca_der: &[u8]) -> Result<String, String> {
    let (_, cert) =
        X509Certificate::from_der(ca_der).map_err(|_| "the CA certificate does not parse")?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.public_key().raw);
    Ok(format!(
        "sha256:{}",
        digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

/// The objects to apply, as a `v1 List`: the token Secret, kubeadm's bootstrap RBAC (and the
/// cluster-admins binding), and the `cluster-info` ConfigMap.
pub fn manifests(req: &KitRequest) -> Value {
    let groups = if req.groups.is_empty() {
        vec![DEFAULT_GROUP.to_string()]
    } else {
        req.groups.clone()
    };
    let mut secret_data = json!({
        "token-id": req.token.id,
        "token-secret": req.token.secret,
        "description": req.description,
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
        "auth-extra-groups": groups.join(","),
    });
    if let Some(t) = req.expires
        && let Ok(text) = t.format(&time::format_description::well_known::Rfc3339)
    {
        secret_data["expiration"] = Value::String(text);
    }
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("bootstrap-token-{}", req.token.id), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": secret_data,
    });
    let binding = |name: &str, role: &str, group: &str| {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
        })
    };
    let mut items = vec![secret];
    for g in &groups {
        items.push(binding(
            &binding_name("kubeadm:kubelet-bootstrap", g),
            "system:node-bootstrapper",
            g,
        ));
        items.push(binding(
            &binding_name("kubeadm:node-autoapprove-bootstrap", g),
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            g,
        ));
    }
    items.push(binding(
        "kubeadm:node-autoapprove-certificate-rotation",
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
        super::catalog::NODES_GROUP,
    ));
    items.push(rbac::cluster_admins_binding());
    items.push(cluster_info(req));
    // cluster-info is public: kubeadm lets anonymous users read it (RBAC in kube-public).
    items.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "kubeadm:bootstrap-signer-clusterinfo", "namespace": "kube-public"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-info"], "verbs": ["get"]}],
    }));
    items.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "kubeadm:bootstrap-signer-clusterinfo", "namespace": "kube-public"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kubeadm:bootstrap-signer-clusterinfo"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"}],
    }));
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// kubeadm's binding names for its default group; a suffix for any other group.
fn binding_name(base: &str, group: &str) -> String {
    if group == DEFAULT_GROUP {
        base.to_string()
    } else {
        format!(
            "{base}:{}",
            group.trim_start_matches(GROUP_PREFIX).replace(':', "-")
        )
    }
}

/// The `cluster-info` ConfigMap: a kubeconfig with the server and the CA, no credentials.
fn cluster_info(req: &KitRequest) -> Value {
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "", "cluster": {
            "certificate-authority-data": BASE64.encode(&req.ca_pem),
            "server": req.server,
        }}],
        "contexts": [],
        "current-context": "",
        "preferences": {},
        "users": [],
    });
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cluster-info", "namespace": "kube-public"},
        "data": {"kubeconfig": yaml_serde::to_string(&kubeconfig).unwrap_or_default()},
    })
}

/// The kubeconfig a kubelet bootstraps with (`--bootstrap-kubeconfig`): the CA, the server, and
/// the token as user `tls-bootstrap-token-user`.
pub fn bootstrap_kubeconfig(req: &KitRequest) -> Value {
    let context = format!("{TOKEN_USER}@{}", req.cluster_name);
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": req.cluster_name, "cluster": {
            "certificate-authority-data": BASE64.encode(&req.ca_pem),
            "server": req.server,
        }}],
        "contexts": [{"name": context, "context": {"cluster": req.cluster_name, "user": TOKEN_USER}}],
        "current-context": context,
        "preferences": {},
        "users": [{"name": TOKEN_USER, "user": {"token": req.token.reveal()}}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_well_formed_random_and_never_debug_printed() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(Token::parse(&a.reveal()).unwrap(), a);
        assert!(!format!("{a:?}").contains(&a.secret));
        for bad in [
            "abcdef.0123456789abcdeF",
            "abcde.0123456789abcdef",
            "abcdef0123456789abcdef",
        ] {
            let err = Token::parse(bad).unwrap_err();
            assert!(!err.contains(bad), "{err}");
        }
    }

    #[test]
    fn groups_are_checked_as_the_api_server_does() {
        assert!(check_groups(&[DEFAULT_GROUP.into()]).is_ok());
        assert!(check_groups(&["system:bootstrappers:workers".into()]).is_ok());
        for bad in [
            "system:masters",
            "system:bootstrappers:",
            "system:bootstrappers:Caps",
        ] {
            assert!(check_groups(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
