//! The kubeconfig files kubepki writes, proven with the real kubectl: every file completes a
//! verified TLS handshake (server name checked against the apiserver certificate's SANs, client
//! certificate checked against the cluster CA) with a server that records who the client was.

mod common;
mod fake_apiserver;

use std::path::Path;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use common::free_port;
use fake_apiserver::{FakeApiServer, Identity};

fn kubectl(args: &[&str]) -> Output {
    Command::new("kubectl")
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap_or_else(|e| {
            panic!("kubectl cannot run ({e}); install it: apt-get install -y kubernetes-client")
        })
}

fn kubepki(args: &[&str]) -> Output {
    let out = Command::cargo_bin("kubepki")
        .unwrap()
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubepki {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A cluster whose API server is 127.0.0.1:<port>, with kubeconfigs pointing there.
fn cluster(dir: &Path, port: u16, alg: &str) {
    let pki = dir.join("pki");
    kubepki(&[
        "init",
        "--cert-dir",
        pki.to_str().unwrap(),
        "--node-name",
        "node-1",
        "--apiserver-advertise-address",
        "127.0.0.1",
        "--apiserver-bind-port",
        &port.to_string(),
        "--key-algorithm",
        alg,
    ]);
}

fn version(kubeconfig: &Path) -> Output {
    kubectl(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "version",
        "-o",
        "json",
        "--request-timeout",
        "10s",
    ])
}

fn identity(user: &str, groups: &[&str]) -> Identity {
    Identity {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn every_kubeconfig_authenticates(alg: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    cluster(dir.path(), port, alg);
    let server = FakeApiServer::start(&dir.path().join("pki"), port);

    let user_conf = dir.path().join("jane.conf");
    kubepki(&[
        "write-kubeconfig",
        "user",
        "--cert-dir",
        dir.path().join("pki").to_str().unwrap(),
        "--node-name",
        "node-1",
        "--apiserver-advertise-address",
        "127.0.0.1",
        "--apiserver-bind-port",
        &port.to_string(),
        "--client-name",
        "jane",
        "--org",
        "dev",
        "--org",
        "ops",
        "--out",
        user_conf.to_str().unwrap(),
    ]);

    let cases = [
        (
            "admin.conf",
            identity("kubernetes-admin", &["kubeadm:cluster-admins"]),
        ),
        (
            "super-admin.conf",
            identity("kubernetes-super-admin", &["system:masters"]),
        ),
        (
            "controller-manager.conf",
            identity("system:kube-controller-manager", &[]),
        ),
        ("scheduler.conf", identity("system:kube-scheduler", &[])),
        (
            "kubelet.conf",
            identity("system:node:node-1", &["system:nodes"]),
        ),
        ("jane.conf", identity("jane", &["dev", "ops"])),
    ];
    for (file, expected) in &cases {
        let before = server.seen().len();
        let out = version(&dir.path().join(file));
        assert!(
            out.status.success(),
            "{alg} {file}: kubectl version failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json = String::from_utf8_lossy(&out.stdout);
        assert!(
            json.contains("\"gitVersion\": \"v1.31.0\""),
            "{file}: {json}"
        );
        let seen = server.seen();
        assert!(
            seen.len() > before,
            "{file}: the server saw no client certificate"
        );
        assert!(
            seen[before..].iter().all(|id| id == expected),
            "{file}: server saw {:?}, expected {expected:?}",
            &seen[before..]
        );
    }
}

#[test]
fn every_kubeconfig_authenticates_rsa() {
    every_kubeconfig_authenticates("RSA-2048");
}

#[test]
fn every_kubeconfig_authenticates_ecdsa() {
    every_kubeconfig_authenticates("ECDSA-P256");
}

#[test]
fn a_kubeconfig_from_another_cluster_fails_the_handshake() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let port = free_port();
    cluster(ours.path(), port, "ECDSA-P256");
    cluster(theirs.path(), port, "ECDSA-P256");
    let server = FakeApiServer::start(&ours.path().join("pki"), port);

    let out = version(&theirs.path().join("admin.conf"));
    assert!(!out.status.success(), "a foreign kubeconfig was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("certificate signed by unknown authority") || err.contains("x509"),
        "unexpected error: {err}"
    );
    assert!(server.seen().is_empty(), "no identity may be recorded");

    // The same cluster's kubeconfig still works against this server.
    assert!(version(&ours.path().join("admin.conf")).status.success());
}

#[test]
fn kubectl_config_view_reads_every_file() {
    let dir = tempfile::tempdir().unwrap();
    cluster(dir.path(), 6443, "ECDSA-P256");
    let expected = [
        ("admin.conf", "kubernetes-admin"),
        ("super-admin.conf", "kubernetes-super-admin"),
        ("controller-manager.conf", "system:kube-controller-manager"),
        ("scheduler.conf", "system:kube-scheduler"),
        ("kubelet.conf", "system:node:node-1"),
    ];
    for (file, user) in expected {
        let out = kubectl(&[
            "config",
            "view",
            "--kubeconfig",
            dir.path().join(file).to_str().unwrap(),
            "-o",
            "jsonpath={.clusters[0].name} {.users[0].name} {.contexts[0].name} {.current-context} {.clusters[0].cluster.server}",
        ]);
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("kubernetes {user} {user}@kubernetes {user}@kubernetes https://127.0.0.1:6443"),
            "{file}"
        );
    }
}

#[test]
fn the_server_name_is_verified_against_the_apiserver_sans() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    cluster(dir.path(), port, "ECDSA-P256");
    let server = FakeApiServer::start(&dir.path().join("pki"), port);
    // Same server, reached as "localhost", a name the apiserver certificate does not carry.
    let conf = dir.path().join("by-name.conf");
    kubepki(&[
        "write-kubeconfig",
        "user",
        "--cert-dir",
        dir.path().join("pki").to_str().unwrap(),
        "--node-name",
        "node-1",
        "--apiserver-advertise-address",
        "127.0.0.1",
        "--control-plane-endpoint",
        &format!("localhost:{port}"),
        "--client-name",
        "jane",
        "--out",
        conf.to_str().unwrap(),
    ]);
    let out = version(&conf);
    assert!(
        !out.status.success(),
        "kubectl accepted a server name not in the SANs"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("localhost"), "unexpected error: {err}");
    assert!(server.seen().is_empty());
}
