//! The kit's objects as data: the manifests to apply (a `v1 List`) and the bootstrap kubeconfig.
//!
//! What kubeadm v1.22 creates in its `bootstrap-token` phase, object for object:
//! - the Secret `kube-system/bootstrap-token-<id>` (`encodeTokenSecretData`: `description` only
//!   when set, `expiration` only for a TTL, both usages, `auth-extra-groups`);
//! - `kubeadm:get-nodes` (a ClusterRole to `get` nodes, and its binding: `kubeadm join` looks up
//!   a Node of its own name), `kubeadm:kubelet-bootstrap` (`system:node-bootstrapper`: create
//!   CSRs) and `kubeadm:node-autoapprove-bootstrap` (`...:nodeclient`: the approver signs off a
//!   new node's client certificate), each for the token's groups;
//!   `kubeadm:node-autoapprove-certificate-rotation` (`...:selfnodeclient` for `system:nodes`);
//! - `kube-public/cluster-info` and the Role and RoleBinding `kubeadm:bootstrap-signer-clusterinfo`
//!   that let `system:anonymous` get it;
//! - and the `kubeadm:cluster-admins` binding, which kubeadm creates since v1.29 and without which
//!   kubepki's admin.conf (O=kubeadm:cluster-admins) has no rights.
//!
//! kubeadm binds only its default group. For any other group the kit adds the same bindings
//! named `<kubeadm's name>:<the group without system:bootstrappers:>`, so that a token of that
//! group can join too; group names are unique, so these names are.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::{DEFAULT_GROUP, GROUP_PREFIX, KitRequest, TOKEN_USER};
use crate::pki::catalog::NODES_GROUP;
use crate::pki::rbac;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const CLUSTER_INFO_ROLE: &str = "kubeadm:bootstrap-signer-clusterinfo";
const GET_NODES: &str = "kubeadm:get-nodes";

/// The objects to apply, as a `v1 List`: the token Secret, kubeadm's bootstrap RBAC (and the
/// cluster-admins binding), and the `cluster-info` ConfigMap with its anonymous read access.
pub fn manifests(req: &KitRequest) -> Value {
    let groups = req.groups();
    let mut items = vec![secret(req, &groups)];
    for g in &groups {
        items.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": binding_name(GET_NODES, g)},
            "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}],
        }));
        items.push(cluster_binding(
            &binding_name(GET_NODES, g),
            &binding_name(GET_NODES, g),
            "Group",
            g,
        ));
        items.push(cluster_binding(
            &binding_name("kubeadm:kubelet-bootstrap", g),
            "system:node-bootstrapper",
            "Group",
            g,
        ));
        items.push(cluster_binding(
            &binding_name("kubeadm:node-autoapprove-bootstrap", g),
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            "Group",
            g,
        ));
    }
    items.push(cluster_binding(
        "kubeadm:node-autoapprove-certificate-rotation",
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
        "Group",
        NODES_GROUP,
    ));
    items.push(rbac::cluster_admins_binding());
    items.push(cluster_info(req));
    items.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": CLUSTER_INFO_ROLE, "namespace": "kube-public"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-info"], "verbs": ["get"]}],
    }));
    items.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": CLUSTER_INFO_ROLE, "namespace": "kube-public"},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": CLUSTER_INFO_ROLE},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "User", "name": "system:anonymous"}],
    }));
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// The token Secret, with its fields in `stringData` (the API server encodes them).
fn secret(req: &KitRequest, groups: &[String]) -> Value {
    let mut data = json!({
        "token-id": req.token.id(),
        "token-secret": req.token.secret(),
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
        "auth-extra-groups": groups.join(","),
    });
    if !req.description.is_empty() {
        data["description"] = Value::String(req.description.clone());
    }
    if let Some(e) = &req.expires {
        data["expiration"] = Value::String(e.text().to_string());
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("bootstrap-token-{}", req.token.id()), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": data,
    })
}

fn cluster_binding(name: &str, role: &str, kind: &str, subject: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": kind, "name": subject}],
    })
}

/// kubeadm's name for its default group; `<name>:<suffix>` for any other group.
fn binding_name(base: &str, group: &str) -> String {
    if group == DEFAULT_GROUP {
        base.to_string()
    } else {
        format!("{base}:{}", group.trim_start_matches(GROUP_PREFIX))
    }
}

