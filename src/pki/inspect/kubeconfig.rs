//! A kubeconfig as `kubectl config view` shows it (clusters, users, contexts), with the embedded
//! certificates described and every secret (client keys, tokens, passwords) left out. Files a
//! kubeconfig names are named, not read.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use time::OffsetDateTime;

use super::cert::CertView;
use super::role::describe as describe_cert;
use crate::pki::cert::certs_from_pem;
use crate::pki::keys::PrivateKey;
use crate::pki::kubeconfig::Kubeconfig;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeconfigView {
    pub current_context: String,
    pub clusters: Vec<ClusterView>,
    pub users: Vec<UserView>,
    pub contexts: Vec<ContextView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    pub name: String,
    pub server: String,
    /// The embedded CA certificates (a bundle during a CA rotation).
    pub certificate_authority: Vec<CertView>,
    /// The CA file it names instead, if any (not read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_authority_file: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub name: String,
    /// `client certificate`, `client certificate (files)`, `token`, `exec`, `none`, ...
    pub auth: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<Box<CertView>>,
    /// The client key's algorithm, and whether it is the client certificate's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_matches: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContextView {
    pub name: String,
    pub cluster: String,
    pub user: String,
}

pub(super) fn describe(data: &[u8], now: OffsetDateTime) -> Result<KubeconfigView, String> {
    let config = Kubeconfig::parse(data)
        .map_err(|e| format!("is not a certificate, key, request or kubeconfig ({e})"))?;
    let decode = |b64: &str| BASE64.decode(b64.trim()).map_err(|_| "is not valid base64");
    let mut clusters = Vec::new();
    for c in &config.clusters {
        let mut cas = Vec::new();
        if let Some(b64) = &c.cluster.certificate_authority_data {
            let pem = decode(b64)
                .map_err(|e| format!("cluster {:?}: certificate-authority-data {e}", c.name))?;
            for der in certs_from_pem(&pem)
                .map_err(|e| format!("cluster {:?}: certificate-authority-data {e}", c.name))?
            {
                cas.push(describe_cert(&der, None, now)?);
            }
        }
        clusters.push(ClusterView {
            name: c.name.clone(),
            server: c.cluster.server.clone(),
            certificate_authority: cas,
            certificate_authority_file: c.cluster.certificate_authority.clone(),
        });
    }
    let mut users = Vec::new();
    for u in &config.users {
        let entry = &u.user;
        let mut view = UserView {
            name: u.name.clone(),
            auth: auth_kind(entry),
            client_certificate: None,
            client_key: None,
            client_key_matches: None,
        };
        if let Some(b64) = &entry.client_certificate_data {
            let pem = decode(b64)
                .map_err(|e| format!("user {:?}: client-certificate-data {e}", u.name))?;
            let der = certs_from_pem(&pem)
                .map_err(|e| format!("user {:?}: client-certificate-data {e}", u.name))?;
            view.client_certificate = Some(Box::new(describe_cert(&der[0], None, now)?));
        }
        if let Some(b64) = &entry.client_key_data {
            let pem = decode(b64).map_err(|e| format!("user {:?}: client-key-data {e}", u.name))?;
            let key = PrivateKey::from_pem(&pem)
                .map_err(|e| format!("user {:?}: client-key-data {e}", u.name))?;
            view.client_key = Some(key.algorithm().to_string());
            view.client_key_matches = view
                .client_certificate
                .as_ref()
                .map(|c| c.public_key_raw == key.public_key_raw());
        }
        users.push(view);
    }
    let contexts = config
        .contexts
        .iter()
        .map(|c| ContextView {
            name: c.name.clone(),
            cluster: c.context.cluster.clone(),
            user: c.context.user.clone(),
        })
        .collect();
    Ok(KubeconfigView {
        current_context: config.current_context.clone(),
        clusters,
        users,
        contexts,
    })
}

fn auth_kind(u: &crate::pki::kubeconfig::UserEntry) -> String {
    let extra = |k: &str| u.extra.contains_key(k);
    if u.client_certificate_data.is_some() {
        "client certificate".into()
    } else if u.client_certificate.is_some() {
        "client certificate (files)".into()
    } else if extra("token") || extra("tokenFile") {
        "token".into()
    } else if extra("exec") {
        "exec".into()
    } else if extra("auth-provider") {
        "auth-provider".into()
    } else if extra("username") {
        "basic".into()
    } else {
        "none".into()
    }
}
