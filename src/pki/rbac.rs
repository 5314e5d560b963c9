//! RBAC objects kubepki's identities need in the cluster, as manifests to apply.

use serde_json::{Value, json};

use super::catalog::CLUSTER_ADMINS_GROUP;

/// The ClusterRoleBinding kubeadm creates during `init` (phase `bootstrap-token`, since 1.29):
/// without it the `kubeadm:cluster-admins` group, and so `admin.conf`, has no rights.
pub fn cluster_admins_binding() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": { "name": CLUSTER_ADMINS_GROUP },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Group",
            "name": CLUSTER_ADMINS_GROUP,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binding_names_the_group_and_cluster_admin() {
        let b = cluster_admins_binding();
        assert_eq!(b["subjects"][0]["name"], "kubeadm:cluster-admins");
        assert_eq!(b["roleRef"]["name"], "cluster-admin");
        assert_eq!(b["kind"], "ClusterRoleBinding");
    }
}