/// The `cluster-info` ConfigMap: a kubeconfig with the server and the CA bundle, no
/// credentials; its one cluster is named "" as kubeadm names it.
fn cluster_info(req: &KitRequest) -> Value {
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "", "cluster": {
            "certificate-authority-data": BASE64.encode(req.ca_pem()),
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

/// The kubeconfig a kubelet bootstraps with (`--bootstrap-kubeconfig`, kubeadm join's
/// `bootstrap-kubelet.conf`): the CA bundle, the server, and the token as user
/// `tls-bootstrap-token-user`.
pub fn bootstrap_kubeconfig(req: &KitRequest) -> Value {
    let context = format!("{TOKEN_USER}@{}", req.cluster_name);
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": req.cluster_name, "cluster": {
            "certificate-authority-data": BASE64.encode(req.ca_pem()),
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
    use super::super::{Expiration, Token};
    use super::*;
    use time::macros::datetime;

    fn request(groups: &[&str], description: &str, ttl_hours: i64) -> KitRequest {
        let ca = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap();
        KitRequest {
            token: Token::parse("abcdef.0123456789abcdef").unwrap(),
            expires: Expiration::after(
                datetime!(2025-01-01 00:00:00 UTC),
                time::Duration::hours(ttl_hours),
            )
            .unwrap(),
            description: description.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ca_chain: vec![ca.der().to_vec(), ca.der().to_vec()],
            server: "https://10.0.0.1:6443".into(),
            cluster_name: "kubernetes".into(),
        }
    }

    fn find<'a>(list: &'a Value, kind: &str, name: &str) -> Option<&'a Value> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
    }

    #[test]
    fn the_secret_is_kubeadms() {
        let m = manifests(&request(&[], "", 24));
        let s = &find(&m, "Secret", "bootstrap-token-abcdef").unwrap();
        assert_eq!(s["metadata"]["namespace"], "kube-system");
        assert_eq!(s["type"], "bootstrap.kubernetes.io/token");
        let d = &s["stringData"];
        assert_eq!(d["token-id"], "abcdef");
        assert_eq!(d["token-secret"], "0123456789abcdef");
        assert_eq!(d["expiration"], "2025-01-02T00:00:00Z");
        assert_eq!(d["usage-bootstrap-authentication"], "true");
        assert_eq!(d["usage-bootstrap-signing"], "true");
        assert_eq!(d["auth-extra-groups"], DEFAULT_GROUP);
        // kubeadm leaves out an empty description and a missing expiration.
        assert!(d.get("description").is_none());
        let never = manifests(&request(&[], "for workers", 0));
        let d = &find(&never, "Secret", "bootstrap-token-abcdef").unwrap()["stringData"];
        assert!(d.get("expiration").is_none());
        assert_eq!(d["description"], "for workers");
    }

    #[test]
    fn the_rbac_is_kubeadms_for_its_default_group() {
        let m = manifests(&request(&[], "", 24));
        let binds = |name: &str, role: &str, subject: &str| {
            let b = find(&m, "ClusterRoleBinding", name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(b["roleRef"]["name"], role, "{name}");
            assert_eq!(b["subjects"][0]["kind"], "Group", "{name}");
            assert_eq!(b["subjects"][0]["name"], subject, "{name}");
        };
        binds("kubeadm:get-nodes", "kubeadm:get-nodes", DEFAULT_GROUP);
        binds(
            "kubeadm:kubelet-bootstrap",
            "system:node-bootstrapper",
            DEFAULT_GROUP,
        );
        binds(
            "kubeadm:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            DEFAULT_GROUP,
        );
        binds(
            "kubeadm:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            "system:nodes",
        );
        binds(
            "kubeadm:cluster-admins",
            "cluster-admin",
            "kubeadm:cluster-admins",
        );
        let get_nodes = find(&m, "ClusterRole", "kubeadm:get-nodes").unwrap();
        assert_eq!(
            get_nodes["rules"],
            json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}])
        );
        let role = find(&m, "Role", CLUSTER_INFO_ROLE).unwrap();
        assert_eq!(role["rules"][0]["resourceNames"], json!(["cluster-info"]));
        let rb = find(&m, "RoleBinding", CLUSTER_INFO_ROLE).unwrap();
        assert_eq!(rb["subjects"][0]["name"], "system:anonymous");
        assert_eq!(m["items"].as_array().unwrap().len(), 10);
    }

    #[test]
    fn other_groups_get_bindings_of_their_own_that_never_collide() {
        let m = manifests(&request(
            &["system:bootstrappers:a:b", "system:bootstrappers:a-b"],
            "",
            1,
        ));
        let names: Vec<&str> = m["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["kind"] == "ClusterRoleBinding")
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        for name in [
            "kubeadm:kubelet-bootstrap:a:b",
            "kubeadm:kubelet-bootstrap:a-b",
            "kubeadm:node-autoapprove-bootstrap:a:b",
            "kubeadm:get-nodes:a-b",
        ] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(!names.contains(&"kubeadm:kubelet-bootstrap"));
    }

    #[test]
    fn cluster_info_and_the_kubeconfig_carry_the_whole_bundle() {
        let req = request(&[], "", 24);
        let bundle = BASE64.encode(req.ca_pem());
        assert_eq!(req.ca_pem().matches("BEGIN CERTIFICATE").count(), 2);
        let m = manifests(&req);
        let ci = find(&m, "ConfigMap", "cluster-info").unwrap();
        assert_eq!(ci["metadata"]["namespace"], "kube-public");
        let inner: Value =
            yaml_serde::from_str(ci["data"]["kubeconfig"].as_str().unwrap()).unwrap();
        assert_eq!(inner["clusters"][0]["name"], "");
        assert_eq!(
            inner["clusters"][0]["cluster"]["certificate-authority-data"],
            bundle
        );
        assert_eq!(
            inner["clusters"][0]["cluster"]["server"],
            "https://10.0.0.1:6443"
        );
        assert_eq!(inner["users"], json!([]));
        let k = bootstrap_kubeconfig(&req);
        assert_eq!(k["current-context"], "tls-bootstrap-token-user@kubernetes");
        assert_eq!(k["users"][0]["name"], TOKEN_USER);
        assert_eq!(k["users"][0]["user"]["token"], "abcdef.0123456789abcdef");
        assert_eq!(
            k["clusters"][0]["cluster"]["certificate-authority-data"],
            bundle
        );
    }
}
