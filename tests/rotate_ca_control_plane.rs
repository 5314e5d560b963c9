//! `rotate-ca --ca ca,sa` walked on a running control plane (Debian's etcd, the real
//! kube-apiserver and kube-controller-manager v1.22.3): start → reissue → finish, restarting
//! kube-apiserver by PID between phases as kubepki says, with `kubectl get --raw /readyz` on the
//! kubeconfigs of each generation where they must work, and refused where they must not; and
//! service-account tokens (a bound token from the TokenRequest API and a legacy token Secret
//! filled in by the controller manager) of the old key verified by the API server until `finish`
//! drops that key, those of the new key from `reissue` on.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use common::control_plane::{ControlPlane, k8s_binaries};
use common::free_ports;
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

/// The controller manager signs a client CSR named `name` (through the CSR API, as
/// `ControlPlane::controller_manager_signs` does it); the certificate must pass `openssl verify`
/// against `ca` (a file of the tree, relative to `pki/`).
fn kcm_signs(cp: &ControlPlane, name: &str, ca: &str) {
    let crt = cp.controller_manager_signs("super-admin.conf", name, &cp.root);
    let verify = std::process::Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(cp.root.join("pki").join(ca))
        .arg(&crt)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{name} against {ca}: {verify:?}");
}

/// Whether the API server authenticates `token` (a TokenReview by super-admin.conf).
fn token_works(cp: &ControlPlane, token: &str) -> bool {
    let review = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token},
    });
    let out = cp.kubectl_stdin(
        "super-admin.conf",
        &["create", "-f", "-", "-o", "json"],
        Some(&review.to_string()),
    );
    assert!(out.status.success(), "TokenReview: {out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("TokenReview JSON");
    v["status"]["authenticated"] == serde_json::Value::Bool(true)
}

