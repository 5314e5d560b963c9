//! `rotate-ca --ca ca` walked on a running control plane (Debian's etcd, the real
//! kube-apiserver and kube-controller-manager v1.22.3): start → reissue → finish, restarting
//! kube-apiserver by PID between phases as kubepki says, with `kubectl get --raw /readyz` on the
//! kubeconfigs of each generation where they must work, and refused where they must not.

mod common;

use std::fs;
use std::time::Duration;

use common::control_plane::{ControlPlane, free_ports, k8s_binaries};
use common::kubepki;

fn run_ok(args: &[&str], root: &std::path::Path) -> String {
    let out = kubepki()
        .args(args)
        .arg("--cert-dir")
        .arg(root.join("pki"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubepki {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn readyz(cp: &ControlPlane, kubeconfig: &str) -> Result<(), String> {
    let out = cp.kubectl(kubeconfig, &["get", "--raw", "/readyz"]);
    if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok" {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn rotate_the_cluster_ca_on_a_live_control_plane() {
    let Some((apiserver, controller_manager)) = k8s_binaries("rotate_ca_control_plane") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    run_ok(
        &[
            "init",
            "--node-name",
            "cp-1",
            "--apiserver-advertise-address",
            "127.0.0.1",
            "--apiserver-bind-port",
            &port.to_string(),
            "--key-algorithm",
            "ECDSA-P256",
        ],
        root,
    );
    let mut cp = ControlPlane::start(root, port, &apiserver);
    let keep = |name: &str| fs::copy(root.join("super-admin.conf"), root.join(name)).unwrap();
    keep("gen0.conf");
    readyz(&cp, "gen0.conf").unwrap();

    // start: trust both. The controller manager signs with ca.signing.crt (one certificate).
    let steps = run_ok(&["rotate-ca", "start", "--ca", "ca"], root);
    assert!(steps.contains("ca.signing.crt"), "{steps}");
    cp.restart_apiserver(1);
    cp.start_controller_manager_signing_with(&controller_manager, "ca.signing.crt");
    keep("gen1.conf");
    readyz(&cp, "super-admin.conf").unwrap();
    readyz(&cp, "gen0.conf").expect("old kubeconfig works while trusting both");
    std::thread::sleep(Duration::from_secs(5));
    let kcm = cp.controller_manager.as_ref().unwrap();
    let log = fs::read_to_string(&kcm.log).unwrap_or_default();
    assert!(
        !log.contains("expected 1 certificate"),
        "controller manager refused its signing file:\n{}",
        kcm.tail()
    );

    // reissue: the API server serves a certificate of the new CA.
    run_ok(&["rotate-ca", "reissue", "--ca", "ca"], root);
    cp.restart_apiserver(2);
    cp.start_controller_manager_signing_with(&controller_manager, "ca.signing.crt");
    readyz(&cp, "super-admin.conf").unwrap();
    readyz(&cp, "gen1.conf").expect("a client of the old CA trusting both still works");
    assert!(
        readyz(&cp, "gen0.conf").is_err(),
        "a kubeconfig trusting only the old CA cannot verify the new serving certificate"
    );

    // finish: the new CA alone; the old generation's client certificate is refused.
    run_ok(&["rotate-ca", "finish", "--ca", "ca"], root);
    cp.restart_apiserver(3);
    readyz(&cp, "super-admin.conf").unwrap();
    let err = readyz(&cp, "gen1.conf").expect_err("old client certificate refused");
    assert!(err.contains("Unauthorized") || err.contains("401"), "{err}");
}
