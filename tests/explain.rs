//! `--explain`: the script kubepki prints, run in an empty directory with only openssl and
//! kubectl, makes a tree that passes the same checks as kubepki's own: every leaf verifies with
//! `openssl verify -x509_strict` for its purpose, `kubepki init` reuses every file (nothing
//! written), and the real etcd and kube-apiserver run on it with its kubeconfigs.

mod common;

use std::path::Path;
use std::process::Command;

use common::control_plane::{ControlPlane, k8s_binaries};
use common::free_ports;
use common::kubepki;

fn explain_and_run(dir: &Path, alg: &str, port: u16) {
    let out = kubepki()
        .current_dir(dir)
        .args([
            "init",
            "--explain",
            "--cert-dir",
            "pki",
            "--node-name",
            "cp-1",
        ])
        .args(["--apiserver-advertise-address", "127.0.0.1"])
        .args([
            "--apiserver-bind-port",
            &port.to_string(),
            "--key-algorithm",
            alg,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.join("pki").exists(), "--explain writes nothing itself");
    std::fs::write(dir.join("init.sh"), &out.stdout).unwrap();
    let run = Command::new("bash")
        .arg("init.sh")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "the script failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

fn verify(dir: &Path, ca: &str, leaf: &str, purpose: &str) {
    let out = Command::new("openssl")
        .args(["verify", "-x509_strict", "-purpose", purpose, "-CAfile"])
        .arg(dir.join("pki").join(ca))
        .arg(dir.join("pki").join(leaf))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{leaf}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check(alg: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    explain_and_run(d, alg, port);
    for (ca, leaf, purpose) in [
        ("ca.crt", "apiserver.crt", "sslserver"),
        ("ca.crt", "apiserver-kubelet-client.crt", "sslclient"),
        ("front-proxy-ca.crt", "front-proxy-client.crt", "sslclient"),
        ("etcd/ca.crt", "etcd/server.crt", "sslserver"),
        ("etcd/ca.crt", "etcd/server.crt", "sslclient"),
        ("etcd/ca.crt", "etcd/peer.crt", "sslserver"),
        ("etcd/ca.crt", "etcd/healthcheck-client.crt", "sslclient"),
        ("etcd/ca.crt", "apiserver-etcd-client.crt", "sslclient"),
    ] {
        verify(d, ca, leaf, purpose);
    }
    // kubepki finds every file to be what it would have made.
    let out = kubepki()
        .current_dir(d)
        .args(["init", "--cert-dir", "pki", "--node-name", "cp-1"])
        .args(["--apiserver-advertise-address", "127.0.0.1"])
        .args([
            "--apiserver-bind-port",
            &port.to_string(),
            "--key-algorithm",
            alg,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Done: 0 written, 16 reused"), "{stdout}");
    // And the real components run on it.
    let Some((apiserver, _)) = k8s_binaries("explain") else {
        return;
    };
    let cp = ControlPlane::start(d, port, &apiserver);
    let out = cp.kubectl("super-admin.conf", &["get", "namespaces", "-o", "name"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("namespace/kube-system"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_explained_ecdsa_tree_is_kubepkis_tree() {
    check("ECDSA-P256");
}

#[test]
fn the_explained_rsa_tree_is_kubepkis_tree() {
    check("RSA-2048");
}

#[test]
fn csr_issue_cert_and_sign_explain_to_scripts_openssl_agrees_with() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::init_tree(&d.join("pki"), "ECDSA-P256");
    let script = |args: &[&str]| -> String {
        let out = kubepki().current_dir(d).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let run = |text: &str, env: &[(&str, &str)]| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(text)
            .current_dir(d)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // csr: a key and a request with the subject and SANs asked for.
    run(
        &script(&[
            "csr",
            "--cn",
            "my-svc",
            "--org",
            "dev",
            "--san",
            "my-svc.ns.svc,10.0.0.9",
            "--key-algorithm",
            "ECDSA-P256",
            "--out",
            "svc",
            "--explain",
        ]),
        &[],
    );
    assert!(!d.join("pki/svc.key").exists());
    let text = Command::new("openssl")
        .args(["req", "-in", "svc.csr", "-noout", "-verify", "-text"])
        .current_dir(d)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&text.stdout).into_owned() + &String::from_utf8_lossy(&text.stderr);
    assert!(
        text.contains("verify OK") || text.contains("verify ok"),
        "{text}"
    );
    assert!(
        text.contains("O = dev, CN = my-svc")
            && text.contains("DNS:my-svc.ns.svc, IP Address:10.0.0.9"),
        "{text}"
    );
    // sign: the request signed by the tree's CA with the server profile.
    run(
        &script(&[
            "sign",
            "svc.csr",
            "--cert-dir",
            "pki",
            "--profile",
            "server",
            "--out",
            "svc.crt",
            "--explain",
        ]),
        &[("CSR", "svc.csr")],
    );
    verify(d, "ca.crt", "../svc.crt", "sslserver");
    // The certificate carries the request's SANs, as openssl reads it.
    let x509 = |file: &str, what: &[&str]| {
        let out = Command::new("openssl")
            .args(["x509", "-in", file, "-noout"])
            .args(what)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl x509 {file} {what:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let san = x509("svc.crt", &["-ext", "subjectAltName"]);
    assert!(
        san.contains("DNS:my-svc.ns.svc") && san.contains("IP Address:10.0.0.9"),
        "svc.crt SANs: {san}"
    );
    let subject = x509("svc.crt", &["-subject"]);
    assert!(subject.contains("CN = my-svc"), "svc.crt: {subject}");
    // issue-cert: a client key and certificate in one step.
    run(
        &script(&[
            "issue-cert",
            "--cn",
            "jane",
            "--org",
            "dev",
            "--profile",
            "client",
            "--cert-dir",
            "pki",
            "--key-algorithm",
            "ECDSA-P256",
            "--out",
            "jane",
            "--explain",
        ]),
        &[],
    );
    verify(d, "ca.crt", "../jane.crt", "sslclient");
    let subject = x509("jane.crt", &["-subject"]);
    assert!(
        subject.contains("O = dev") && subject.contains("CN = jane"),
        "jane.crt: {subject}"
    );
}