/// A bound token of the service account `probe` (TokenRequest API, signed by kube-apiserver).
fn bound_token(cp: &ControlPlane) -> String {
    let out = cp.kubectl(
        "super-admin.conf",
        &["create", "token", "probe", "-n", "default", "--duration=1h"],
    );
    assert!(out.status.success(), "create token: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The `kid` kube-apiserver puts in the tokens it signs with `key`: base64url (unpadded) of the
/// SHA-256 of the public key's DER (computed by openssl, not by kubepki).
fn kid_of(key: &std::path::Path) -> String {
    let der = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(key)
        .output()
        .unwrap();
    assert!(der.status.success());
    let mut dgst = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-binary"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    dgst.stdin.take().unwrap().write_all(&der.stdout).unwrap();
    let digest = dgst.wait_with_output().unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.stdout)
}

/// The `kid` in a token's header.
fn kid_in(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    v["kid"].as_str().unwrap().to_string()
}

/// The legacy token the controller manager's token controller writes into a Secret of type
/// `kubernetes.io/service-account-token` for `probe` (signed with its sa.key).
fn legacy_token(cp: &ControlPlane, name: &str) -> String {
    let secret = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {"kubernetes.io/service-account.name": "probe"},
        },
    });
    let out = cp.kubectl_stdin(
        "super-admin.conf",
        &["create", "-f", "-"],
        Some(&secret.to_string()),
    );
    assert!(out.status.success(), "create secret: {out:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = cp.kubectl(
            "super-admin.conf",
            &[
                "get",
                "secret",
                name,
                "-n",
                "default",
                "-o",
                "jsonpath={.data.token}",
            ],
        );
        let data = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !data.is_empty() {
            return String::from_utf8(BASE64.decode(data).unwrap()).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the token controller did not fill in {name}:\n{}",
            cp.controller_manager
                .as_ref()
                .map(|p| p.tail())
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
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
    let out = cp.kubectl(
        "super-admin.conf",
        &["create", "serviceaccount", "probe", "-n", "default"],
    );
    assert!(out.status.success(), "{out:?}");
    let old_kid = kid_of(&root.join("pki/sa.key"));
    let token0 = bound_token(&cp);
    assert_eq!(kid_in(&token0), old_kid);
    assert!(token_works(&cp, &token0));
    assert!(
        !token_works(&cp, &format!("{token0}x")),
        "TokenReview tells"
    );

    // start: trust both. The controller manager signs with ca.signing.crt (one certificate);
    // sa.pub holds both service-account keys, sa.key is still the old one.
    let steps = run_ok(&["rotate-ca", "start", "--ca", "ca,sa"], root);
    assert!(steps.contains("ca.signing.crt"), "{steps}");
    assert!(steps.contains("--service-account-key-file="), "{steps}");
    cp.restart_apiserver(1);
    assert!(
        token_works(&cp, &token0),
        "an old-key token verifies while trusting both"
    );
    assert_eq!(
        kid_in(&bound_token(&cp)),
        old_kid,
        "the old key still signs"
    );
    // The reason for ca.signing.crt: on the bundle, the controller manager refuses to sign.
    cp.start_controller_manager_signing_with(&controller_manager, "ca.crt");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = fs::read_to_string(&cp.controller_manager.as_ref().unwrap().log).unwrap();
        if log.contains("expected 1 certificate, found 2") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the controller manager accepted a bundle as its signing certificate:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    cp.start_controller_manager_signing_with(&controller_manager, "ca.signing.crt");
    let legacy0 = legacy_token(&cp, "probe-legacy-0");
    assert_eq!(
        kid_in(&legacy0),
        old_kid,
        "the controller manager signs with sa.key"
    );
    assert!(token_works(&cp, &legacy0));
    keep("gen1.conf");
    readyz(&cp, "super-admin.conf").unwrap();
    readyz(&cp, "gen0.conf").expect("old kubeconfig works while trusting both");
    // It signs with the old CA (ca.signing.crt holds it alone until reissue).
    kcm_signs(&cp, "csr-trusting-both", "ca.signing.crt");
    fs::copy(root.join("pki/ca.signing.crt"), root.join("old-ca.crt")).unwrap();
    kcm_signs(&cp, "csr-trusting-both-2", "../old-ca.crt");
    let kcm = cp.controller_manager.as_ref().unwrap();
    let log = fs::read_to_string(&kcm.log).unwrap_or_default();
    assert!(
        !log.contains("expected 1 certificate"),
        "controller manager refused its signing file:\n{}",
        kcm.tail()
    );

    // reissue: the API server serves a certificate of the new CA; the new sa.key signs tokens.
    let new_kid = kid_of(&root.join("pki/sa.new.key"));
    assert_ne!(new_kid, old_kid);
    run_ok(&["rotate-ca", "reissue", "--ca", "ca,sa"], root);
    cp.restart_apiserver(2);
    cp.start_controller_manager_signing_with(&controller_manager, "ca.signing.crt");
    readyz(&cp, "super-admin.conf").unwrap();
    let token1 = bound_token(&cp);
    assert_eq!(
        kid_in(&token1),
        new_kid,
        "kube-apiserver signs with the new key"
    );
    let legacy1 = legacy_token(&cp, "probe-legacy-1");
    assert_eq!(
        kid_in(&legacy1),
        new_kid,
        "the controller manager signs with the new key"
    );
    for (what, token) in [
        ("bound token of the old key", &token0),
        ("legacy token of the old key", &legacy0),
        ("bound token of the new key", &token1),
        ("legacy token of the new key", &legacy1),
    ] {
        assert!(token_works(&cp, token), "{what} refused after reissue");
    }
    // Now it signs with the new CA.
    kcm_signs(&cp, "csr-reissued", "ca.new.crt");
    readyz(&cp, "gen1.conf").expect("a client of the old CA trusting both still works");
    assert!(
        readyz(&cp, "gen0.conf").is_err(),
        "a kubeconfig trusting only the old CA cannot verify the new serving certificate"
    );

    // finish: the new CA and the new key alone; the old generation's client certificate and
    // tokens are refused.
    run_ok(&["rotate-ca", "finish", "--ca", "ca,sa"], root);
    cp.restart_apiserver(3);
    readyz(&cp, "super-admin.conf").unwrap();
    assert!(token_works(&cp, &token1) && token_works(&cp, &legacy1));
    assert!(
        !token_works(&cp, &token0),
        "old-key bound token refused after finish"
    );
    assert!(
        !token_works(&cp, &legacy0),
        "old-key legacy token refused after finish"
    );
    let err = readyz(&cp, "gen1.conf").expect_err("old client certificate refused");
    assert!(err.contains("Unauthorized") || err.contains("401"), "{err}");

    // No TLS errors in the API server's logs but the one this test provoked (gen0.conf, which
    // trusts only the old CA, against the new serving certificate after reissue), and none in
    // the controller manager's since its last restart.
    let log = |name: &str| fs::read_to_string(root.join(name)).unwrap_or_default();
    for name in ["kube-apiserver-1.log", "kube-apiserver-3.log"] {
        let text = log(name);
        let tls: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("TLS handshake error"))
            .collect();
        assert!(tls.is_empty(), "{name}:\n{}", tls.join("\n"));
    }
    let provoked: Vec<String> = log("kube-apiserver-2.log")
        .lines()
        .filter(|l| l.contains("TLS handshake error"))
        .map(str::to_string)
        .collect();
    assert!(
        provoked.iter().all(|l| l.contains("bad certificate")),
        "{provoked:#?}"
    );
    let kcm = log("kube-controller-manager.log");
    for bad in ["x509:", "TLS handshake error", "Unauthorized"] {
        assert!(
            !kcm.contains(bad),
            "controller manager log has {bad}:\n{kcm}"
        );
    }

    // A second rotation, cross-signed: a kubeconfig that trusts only the CA of the moment
    // (handed out before `start`, never updated) keeps working through `reissue`, because the
    // API server presents its certificate followed by the new CA cross-signed by the old one;
    // `finish` ends that, as it ends the old CA everywhere.
    keep("pinned.conf");
    run_ok(&["rotate-ca", "start", "--ca", "ca", "--cross-sign"], root);
    cp.restart_apiserver(4);
    cp.start_controller_manager_signing_with(&controller_manager, "ca.signing.crt");
    readyz(&cp, "pinned.conf").expect("pinned kubeconfig while trusting both");
    run_ok(&["rotate-ca", "reissue", "--ca", "ca"], root);
    cp.restart_apiserver(5);
    cp.start_controller_manager_signing_with(&controller_manager, "ca.signing.crt");
    readyz(&cp, "super-admin.conf").unwrap();
    readyz(&cp, "pinned.conf").expect(
        "a kubeconfig trusting only the old CA verifies the new serving certificate through the \
         cross-signed CA",
    );
    assert!(
        !log("kube-apiserver-5.log").contains("TLS handshake error"),
        "no client failed to verify the cross-signed chain"
    );
    run_ok(&["rotate-ca", "finish", "--ca", "ca"], root);
    cp.restart_apiserver(6);
    readyz(&cp, "super-admin.conf").unwrap();
    let err = readyz(&cp, "pinned.conf").expect_err("the old CA is gone after finish");
    assert!(
        err.contains("x509") || err.contains("certificate"),
        "the pinned kubeconfig fails on the server certificate: {err}"
    );
}
