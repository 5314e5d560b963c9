//! What a certificate is for in a kubeadm cluster: which catalog entry it matches (by its file
//! name where there is one, else by its subject and usages), what it is for, which component
//! flags read it, and for a client certificate the Kubernetes user and groups it authenticates as.

use time::OffsetDateTime;

use super::cert::{self, CertView, Identity, Role};
use crate::pki::catalog::{self, CommonName, KubeconfigProfile, Profile};
use crate::pki::wiring::{self, FileRef};

/// A certificate as openssl shows it, with its role (`file`, its path when it has one, helps
/// name it) and the Kubernetes identity it carries.
pub fn describe(der: &[u8], file: Option<&str>, now: OffsetDateTime) -> Result<CertView, String> {
    let mut view = cert::describe(der, now)?;
    view.role = role_of(&view, file);
    view.kubernetes_identity = identity_of(&view);
    Ok(view)
}

fn role_of(view: &CertView, file: Option<&str>) -> Option<Role> {
    if let Some(p) = file.and_then(|f| by_file_name(f, view)) {
        return Some(role(p, "file name"));
    }
    if let Some(p) = catalog::CATALOG.iter().find(|p| matches_content(p, view)) {
        return Some(role(p, "subject and usages"));
    }
    let k = catalog::KUBECONFIGS
        .iter()
        .find(|k| kubeconfig_matches(k, view))?;
    Some(Role {
        name: k.file_name.to_string(),
        description: format!(
            "the client certificate of {} (kubeadm's kubeconfig for {})",
            k.file_name,
            k.common_name.for_node("<node>")
        ),
        used_by: wiring::used_by(FileRef::Kubeconfig(k.name))
            .iter()
            .map(|w| format!("{} {}", w.component, w.flag))
            .collect(),
        matched_by: "subject and usages",
    })
}

fn role(p: &Profile, matched_by: &'static str) -> Role {
    Role {
        name: p.name.to_string(),
        description: p.long_name.to_string(),
        used_by: wiring::used_by(FileRef::Cert(p.name))
            .iter()
            .map(|w| format!("{} {}", w.component, w.flag))
            .collect(),
        matched_by,
    }
}

/// The catalog entry whose file this is (`.../etcd/server.crt`): the longest matching file name,
/// if the certificate is of the right kind (a CA for a CA's file).
fn by_file_name(file: &str, view: &CertView) -> Option<&'static Profile> {
    let file = file.replace('\\', "/");
    catalog::CATALOG
        .iter()
        .filter(|p| p.is_ca() == view.is_ca)
        .filter(|p| {
            let name = format!("{}.crt", p.base_name);
            file == name || file.ends_with(&format!("/{name}"))
        })
        // The longest name wins (etcd/ca over ca); on a tie, the tree's own file over a
        // per-node one of the same name.
        .max_by_key(|p| (p.base_name.len(), !p.per_node()))
}

fn matches_content(p: &Profile, view: &CertView) -> bool {
    if p.is_ca() != view.is_ca {
        return false;
    }
    let cn = common_name(view);
    let cn_ok = match p.common_name {
        CommonName::Fixed(f) => cn == f,
        CommonName::NodeIdentity => cn.starts_with(catalog::NODE_USER_PREFIX),
        // etcd's server and peer certificates are named after the node: only the file tells.
        CommonName::NodeName => false,
    };
    let usages_ok = p.usages.iter().all(|u| {
        view.extended_key_usage
            .iter()
            .any(|e| e == u.openssl_name())
    });
    cn_ok && usages_ok && organizations(view) == p.organizations
}

fn kubeconfig_matches(k: &KubeconfigProfile, view: &CertView) -> bool {
    let cn = common_name(view);
    let cn_ok = match k.common_name {
        CommonName::Fixed(f) => cn == f,
        CommonName::NodeIdentity => cn.starts_with(catalog::NODE_USER_PREFIX),
        CommonName::NodeName => false,
    };
    !view.is_ca && cn_ok && organizations(view) == k.organizations
}

fn common_name(view: &CertView) -> String {
    view.common_name.clone()
}

fn organizations(view: &CertView) -> Vec<String> {
    view.organizations.clone()
}

/// The user (CN) and groups (O) a client certificate authenticates as, for certificates the API
/// server would accept as a client (clientAuth, or no EKU at all) and that are not CAs.
fn identity_of(view: &CertView) -> Option<Identity> {
    let client = view.extended_key_usage.is_empty()
        || view
            .extended_key_usage
            .iter()
            .any(|e| e == catalog::ExtUsage::ClientAuth.openssl_name());
    if view.is_ca || !client || view.common_name.is_empty() {
        return None;
    }
    let user = view.common_name.clone();
    let groups = view.organizations.clone();
    let note = if groups.iter().any(|g| g == catalog::MASTERS_GROUP) {
        Some(
            "system:masters bypasses every authorization check, and a certificate cannot be \
             revoked: only rotating the CA takes this identity back"
                .to_string(),
        )
    } else if user.starts_with(catalog::NODE_USER_PREFIX)
        && groups.iter().any(|g| g == catalog::NODES_GROUP)
    {
        Some("a kubelet: the Node authorizer limits it to its own node's objects".to_string())
    } else {
        None
    };
    Some(Identity { user, groups, note })
}
