//! Snapshots of what people and scripts read: every subcommand's `--help`, the plan of `init
//! --dry-run` (text and JSON), `renew all --dry-run`, and `check-expiration` (table and JSON).
//! They pin behaviour across refactors: a change to any of them is a visible, reviewed diff
//! (`cargo insta review`). Times, dates, durations left and temporary paths are filtered.

mod common;

use std::path::Path;

use common::{ADVERTISE, NODE, kubepki};

/// Runs kubepki with `args` in `dir` and returns stdout, stderr and the exit code as one text.
fn run(dir: &Path, args: &[&str]) -> String {
    let out = kubepki()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("kubepki runs");
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Filters for what changes from run to run: times, dates, seconds left, serial numbers.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]");
    s.add_filter(r"[A-Z][a-z]{2} \d{2}, \d{4} \d{2}:\d{2} UTC", "[DATE]");
    s.add_filter(r"\d{4}-\d{2}-\d{2}", "[DAY]");
    s.add_filter(
        r#""residualSeconds": -?\d+"#,
        r#""residualSeconds": [SECONDS]"#,
    );
    s.add_filter(
        r"kubepki-backup/\d{8}T\d{6}\.\d{3}Z(-\d+)?",
        "kubepki-backup/[STAMP]",
    );
    s.set_prepend_module_to_snapshot(false);
    s
}

/// A kubeadm tree (ECDSA: quick) in `dir/cluster`, made with the cluster flags of the tests.
fn tree(dir: &Path) {
    let out = run(
        dir,
        &[
            "init",
            "--cert-dir",
            "cluster/pki",
            "--node-name",
            NODE,
            "--apiserver-advertise-address",
            ADVERTISE,
            "--key-algorithm",
            "ECDSA-P256",
        ],
    );
    assert!(out.starts_with("exit: 0"), "{out}");
}

#[test]
fn help_of_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let subcommands = [
        "",
        "init",
        "init-ca",
        "issue",
        "write-kubeconfig",
        "renew",
        "check-expiration",
        "generate-csr",
        "import-signed",
        "csr",
        "sign",
        "issue-cert",
        "inspect",
        "component-flags",
        "audit",
        "bootstrap-token",
        "csr-object make",
        "csr-object sign",
        "csr-object decode",
        "signer",
        "rotate-ca",
    ];
    settings().bind(|| {
        for sub in subcommands {
            let mut args: Vec<&str> = sub.split_whitespace().collect();
            args.push("--help");
            let name = if sub.is_empty() {
                "kubepki".to_string()
            } else {
                sub.replace(' ', "-")
            };
            insta::assert_snapshot!(format!("help-{name}"), run(dir.path(), &args));
        }
    });
}

#[test]
fn init_dry_run_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "init",
        "--dry-run",
        "--cert-dir",
        "cluster/pki",
        "--node-name",
        NODE,
        "--apiserver-advertise-address",
        ADVERTISE,
        "--control-plane-endpoint",
        "lb.example.com:8443",
        "--apiserver-cert-extra-sans",
        "10.0.0.1,api.example.com",
    ];
    settings().bind(|| {
        insta::assert_snapshot!("init-dry-run-text", run(dir.path(), &base));
        let mut json = base.to_vec();
        json.extend(["-o", "json"]);
        insta::assert_snapshot!("init-dry-run-json", run(dir.path(), &json));
    });
    assert!(
        !dir.path().join("cluster").exists(),
        "a dry run writes nothing"
    );
}

#[test]
fn renew_all_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    settings().bind(|| {
        insta::assert_snapshot!(
            "renew-all-dry-run",
            run(
                dir.path(),
                &["renew", "all", "--dry-run", "--cert-dir", "cluster/pki"]
            )
        );
    });
}

#[test]
fn check_expiration_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let out = run(
        dir.path(),
        &[
            "issue",
            "kubelet",
            "--cert-dir",
            "cluster/pki",
            "--node-name",
            "worker-1=10.0.0.11",
        ],
    );
    assert!(out.starts_with("exit: 0"), "{out}");
    settings().bind(|| {
        insta::assert_snapshot!(
            "check-expiration-table",
            run(
                dir.path(),
                &["check-expiration", "--cert-dir", "cluster/pki"]
            )
        );
        insta::assert_snapshot!(
            "check-expiration-json",
            run(
                dir.path(),
                &[
                    "check-expiration",
                    "--cert-dir",
                    "cluster/pki",
                    "-o",
                    "json"
                ]
            )
        );
    });
}
