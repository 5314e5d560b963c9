//! `check-expiration`: statuses, exit codes, formats, kubeconfig and bundle rows. Expired
//! certificates are made through the library with a pinned clock (`cli::run` takes "now").

use std::path::Path;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use clap::Parser;
use kubepki::cli::{Cli, run};
use time::{Duration, OffsetDateTime};

fn kubepki(args: &[&str]) -> Output {
    Command::cargo_bin("kubepki")
        .unwrap()
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap()
}

fn init(dir: &Path) {
    let out = kubepki(&[
        "init",
        "--cert-dir",
        dir.join("pki").to_str().unwrap(),
        "--node-name",
        "node-1",
        "--apiserver-advertise-address",
        "192.168.1.10",
        "--key-algorithm",
        "ECDSA-P256",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check(dir: &Path, extra: &[&str]) -> (i32, String) {
    let pki = dir.join("pki");
    let mut args = vec!["check-expiration", "--cert-dir", pki.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = kubepki(&args);
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["-o", "json"];
    args.extend_from_slice(extra);
    let (_, text) = check(dir, &args);
    serde_json::from_str(&text).unwrap()
}

fn row<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .chain(report["certificateAuthorities"].as_array().unwrap())
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name}"))
}

#[test]
fn a_fresh_tree_is_all_ok_and_lists_kubeconfigs() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let (code, text) = check(dir.path(), &[]);
    assert_eq!(code, 0, "{text}");
    for name in [
        "admin.conf",
        "apiserver",
        "apiserver-etcd-client",
        "apiserver-kubelet-client",
        "controller-manager.conf",
        "etcd-healthcheck-client",
        "etcd-peer",
        "etcd-server",
        "front-proxy-client",
        "kubelet.conf",
        "scheduler.conf",
        "super-admin.conf",
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"));
        assert!(line.contains("364d") && line.ends_with("ok"), "{line}");
    }
    assert!(text.contains("CERTIFICATE AUTHORITY   EXPIRES"), "{text}");
    let ca = text.lines().find(|l| l.starts_with("etcd-ca ")).unwrap();
    assert!(ca.contains("9y"), "{ca}");
    // The kubelet rotation window of kubelet.conf lies at 70%..90% of its year.
    assert!(text.contains("KUBELET CERTIFICATE"), "{text}");

    // JSON and YAML carry the same rows as the table.
    let report = json(dir.path(), &[]);
    assert_eq!(report["certificates"].as_array().unwrap().len(), 12);
    assert_eq!(
        report["certificateAuthorities"].as_array().unwrap().len(),
        3
    );
    let admin = row(&report, "admin.conf");
    assert_eq!(admin["status"], "ok");
    assert_eq!(admin["certificateAuthority"], "ca");
    assert!(
        admin["subject"]
            .as_str()
            .unwrap()
            .contains("CN=kubernetes-admin")
    );
    let residual = admin["residualSeconds"].as_i64().unwrap();
    assert!(
        (364 * 86_400..=365 * 86_400).contains(&residual),
        "{residual}"
    );
    let yaml = kubepki(&[
        "check-expiration",
        "--cert-dir",
        dir.path().join("pki").to_str().unwrap(),
        "-o",
        "yaml",
    ]);
    let yaml: serde_json::Value = yaml_serde::from_slice(&yaml.stdout).unwrap();
    assert_eq!(yaml["certificates"], report["certificates"]);
}

#[test]
fn short_validity_warns_and_fails_within() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    // --force keeps a certificate that matches (issue 13): make room for the short-lived one.
    for f in ["front-proxy-client.crt", "front-proxy-client.key"] {
        std::fs::remove_file(dir.path().join("pki").join(f)).unwrap();
    }
    let out = kubepki(&[
        "issue",
        "front-proxy-client",
        "--cert-dir",
        dir.path().join("pki").to_str().unwrap(),
        "--validity",
        "10d",
        "--key-algorithm",
        "ECDSA-P256",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, text) = check(dir.path(), &[]);
    assert_eq!(code, 0, "a warning alone does not fail:\n{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("front-proxy-client"))
        .unwrap();
    assert!(line.ends_with("warning") && line.contains(" 9d "), "{line}");
    let (code, _) = check(dir.path(), &["--fail-within", "30d"]);
    assert_eq!(code, 5);
    let (code, _) = check(dir.path(), &["--fail-within", "5d"]);
    assert_eq!(code, 0);
}

#[test]
fn expired_certificates_are_reported_with_exit_code_5() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let pki = dir.path().join("pki");
    // Re-issue the etcd health client as if it were done 400 days ago with a 1-year validity.
    let past = OffsetDateTime::now_utc() - Duration::days(400);
    for f in ["etcd/healthcheck-client.crt", "etcd/healthcheck-client.key"] {
        std::fs::remove_file(pki.join(f)).unwrap();
    }
    let cli = Cli::try_parse_from([
        "kubepki",
        "issue",
        "etcd-healthcheck-client",
        "--cert-dir",
        pki.to_str().unwrap(),
        "--key-algorithm",
        "ECDSA-P256",
    ])
    .unwrap();
    run(cli, past).unwrap();
    let (code, text) = check(dir.path(), &[]);
    assert_eq!(code, 5, "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("etcd-healthcheck-client"))
        .unwrap();
    assert!(
        line.contains("<invalid>") && line.ends_with("expired"),
        "{line}"
    );
    let report = json(dir.path(), &[]);
    let entry = row(&report, "etcd-healthcheck-client");
    assert_eq!(entry["status"], "expired");
    assert!(entry["residualSeconds"].as_i64().unwrap() < -30 * 86_400);
    // Independent check of the same fact with openssl: the certificate really has expired.
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-checkend", "0", "-in"])
        .arg(pki.join("etcd/healthcheck-client.crt"))
        .output()
        .expect("openssl (apt-get install -y openssl)");
    assert!(!out.status.success(), "openssl says it has not expired");
}

#[test]
fn missing_and_garbage_files_are_rows_with_exit_code_6() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let pki = dir.path().join("pki");
    std::fs::remove_file(pki.join("apiserver.crt")).unwrap();
    std::fs::write(pki.join("front-proxy-client.crt"), "not a certificate").unwrap();
    let (code, text) = check(dir.path(), &[]);
    assert_eq!(code, 6, "{text}");
    let report = json(dir.path(), &[]);
    assert_eq!(row(&report, "apiserver")["status"], "missing");
    let bad = row(&report, "front-proxy-client");
    assert_eq!(bad["status"], "invalid");
    assert!(bad["error"].as_str().unwrap().contains("PEM"), "{bad}");
    // The rest of the report is still there.
    assert_eq!(row(&report, "etcd-server")["status"], "ok");
}

#[test]
fn extra_paths_bundles_and_kubeconfigs() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let pki = dir.path().join("pki");
    let scan = dir.path().join("scan/nested");
    std::fs::create_dir_all(&scan).unwrap();
    let bundle: String = ["ca.crt", "front-proxy-ca.crt", "etcd/ca.crt"]
        .iter()
        .map(|f| std::fs::read_to_string(pki.join(f)).unwrap())
        .collect();
    std::fs::write(scan.join("bundle.pem"), bundle).unwrap();
    std::fs::copy(dir.path().join("kubelet.conf"), scan.join("kubelet.conf")).unwrap();
    std::fs::write(scan.join("notes.txt"), "ignored").unwrap();
    let out = kubepki(&[
        "check-expiration",
        "-o",
        "json",
        dir.path().join("scan").to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["certificates"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "3 bundle rows + the kubeconfig: {rows:?}");
    let bundle_rows: Vec<_> = rows
        .iter()
        .filter(|r| r["name"].as_str().unwrap().contains("bundle.pem#"))
        .collect();
    assert_eq!(bundle_rows.len(), 3);
    let kubelet = rows
        .iter()
        .find(|r| r["name"].as_str().unwrap().ends_with("kubelet.conf"))
        .unwrap();
    assert!(
        kubelet["subject"]
            .as_str()
            .unwrap()
            .contains("system:node:node-1")
    );
    assert!(kubelet["kubeletRotation"]["from"].is_string());
    // Only the paths are checked when no --cert-dir is given.
    assert!(
        report["certificateAuthorities"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // A path that does not exist is a missing row.
    let out = kubepki(&["check-expiration", "/nonexistent/kubelet.crt"]);
    assert_eq!(out.status.code(), Some(6));
}

#[test]
fn an_external_ca_is_marked_externally_managed() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    std::fs::remove_file(dir.path().join("pki/front-proxy-ca.key")).unwrap();
    let report = json(dir.path(), &[]);
    assert_eq!(
        row(&report, "front-proxy-client")["externallyManaged"],
        true
    );
    assert_eq!(row(&report, "front-proxy-ca")["externallyManaged"], true);
    assert_eq!(row(&report, "apiserver")["externallyManaged"], false);
}
