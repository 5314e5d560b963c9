//! `kubepki audit` on deliberately broken trees: each breakage is found with the right check,
//! file and exit code, and fresh trees (kubepki's, RSA and ECDSA) are clean. Broken certificates
//! are made with openssl, as an operator following the docs would make them.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use common::{init_tree, kubepki, openssl_ok};
use serde_json::Value;

struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
    pki: PathBuf,
}

fn tree() -> Tree {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let pki = root.join("pki");
    init_tree(&pki, "ECDSA-P256");
    Tree {
        _dir: dir,
        root,
        pki,
    }
}

fn audit(t: &Tree, extra: &[&str]) -> (i32, Value) {
    let out = kubepki()
        .arg("audit")
        .arg("--cert-dir")
        .arg(&t.pki)
        .args(extra)
        .args(["-o", "json"])
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit output is not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// Asserts a finding `check` of `severity` on a file ending with `file`, and the exit code.
fn assert_finds(t: &Tree, extra: &[&str], check: &str, severity: &str, file: &str, code: i32) {
    let (got, report) = audit(t, extra);
    let findings = report["findings"].as_array().unwrap();
    let hit = findings.iter().any(|f| {
        f["check"] == check
            && f["severity"] == severity
            && f["file"].as_str().unwrap().ends_with(file)
    });
    assert!(hit, "no {severity} {check} on {file} in:\n{report:#}");
    assert_eq!(got, code, "exit code for {check}:\n{report:#}");
}

/// Signs a new certificate for `key` with a CA of the tree, as the docs do with openssl.
fn openssl_sign(
    t: &Tree,
    ca: &str,
    key: &Path,
    subject: &str,
    ext: &str,
    extra: &[&str],
    out: &Path,
) {
    let csr = t.root.join("x.csr");
    let extfile = t.root.join("x.ext");
    fs::write(&extfile, ext).unwrap();
    openssl_ok([
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        subject,
        "-out",
        csr.to_str().unwrap(),
    ]);
    let ca_crt = t.pki.join(format!("{ca}.crt"));
    let ca_key = t.pki.join(format!("{ca}.key"));
    let mut args = vec![
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        ca_crt.to_str().unwrap(),
        "-CAkey",
        ca_key.to_str().unwrap(),
        "-days",
        "100",
        "-extfile",
        extfile.to_str().unwrap(),
        "-out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    openssl_ok(&args);
}

#[test]
fn fresh_trees_are_clean() {
    for alg in ["ECDSA-P256", "RSA-2048"] {
        let dir = tempfile::tempdir().unwrap();
        init_tree(&dir.path().join("pki"), alg);
        let t = Tree {
            root: dir.path().to_path_buf(),
            pki: dir.path().join("pki"),
            _dir: dir,
        };
        let (code, report) = audit(&t, &["--fail-on", "info"]);
        assert_eq!(code, 0, "{alg}: {report:#}");
        assert_eq!(
            report["findings"].as_array().unwrap().len(),
            0,
            "{report:#}"
        );
    }
}

#[test]
fn keys_chains_and_kubeconfigs() {
    // 1. A leaf of another cluster's CA of the same name.
    let t = tree();
    let other = tree();
    for f in ["apiserver.crt", "apiserver.key"] {
        fs::copy(other.pki.join(f), t.pki.join(f)).unwrap();
    }
    assert_finds(&t, &[], "chain", "error", "pki/apiserver.crt", 8);
    // 2. A key that is not the certificate's.
    let t = tree();
    fs::copy(
        other.pki.join("front-proxy-client.key"),
        t.pki.join("front-proxy-client.key"),
    )
    .unwrap();
    assert_finds(
        &t,
        &[],
        "key-mismatch",
        "error",
        "front-proxy-client.key",
        8,
    );
    // 3. A key that is gone.
    let t = tree();
    fs::remove_file(t.pki.join("etcd/peer.key")).unwrap();
    assert_finds(&t, &[], "key-missing", "error", "etcd/peer.key", 8);
    // 3b. A certificate that is gone.
    let t = tree();
    fs::remove_file(t.pki.join("front-proxy-client.crt")).unwrap();
    assert_finds(&t, &[], "missing", "error", "front-proxy-client.crt", 8);
    // 4. A kubeconfig of another cluster.
    let t = tree();
    fs::copy(
        other.root.join("controller-manager.conf"),
        t.root.join("controller-manager.conf"),
    )
    .unwrap();
    assert_finds(
        &t,
        &[],
        "kubeconfig-ca",
        "error",
        "controller-manager.conf",
        8,
    );
    assert_finds(
        &t,
        &[],
        "kubeconfig-client",
        "error",
        "controller-manager.conf",
        8,
    );
    // 5. system:masters outside super-admin.conf (a warning: exit 0 unless --fail-on warning).
    let t = tree();
    fs::copy(t.root.join("super-admin.conf"), t.root.join("admin.conf")).unwrap();
    assert_finds(&t, &[], "system-masters", "warning", "admin.conf", 0);
    assert_finds(
        &t,
        &["--fail-on", "warning"],
        "system-masters",
        "warning",
        "admin.conf",
        8,
    );
}

#[test]
fn modes_owners_and_ca_keys() {
    // 6. A key readable by everyone.
    let t = tree();
    fs::set_permissions(t.pki.join("sa.key"), fs::Permissions::from_mode(0o644)).unwrap();
    assert_finds(&t, &[], "secret-mode", "error", "pki/sa.key", 8);
    // 7. A certificate anyone can replace.
    let t = tree();
    fs::set_permissions(t.pki.join("ca.crt"), fs::Permissions::from_mode(0o666)).unwrap();
    assert_finds(&t, &[], "file-mode", "error", "pki/ca.crt", 8);
    // 8. A directory anyone can write.
    let t = tree();
    fs::set_permissions(t.pki.join("etcd"), fs::Permissions::from_mode(0o777)).unwrap();
    assert_finds(&t, &[], "dir-mode", "error", "pki/etcd", 8);
    // 9. A CA key on a worker.
    let t = tree();
    assert_finds(
        &t,
        &["--worker"],
        "ca-key-on-worker",
        "error",
        "pki/ca.key",
        8,
    );
    // 10. A file not owned by root (when the audit runs as root, as on a node).
    if rustix_is_root() {
        let t = tree();
        std::os::unix::fs::chown(t.pki.join("apiserver.crt"), Some(65534), None).unwrap();
        assert_finds(&t, &[], "owner", "warning", "pki/apiserver.crt", 0);
    }
}

fn rustix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

#[test]
fn validity_strength_usages_and_sans() {
    // 11. An expired leaf (issued 400 days ago with a 1-year validity, by kubepki's own clock).
    let t = tree();
    for f in ["etcd/healthcheck-client.crt", "etcd/healthcheck-client.key"] {
        fs::remove_file(t.pki.join(f)).unwrap();
    }
    let cli = kubepki::cli::Cli::try_parse_from([
        "kubepki",
        "issue",
        "etcd-healthcheck-client",
        "--key-algorithm",
        "ECDSA-P256",
        "--cert-dir",
        t.pki.to_str().unwrap(),
    ])
    .unwrap();
    kubepki::cli::run(
        cli,
        time::OffsetDateTime::now_utc() - time::Duration::days(400),
    )
    .unwrap();
    assert_finds(
        &t,
        &[],
        "expired",
        "error",
        "etcd/healthcheck-client.crt",
        8,
    );
    // 12. A leaf that outlives its CA (CA made for 30 days).
    let dir = tempfile::tempdir().unwrap();
    let out = kubepki()
        .arg("init")
        .arg("--cert-dir")
        .arg(dir.path().join("pki"))
        .args([
            "--node-name",
            "n",
            "--apiserver-advertise-address",
            "10.0.0.1",
            "--key-algorithm",
            "ECDSA-P256",
            "--ca-validity",
            "30d",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let t = Tree {
        root: dir.path().to_path_buf(),
        pki: dir.path().join("pki"),
        _dir: dir,
    };
    assert_finds(&t, &[], "outlives-ca", "warning", "pki/apiserver.crt", 0);
    // 13. SHA-1.
    let t = tree();
    openssl_sign(
        &t,
        "front-proxy-ca",
        &t.pki.join("front-proxy-client.key"),
        "/CN=front-proxy-client",
        "extendedKeyUsage=clientAuth\n",
        &["-sha1"],
        &t.pki.join("front-proxy-client.crt"),
    );
    assert_finds(
        &t,
        &[],
        "weak-signature",
        "error",
        "front-proxy-client.crt",
        8,
    );
    // 14. RSA-1024.
    let t = tree();
    let weak = t.pki.join("apiserver-kubelet-client.key");
    openssl_ok([
        "genrsa",
        "-traditional",
        "-out",
        weak.to_str().unwrap(),
        "1024",
    ]);
    openssl_sign(
        &t,
        "ca",
        &weak,
        "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client",
        "extendedKeyUsage=clientAuth\n",
        &[],
        &t.pki.join("apiserver-kubelet-client.crt"),
    );
    assert_finds(
        &t,
        &[],
        "weak-key",
        "error",
        "apiserver-kubelet-client.crt",
        8,
    );
    // 15. The wrong extended key usage for the role.
    let t = tree();
    openssl_sign(
        &t,
        "ca",
        &t.pki.join("apiserver-kubelet-client.key"),
        "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client",
        "extendedKeyUsage=serverAuth\n",
        &[],
        &t.pki.join("apiserver-kubelet-client.crt"),
    );
    assert_finds(&t, &[], "usage", "error", "apiserver-kubelet-client.crt", 8);
    // 16. A leaf that is a CA.
    let t = tree();
    openssl_sign(
        &t,
        "etcd/ca",
        &t.pki.join("apiserver-etcd-client.key"),
        "/CN=kube-apiserver-etcd-client",
        "extendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:TRUE\n",
        &[],
        &t.pki.join("apiserver-etcd-client.crt"),
    );
    assert_finds(&t, &[], "usage", "error", "apiserver-etcd-client.crt", 8);
    // 17. An API server certificate without the in-cluster names and the service VIP.
    let t = tree();
    openssl_sign(
        &t,
        "ca",
        &t.pki.join("apiserver.key"),
        "/CN=kube-apiserver",
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:kubernetes,IP:10.0.0.1\n",
        &[],
        &t.pki.join("apiserver.crt"),
    );
    assert_finds(&t, &[], "apiserver-sans", "error", "pki/apiserver.crt", 8);
    // 18. Two certificates of one CA with the same serial.
    let t = tree();
    openssl_sign(
        &t,
        "etcd/ca",
        &t.pki.join("etcd/healthcheck-client.key"),
        "/CN=kube-etcd-healthcheck-client",
        "extendedKeyUsage=clientAuth\n",
        &["-set_serial", "4660"],
        &t.pki.join("etcd/healthcheck-client.crt"),
    );
    openssl_sign(
        &t,
        "etcd/ca",
        &t.pki.join("apiserver-etcd-client.key"),
        "/CN=kube-apiserver-etcd-client",
        "extendedKeyUsage=clientAuth\n",
        &["-set_serial", "4660"],
        &t.pki.join("apiserver-etcd-client.crt"),
    );
    assert_finds(
        &t,
        &[],
        "duplicate-serial",
        "error",
        "apiserver-etcd-client.crt",
        8,
    );
    // 19. Expiring soon: a warning, and exit 8 with --fail-on warning.
    let t = tree();
    for f in ["front-proxy-client.crt", "front-proxy-client.key"] {
        fs::remove_file(t.pki.join(f)).unwrap();
    }
    let out = kubepki()
        .args([
            "issue",
            "front-proxy-client",
            "--validity",
            "5d",
            "--key-algorithm",
            "ECDSA-P256",
            "--cert-dir",
        ])
        .arg(&t.pki)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_finds(&t, &[], "expiring", "warning", "front-proxy-client.crt", 0);
    assert_finds(
        &t,
        &["--fail-on", "warning"],
        "expiring",
        "warning",
        "front-proxy-client.crt",
        8,
    );
}
