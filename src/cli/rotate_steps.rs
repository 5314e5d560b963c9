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

/// What the files say about the rotation a phase runs on, where its steps depend on it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Context {
    /// `abort` from a phase after `reissue`: the leaves are restored too, not only trust files.
    pub leaves_restored: bool,
    /// The rotation is cross-signed: `finish` rewrites the leaves (without the cross-signed CA).
    pub cross_signed: bool,
}

/// The flags of kube-apiserver that read the certificate files of `cas` (from the wiring table).
fn apiserver_ca_flags(cas: &[&str]) -> Vec<&'static str> {
    WIRING
        .iter()
        .filter(|w| w.component == wiring::APISERVER)
        .filter(|w| matches!(w.file, FileRef::Cert(name) if cas.contains(&name)))
        .map(|w| w.flag)
        .collect()
}

/// The steps after `step` for the CAs named `cas` (catalog names, and `sa`).
pub(super) fn steps(step: Step, cas: &[&str], layout: &Layout, ctx: Context) -> Vec<String> {
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
    // Which leaves this phase writes: all of them at reissue; at finish only to take the
    // cross-signed CA out; at abort only when reissue had run.
    let leaves_change = match step {
        Step::Start => false,
        Step::Reissue => true,
        Step::Finish => ctx.cross_signed,
        Step::Abort => ctx.leaves_restored,
        Step::AbortReissue => true,
    };
    // After an abort the CA files hold the old CA again: "the restored" file, not "the new".
    let fresh = if matches!(step, Step::Abort | Step::AbortReissue) {
        "restored"
    } else {
        "new"
    };
    if has(catalog::ETCD_CA) {
        let leaves = format!("etcd/server.crt and etcd/peer.crt (from {dir}/etcd or {member_dir})");
        out.push(match (trust_changes, leaves_change) {
            // A one-step abort from reissued cannot be rolled: a member restored trusts the old
            // CA alone and refuses its peers' certificates of the new CA (and they its), so it
            // never becomes healthy (seen on etcd 3.4; tests/rotate_etcd_ca_cluster.rs rolls
            // the two-step abort instead).
            (true, true) if step == Step::Abort => format!(
                "etcd: this abort cannot be rolled member by member (a member restored trusts the \
                 old CA alone and refuses its peers' certificates of the new CA): stop every \
                 member, copy {etcd_ca_crt} and its {leaves} to each, then start them all (etcd \
                 is unavailable meanwhile); `rotate-ca abort --to trusting-both`, rolled, then \
                 `abort`, rolled, avoids this"
            ),
            (false, _) => format!(
                "etcd, one member at a time: copy its {leaves} and restart it; wait for the \
                 member to be healthy before the next"
            ),
            (true, true) => format!(
                "etcd, one member at a time: copy {etcd_ca_crt} (--trusted-ca-file, \
                 --peer-trusted-ca-file) and its {leaves} to the member and restart it; wait for \
                 it to be healthy before the next"
            ),
            (true, false) => format!(
                "etcd, one member at a time: copy {etcd_ca_crt} (--trusted-ca-file, \
                 --peer-trusted-ca-file) to the member and restart it; wait for it to be healthy \
                 before the next"
            ),
        });
    }
    if has(cluster_ca.name) {
        out.push(match step {
            Step::Start | Step::Reissue | Step::AbortReissue => format!(
                "kube-controller-manager: --cluster-signing-cert-file={signing_crt} \
                 --cluster-signing-key-file={ca_key} (one certificate; {ca_crt} is a bundle \
                 during the rotation), --root-ca-file={ca_crt}; restart it"
            ),
            Step::Finish => format!(
                "kube-controller-manager: --cluster-signing-cert-file={signing_crt} (or {ca_crt}, \
                 one certificate again) --cluster-signing-key-file={ca_key}, \
                 --root-ca-file={ca_crt}; restart it"
            ),
            Step::Abort => format!(
                "kube-controller-manager: --cluster-signing-cert-file={ca_crt} \
                 --cluster-signing-key-file={ca_key} as before the rotation; restart it"
            ),
        });
    }
    let rotated_cas: Vec<&str> = cas
        .iter()
        .copied()
        .filter(|c| *c != service_account::NAME)
        .collect();
    if !rotated_cas.is_empty() {
        let leaves = apiserver_leaves(cas)
            .into_iter()
            .map(cert)
            .collect::<Vec<_>>()
            .join(", ");
        let flags = apiserver_ca_flags(&rotated_cas).join(", ");
        out.push(match (step, trust_changes, leaves_change) {
            (Step::Reissue, _, _) => format!(
                "kube-apiserver: restart it on every control-plane node (its certificates are \
                 re-signed: {leaves})"
            ),
            (Step::AbortReissue, _, _) => format!(
                "kube-apiserver: restart it on every control-plane node (its certificates are \
                 restored, signed by the old CA: {leaves})"
            ),
            (Step::Abort, _, true) => format!(
                "kube-apiserver: restart it on every control-plane node ({flags} read the \
                 restored CA files in {dir}; its certificates are restored: {leaves})"
            ),
            (Step::Finish, _, true) => format!(
                "kube-apiserver: restart it on every control-plane node ({flags} read the CA \
                 files in {dir}; its certificates no longer carry the cross-signed CA: {leaves})"
            ),
            _ => format!(
                "kube-apiserver: restart it on every control-plane node ({flags} read the CA \
                 files in {dir})"
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
            if leaves_change {
                " and kubelet certificates"
            } else {
                ""
            }
        ));
        if trust_changes {
            out.push(format!(
                "pods using in-cluster config (kube-proxy, CoreDNS, ...): restart them once the \
                 kube-root-ca.crt ConfigMaps hold the {fresh} CA file"
            ));
            out.push(format!(
                "kube-public/cluster-info ConfigMap: put the {fresh} {ca_crt} in its kubeconfig \
                 (bootstrap-token joins check it)"
            ));
        }
        out.push(format!(
            "hand out the {fresh} {} and {} to their users",
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
        Step::AbortReissue => format!(
            "every file is as after `start` (trusting both, signed by the old CA); once every \
             component runs on them: kubepki rotate-ca abort --ca {} (the old CA alone), or \
             reissue again",
            cas.join(",")
        ),
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
        Step::AbortReissue => vec![format!(
            "kube-apiserver (--service-account-signing-key-file={key}) and \
             kube-controller-manager (--service-account-private-key-file={key}): restart them; \
             {key} is the old key again, and {public} still verifies both, so tokens of either \
             key keep working"
        )],
        Step::Abort => vec![format!(
            "kube-apiserver and kube-controller-manager: restart them ({key} and {public} as \
             before the rotation); tokens signed with the new key since `reissue` are refused: \
             delete the legacy token Secrets created since then and restart the pods that got \
             new tokens"
        )],
    }
}
