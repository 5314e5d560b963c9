//! What each `rotate-ca` phase asks of the components, in order: the flags that must point
//! where, and the restarts (kubeadm's static-pod wiring; `component-flags` prints the rest).

use crate::pki::plan::Step;
use crate::pki::store::Layout;

/// The steps after `step` for the CAs named `cas` (catalog names).
pub(super) fn steps(step: Step, cas: &[&str], layout: &Layout) -> Vec<String> {
    let dir = layout.cert_dir().display().to_string();
    let kdir = layout.kubeconfig_dir().display().to_string();
    let mut out = Vec::new();
    let has = |n: &str| cas.contains(&n);
    let trust_changes = matches!(step, Step::Start | Step::Finish | Step::Abort);
    if has("etcd-ca") {
        out.push(match step {
            Step::Reissue => format!(
                "etcd, one member at a time: copy its etcd/server.crt and etcd/peer.crt (from \
                 {dir}/etcd or {dir}/etcd-members/<member>/etcd) and restart it; wait for the \
                 member to be healthy before the next"
            ),
            _ => format!(
                "etcd, one member at a time: copy {dir}/etcd/ca.crt (--trusted-ca-file, \
                 --peer-trusted-ca-file) to the member and restart it; wait for it to be healthy \
                 before the next"
            ),
        });
    }
    if has("ca") {
        out.push(match step {
            Step::Start | Step::Reissue | Step::Finish => format!(
                "kube-controller-manager: --cluster-signing-cert-file={dir}/ca.signing.crt \
                 --cluster-signing-key-file={dir}/ca.key (one certificate; {dir}/ca.crt is a \
                 bundle during the rotation), --root-ca-file={dir}/ca.crt; restart it"
            ),
            Step::Abort => format!(
                "kube-controller-manager: --cluster-signing-cert-file={dir}/ca.crt \
                 --cluster-signing-key-file={dir}/ca.key as before the rotation; restart it"
            ),
        });
    }
    out.push(match step {
        Step::Reissue => format!(
            "kube-apiserver: restart it on every control-plane node (its certificates are \
             re-signed: {})",
            [
                has("ca").then_some("apiserver.crt, apiserver-kubelet-client.crt"),
                has("front-proxy-ca").then_some("front-proxy-client.crt"),
                has("etcd-ca").then_some("apiserver-etcd-client.crt"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ")
        ),
        _ => format!(
            "kube-apiserver: restart it on every control-plane node (--client-ca-file, \
             --kubelet-certificate-authority, --requestheader-client-ca-file, --etcd-cafile read \
             the CA files in {dir})"
        ),
    });
    if has("front-proxy-ca") && trust_changes {
        out.push(
            "kube-controller-manager: restart it (--requestheader-client-ca-file)".to_string(),
        );
    }
    if has("ca") {
        out.push(format!(
            "kube-scheduler and kube-controller-manager: restart them ({kdir}/scheduler.conf, \
             {kdir}/controller-manager.conf)"
        ));
        out.push(format!(
            "kubelets, one node at a time: copy {dir}/ca.crt (clientCAFile) and the node's \
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
                "kube-public/cluster-info ConfigMap: put the new {dir}/ca.crt in its kubeconfig \
                 (bootstrap-token joins check it)"
            ));
        }
        out.push(format!(
            "hand out the new {kdir}/admin.conf and super-admin.conf to their users"
        ));
    }
    out.push(match step {
        Step::Start => "then: kubepki rotate-ca reissue".to_string(),
        Step::Reissue => {
            "check that no component logs TLS errors, then: kubepki rotate-ca finish".to_string()
        }
        Step::Finish => "the rotation is complete: the old CA is only in kubepki-backup/".into(),
        Step::Abort => "the old CA is the only CA again".to_string(),
    });
    out
}
