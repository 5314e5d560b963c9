//! What each `rotate-ca` phase asks of the components, in order: the flags that must point
//! where, and the restarts (kubeadm's static-pod wiring; `component-flags` prints the rest).

use crate::pki::catalog::{self, Profile};
use crate::pki::plan::Step;
use crate::pki::rotation::service_account;
use crate::pki::store::{BACKUP_DIR, Layout};
use crate::pki::wiring::{self, FileRef, WIRING};

/// The certificates the API server presents or dials with that `cas` sign: what `reissue`
/// re-signs and the API server must be restarted for (from the wiring table, not a list of ours).
fn apiserver_leaves(cas: &[&str]) -> Vec<&'static Profile> {
    WIRING
        .iter()
        .filter(|w| w.component == wiring::APISERVER)
        .filter_map(|w| match w.file {
            FileRef::Cert(name) => catalog::find(name),
            _ => None,
        })
        .filter(|p| !p.is_ca() && cas.contains(&p.issuer().name))
        .collect()
}

/// The steps after `step` for the CAs named `cas` (catalog names).
pub(super) fn steps(step: Step, cas: &[&str], layout: &Layout) -> Vec<String> {
    let dir = layout.cert_dir().display().to_string();
    let cert = |p: &Profile| layout.cert_path(p, "").display().to_string();
    let kubeconfig = |name: &str| {
        catalog::find_kubeconfig(name)
            .map(|k| layout.kubeconfig_path(k, "").display().to_string())
            .unwrap_or_default()
    };
    let cluster_ca = catalog::kubeconfig_ca();
    let (ca_crt, ca_key) = (
        cert(cluster_ca),
        layout.key_path(cluster_ca, "").display().to_string(),
    );
    let signing_crt = layout.signing_cert().display().to_string();
    let etcd_ca_crt = cert(catalog::etcd_ca());
    let member_dir = layout.etcd_member_dir("<member>").display().to_string();
    let mut out = Vec::new();
    let has = |n: &str| cas.contains(&n);
    let trust_changes = matches!(step, Step::Start | Step::Finish | Step::Abort);
    if has(catalog::ETCD_CA) {
        out.push(match step {
            Step::Reissue => format!(
                "etcd, one member at a time: copy its etcd/server.crt and etcd/peer.crt (from \
                 {dir}/etcd or {member_dir}) and restart it; wait for the member to be healthy \
                 before the next"
            ),
            _ => format!(
                "etcd, one member at a time: copy {etcd_ca_crt} (--trusted-ca-file, \
                 --peer-trusted-ca-file) to the member and restart it; wait for it to be healthy \
                 before the next"
            ),
        });
    }
    if has(cluster_ca.name) {
        out.push(match step {
            Step::Start | Step::Reissue | Step::Finish => format!(
                "kube-controller-manager: --cluster-signing-cert-file={signing_crt} \
                 --cluster-signing-key-file={ca_key} (one certificate; {ca_crt} is a bundle \
                 during the rotation), --root-ca-file={ca_crt}; restart it"
            ),
            Step::Abort => format!(
                "kube-controller-manager: --cluster-signing-cert-file={ca_crt} \
                 --cluster-signing-key-file={ca_key} as before the rotation; restart it"
            ),
        });
    }
    let any_ca = cas.iter().any(|c| *c != service_account::NAME);
    if any_ca {
        out.push(match step {
            Step::Reissue => format!(
                "kube-apiserver: restart it on every control-plane node (its certificates are \
                 re-signed: {})",
                apiserver_leaves(cas)
                    .into_iter()
                    .map(cert)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => format!(
                "kube-apiserver: restart it on every control-plane node (--client-ca-file, \
                 --kubelet-certificate-authority, --requestheader-client-ca-file, --etcd-cafile \
                 read the CA files in {dir})"
            ),
        });
    }
    if has(service_account::NAME) {
        out.extend(service_account_steps(step, layout));
    }
    if has("front-proxy-ca") && trust_changes {
        out.push(
            "kube-controller-manager: restart it (--requestheader-client-ca-file)".to_string(),
        );
    }
    if has(cluster_ca.name) {
        out.push(format!(
            "kube-scheduler and kube-controller-manager: restart them ({}, {})",
            kubeconfig("scheduler"),
            kubeconfig("controller-manager")
        ));
        out.push(format!(
            "kubelets, one node at a time: copy {ca_crt} (clientCAFile) and the node's \
             kubelet.conf{}, restart the kubelet",
            if step == Step::Reissue {
                " and kubelet certificates"
            } else {
                ""
            }
        ));
        if trust_changes {
            out.push(
                "pods using in-cluster config (kube-proxy, CoreDNS, ...): restart them once the \
                 kube-root-ca.crt ConfigMaps hold the new CA file"
                    .to_string(),
            );
            out.push(format!(
                "kube-public/cluster-info ConfigMap: put the new {ca_crt} in its kubeconfig \
                 (bootstrap-token joins check it)"
            ));
        }
        out.push(format!(
            "hand out the new {} and {} to their users",
            kubeconfig("admin"),
            kubeconfig("super-admin")
        ));
    }
    out.push(match step {
        Step::Start => format!("then: kubepki rotate-ca reissue --ca {}", cas.join(",")),
        Step::Reissue => format!(
            "check that no component logs TLS errors, then: kubepki rotate-ca finish --ca {}",
            cas.join(",")
        ),
        Step::Finish => format!("the rotation is complete: the old CA is only in {BACKUP_DIR}/"),
        Step::Abort => "the old CA is the only CA again".to_string(),
    });
    out
}

/// What a phase of the service-account key rotation asks of the components.
fn service_account_steps(step: Step, layout: &Layout) -> Vec<String> {
    let (key, public) = (
        layout.sa_key().display().to_string(),
        layout.sa_pub().display().to_string(),
    );
    match step {
        Step::Start => vec![format!(
            "kube-apiserver: restart it on every control-plane node \
             (--service-account-key-file={public} holds the old and the new public key; tokens \
             are still signed with the old key, --service-account-signing-key-file={key}); every \
             API server must verify with both keys before `reissue`"
        )],
        Step::Reissue => vec![
            format!(
                "kube-apiserver (--service-account-signing-key-file={key}) and \
                 kube-controller-manager (--service-account-private-key-file={key}): restart them \
                 on every control-plane node; new tokens are signed with the new key, and tokens \
                 of the old key still verify"
            ),
            "service-account tokens: the kubelet refreshes pods' projected tokens at 80% of \
             their lifetime (at most 24 h; wait that long, or restart the pods); legacy token \
             Secrets (type kubernetes.io/service-account-token) keep old-key tokens: delete them \
             so kube-controller-manager issues new ones, then restart the pods that mount them"
                .to_string(),
        ],
        Step::Finish => vec![format!(
            "kube-apiserver: restart it on every control-plane node ({public} holds the new key \
             alone); tokens signed with the old key are refused from now on"
        )],
        Step::Abort => vec![format!(
            "kube-apiserver and kube-controller-manager: restart them ({key} and {public} as \
             before the rotation); tokens signed with the new key since `reissue` are refused: \
             delete the legacy token Secrets created since then and restart the pods that got \
             new tokens"
        )],
    }
}
