//! `kubepki rotate-ca`: each phase checked with `openssl verify` (old- and new-generation leaves
//! against the trust bundle; after finish only new ones), each phase run twice changes nothing
//! the second time, `finish` before `reissue` is refused with the list of files, `abort` restores
//! every file byte for byte, and `status` says the phase.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use yaml_serde::Value;

const ALG: &str = "ECDSA-P256";

/// A tree in `<tmp>/pki` with kubeconfigs in `<tmp>` and one worker's kubelet certificates.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = tmp.path().join("pki");
    init_tree(&pki, ALG);
    let out = issue(
        &pki,
        &["kubelet"],
        &["--node-name", "w1=10.0.0.11", "--key-algorithm", ALG],
    );
    assert_success("issue kubelet", &out);
    (tmp, pki)
}

fn rotate(pki: &Path, phase: &str, ca: &str, extra: &[&str]) -> Output {
    kubepki()
        .args(["rotate-ca", phase, "--ca", ca, "--cert-dir"])
        .arg(pki)
        .args(extra)
        .output()
        .expect("kubepki runs")
}

fn rotate_ok(pki: &Path, phase: &str, ca: &str) -> String {
    let out = rotate(pki, phase, ca, &[]);
    assert_success(&format!("rotate-ca {phase} --ca {ca}"), &out);
    stdout(&out)
}

fn status(pki: &Path, ca: &str) -> serde_json::Value {
    let out = rotate(pki, "status", ca, &["-o", "json"]);
    assert_success("rotate-ca status", &out);
    serde_json::from_slice(&out.stdout).expect("status is JSON")
}

fn phase(pki: &Path, ca: &str) -> String {
    status(pki, ca)["certificateAuthorities"][0]["phase"]
        .as_str()
        .expect("phase")
        .to_string()
}

fn certs_in(path: &Path) -> usize {
    fs::read_to_string(path)
        .unwrap_or_default()
        .matches("-----BEGIN CERTIFICATE-----")
        .count()
}

/// `openssl verify -CAfile bundle leaf`.
fn verifies(bundle: &Path, leaf: &Path) -> bool {
    openssl_command()
        .args(["verify", "-CAfile", ps(bundle), ps(leaf)])
        .output()
        .expect("openssl runs")
        .status
        .success()
}

/// A kubeconfig's (certificate-authority-data, client-certificate-data), as PEM text.
fn kubeconfig_pems(path: &Path) -> (String, String) {
    let v: Value = yaml_serde::from_slice(&fs::read(path).expect("kubeconfig")).expect("yaml");
    let field = |section: &str, inner: &str, key: &str| {
        let b64 = v[section][0][inner][key].as_str().expect(key);
        String::from_utf8(BASE64.decode(b64).expect("base64")).expect("PEM")
    };
    (
        field("clusters", "cluster", "certificate-authority-data"),
        field("users", "user", "client-certificate-data"),
    )
}

fn store_backup_dir() -> &'static str {
    kubepki::pki::store::BACKUP_DIR
}

/// A leaf signed by `ca_cert`/`ca_key` with openssl, written to `dir/name.crt`.
fn openssl_leaf(dir: &Path, name: &str, ca_cert: &Path, ca_key: &Path) -> PathBuf {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let crt = dir.join(format!("{name}.crt"));
    openssl_ok([
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        ps(&key),
        "-subj",
        "/CN=test-client",
        "-out",
        ps(&csr),
    ]);
    openssl_ok([
        "x509",
        "-req",
        "-in",
        ps(&csr),
        "-CA",
        ps(ca_cert),
        "-CAkey",
        ps(ca_key),
        "-set_serial",
        "7",
        "-days",
        "1",
        "-out",
        ps(&crt),
    ]);
    crt
}

#[test]
fn phases_verify_with_openssl_and_run_twice_change_nothing() {
    let (tmp, pki) = tree();
    let root = tmp.path();
    let ca = pki.join("ca.crt");
    let old_ca = root.join("old-ca.crt");
    fs::copy(&ca, &old_ca).unwrap();
    let old_leaf = root.join("old-apiserver.crt");
    fs::copy(pki.join("apiserver.crt"), &old_leaf).unwrap();
    let old_client = root.join("old-admin.crt");
    fs::write(&old_client, kubeconfig_pems(&root.join("admin.conf")).1).unwrap();
    assert_eq!(phase(&pki, "ca"), "none");

    // start: both CAs trusted, the controller manager's signing file a single (old) certificate.
    let out = rotate_ok(&pki, "start", "ca");
    assert!(out.contains("--cluster-signing-cert-file="), "{out}");
    assert_eq!(phase(&pki, "ca"), "trusting-both");
    assert_eq!(certs_in(&ca), 2);
    assert_eq!(certs_in(&pki.join("ca.signing.crt")), 1);
    assert_eq!(
        fs::read(pki.join("ca.signing.crt")).unwrap(),
        fs::read(&old_ca).unwrap()
    );
    let new_ca = pki.join("ca.new.crt");
    assert_eq!(mode(&pki.join("ca.new.key")), 0o600);
    let new_leaf = openssl_leaf(root, "new-client", &new_ca, &pki.join("ca.new.key"));
    for leaf in [&old_leaf, &old_client, &new_leaf] {
        assert!(verifies(&ca, leaf), "trusting-both: {}", leaf.display());
    }
    let (admin_ca, _) = kubeconfig_pems(&root.join("admin.conf"));
    assert_eq!(admin_ca.matches("BEGIN CERTIFICATE").count(), 2);
    // Leaves untouched.
    assert_eq!(
        fs::read(pki.join("apiserver.crt")).unwrap(),
        fs::read(&old_leaf).unwrap()
    );
    let before = snapshot(root);
    rotate_ok(&pki, "start", "ca");
    assert_same_tree(&before, &snapshot(root), "start run twice");

    // reissue: every leaf and client certificate signed by the new CA; trust still both.
    rotate_ok(&pki, "reissue", "ca");
    assert_eq!(phase(&pki, "ca"), "reissued");
    assert_eq!(certs_in(&ca), 2);
    assert_eq!(
        fs::read(pki.join("ca.signing.crt")).unwrap(),
        fs::read(&new_ca).unwrap()
    );
    let admin_client = root.join("admin-new.crt");
    fs::write(&admin_client, kubeconfig_pems(&root.join("admin.conf")).1).unwrap();
    for leaf in [
        pki.join("apiserver.crt"),
        pki.join("apiserver-kubelet-client.crt"),
        pki.join("kubelet/w1/kubelet-client.crt"),
        pki.join("kubelet/w1/kubelet.crt"),
        admin_client.clone(),
    ] {
        assert!(
            verifies(&new_ca, &leaf),
            "reissued by new: {}",
            leaf.display()
        );
        assert!(!verifies(&old_ca, &leaf), "not by old: {}", leaf.display());
        assert!(verifies(&ca, &leaf), "bundle: {}", leaf.display());
    }
    assert!(verifies(&ca, &old_leaf), "old generation still trusted");
    let before = snapshot(root);
    rotate_ok(&pki, "reissue", "ca");
    assert_same_tree(&before, &snapshot(root), "reissue run twice");

    // finish: the new CA alone.
    rotate_ok(&pki, "finish", "ca");
    assert_eq!(phase(&pki, "ca"), "none");
    assert_eq!(
        fs::read(&ca).unwrap(),
        fs::read(pki.join("ca.signing.crt")).unwrap()
    );
    assert_eq!(certs_in(&ca), 1);
    assert!(!new_ca.exists() && !pki.join("ca.new.key").exists());
    assert!(verifies(&ca, &admin_client) && verifies(&ca, &new_leaf));
    assert!(!verifies(&ca, &old_leaf) && !verifies(&ca, &old_client));
    let (admin_ca, _) = kubeconfig_pems(&root.join("admin.conf"));
    assert_eq!(admin_ca.matches("BEGIN CERTIFICATE").count(), 1);
    let before = snapshot(root);
    rotate_ok(&pki, "finish", "ca");
    assert_same_tree(&before, &snapshot(root), "finish run twice");
    // The old CA is kept in the backups.
    let backups = snapshot(&pki.join(store_backup_dir()));
    let old = fs::read(&old_ca).unwrap();
    assert!(
        backups
            .values()
            .any(|e| e.contents.as_deref() == Some(&old[..])),
        "the old CA is archived under kubepki-backup"
    );
}

#[test]
fn finish_before_reissue_is_refused_with_the_list() {
    let (tmp, pki) = tree();
    rotate_ok(&pki, "start", "ca");
    // check-expiration understands the bundle: a row for each CA, every leaf valid.
    let out = kubepki()
        .args(["check-expiration", "-o", "json", "--cert-dir"])
        .arg(&pki)
        .output()
        .unwrap();
    assert_success("check-expiration", &out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cas: Vec<&str> = report["certificateAuthorities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(cas.contains(&"ca") && cas.contains(&"ca#2"), "{cas:?}");
    let before = snapshot(tmp.path());
    let out = rotate(&pki, "finish", "ca", &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    for f in [
        "apiserver.crt",
        "apiserver-kubelet-client.crt",
        "kubelet/w1/kubelet-client.crt",
        "admin.conf",
        "super-admin.conf",
        "kubelet.conf",
    ] {
        assert!(err.contains(f), "{f} not listed:\n{err}");
    }
    assert_same_tree(&before, &snapshot(tmp.path()), "refused finish");
}

#[test]
fn abort_restores_every_file_byte_for_byte() {
    for after in ["start", "reissue"] {
        let (tmp, pki) = tree();
        let before = without_backups(snapshot(tmp.path()));
        rotate_ok(&pki, "start", "all");
        if after == "reissue" {
            rotate_ok(&pki, "reissue", "all");
        }
        rotate_ok(&pki, "abort", "all");
        assert_same_tree(&before, &without_backups(snapshot(tmp.path())), after);
        for ca in ["ca", "front-proxy-ca", "etcd-ca"] {
            assert_eq!(phase(&pki, ca), "none");
        }
        let again = snapshot(tmp.path());
        rotate_ok(&pki, "abort", "all");
        assert_same_tree(&again, &snapshot(tmp.path()), "abort run twice");
    }
}

#[test]
fn etcd_and_front_proxy_rotate_alone_and_json_lists_next_steps() {
    let (tmp, pki) = tree();
    let out = issue(
        &pki,
        &["etcd-server", "etcd-peer"],
        &[
            "--node-name",
            "m1=10.0.0.5",
            "--node-name",
            "m2=10.0.0.6",
            "--key-algorithm",
            ALG,
        ],
    );
    assert_success("issue etcd members", &out);
    let member_ca = pki.join("etcd-members/m1/etcd/ca.crt");
    assert_eq!(certs_in(&member_ca), 1);
    let out = rotate(&pki, "start", "etcd-ca", &["-o", "json"]);
    assert_success("start etcd-ca", &out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let steps = doc["nextSteps"].as_array().expect("nextSteps");
    assert!(
        steps[0]
            .as_str()
            .unwrap()
            .starts_with("etcd, one member at a time")
    );
    assert_eq!(phase(&pki, "etcd-ca"), "trusting-both");
    assert_eq!(phase(&pki, "ca"), "none");
    assert_eq!(
        certs_in(&member_ca),
        2,
        "the members' copies of the etcd CA trust both"
    );
    rotate_ok(&pki, "reissue", "etcd-ca");
    for leaf in [
        "etcd-members/m2/etcd/server.crt",
        "etcd-members/m2/etcd/peer.crt",
    ] {
        assert!(
            verifies(&pki.join("etcd/ca.new.crt"), &pki.join(leaf)),
            "{leaf}"
        );
        assert!(verifies(&member_ca, &pki.join(leaf)), "{leaf}");
    }
    let etcd_ca = pki.join("etcd/ca.crt");
    for leaf in [
        "etcd/server.crt",
        "etcd/peer.crt",
        "apiserver-etcd-client.crt",
    ] {
        assert!(
            verifies(&pki.join("etcd/ca.new.crt"), &pki.join(leaf)),
            "{leaf}"
        );
    }
    rotate_ok(&pki, "finish", "etcd-ca");
    assert_eq!(certs_in(&etcd_ca), 1);
    assert_eq!(fs::read(&member_ca).unwrap(), fs::read(&etcd_ca).unwrap());
    assert!(verifies(&etcd_ca, &pki.join("etcd/server.crt")));
    assert!(verifies(
        &member_ca,
        &pki.join("etcd-members/m1/etcd/server.crt")
    ));

    // --dry-run writes nothing.
    let before = snapshot(tmp.path());
    let out = rotate(&pki, "start", "front-proxy-ca", &["--dry-run"]);
    assert_success("dry run", &out);
    assert!(stdout(&out).contains("would replace"), "{}", stdout(&out));
    assert_same_tree(&before, &snapshot(tmp.path()), "dry run");
}

/// A phase killed part-way (after `renames` of its files were renamed into place) is completed by
/// running the same phase again: the journal's renames first, then nothing more to do.
fn crash_then_resume(pki: &Path, phase_name: &str, renames: usize) {
    use clap::Parser;
    kubepki::pki::store::inject_crash_after_renames(Some(renames));
    let args = [
        "kubepki",
        "rotate-ca",
        phase_name,
        "--ca",
        "ca",
        "--cert-dir",
        ps(pki),
    ];
    let cli = kubepki::cli::Cli::try_parse_from(args).expect("parses");
    let err = kubepki::cli::run(cli, time::OffsetDateTime::now_utc())
        .expect_err("the injected crash fails the run");
    assert!(format!("{err:#}").contains("injected crash"), "{err:#}");
    let out = rotate(pki, phase_name, "ca", &[]);
    assert_success(&format!("{phase_name} after a crash"), &out);
    assert!(stderr(&out).contains("[recover]"), "{}", stderr(&out));
}

#[test]
fn a_phase_killed_part_way_is_completed_by_running_it_again() {
    let (tmp, pki) = tree();
    crash_then_resume(&pki, "start", 2);
    assert_eq!(phase(&pki, "ca"), "trusting-both");
    assert_eq!(certs_in(&pki.join("ca.crt")), 2);
    let (admin_ca, _) = kubeconfig_pems(&tmp.path().join("admin.conf"));
    assert_eq!(admin_ca.matches("BEGIN CERTIFICATE").count(), 2);

    crash_then_resume(&pki, "reissue", 3);
    assert_eq!(phase(&pki, "ca"), "reissued");
    let new_ca = pki.join("ca.new.crt");
    for leaf in ["apiserver.crt", "kubelet/w1/kubelet-client.crt"] {
        assert!(verifies(&new_ca, &pki.join(leaf)), "{leaf}");
    }
    let before = snapshot(tmp.path());
    rotate_ok(&pki, "reissue", "ca");
    assert_same_tree(
        &before,
        &snapshot(tmp.path()),
        "reissue after the resumed one",
    );
    rotate_ok(&pki, "finish", "ca");
    assert_eq!(phase(&pki, "ca"), "none");
}

#[test]
fn an_external_ca_is_not_rotated() {
    let (tmp, pki) = tree();
    fs::rename(pki.join("front-proxy-ca.key"), tmp.path().join("kept.key")).unwrap();
    let before = snapshot(tmp.path());
    let out = rotate(&pki, "start", "front-proxy-ca", &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("key is absent"), "{}", stderr(&out));
    assert_same_tree(&before, &snapshot(tmp.path()), "refused start");
}

/// `abort --to trusting-both` from reissued undoes `reissue` only: every file as right after
/// `start` (the old CAs and the old service-account key sign again, trust stays old+new), and a
/// second `abort` then restores the tree as before `start`, byte for byte.
#[test]
fn abort_in_two_steps_goes_back_through_trusting_both() {
    let (tmp, pki) = tree();
    let before = without_backups(snapshot(tmp.path()));
    rotate_ok(&pki, "start", "all");
    let after_start = without_backups(snapshot(tmp.path()));
    rotate_ok(&pki, "reissue", "all");
    let out = rotate(&pki, "abort", "all", &["--to", "trusting-both"]);
    assert_success("abort --to trusting-both", &out);
    let steps = stdout(&out);
    assert!(steps.contains("signed by the old CA"), "{steps}");
    assert!(steps.contains("kubepki rotate-ca abort --ca"), "{steps}");
    assert_same_tree(
        &after_start,
        &without_backups(snapshot(tmp.path())),
        "abort --to trusting-both",
    );
    for ca in ["ca", "front-proxy-ca", "etcd-ca"] {
        assert_eq!(phase(&pki, ca), "trusting-both");
    }
    // The old CA signs every leaf again; the trust bundle still holds both.
    let bundle = pki.join("ca.crt");
    assert_eq!(certs_in(&bundle), 2);
    let scratch = tempfile::tempdir().unwrap();
    let old_only = scratch.path().join("old-only.crt");
    fs::write(
        &old_only,
        fs::read_to_string(&bundle)
            .unwrap()
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .unwrap(),
    )
    .unwrap();
    for leaf in ["apiserver.crt", "kubelet/w1/kubelet-client.crt"] {
        assert!(verifies(&old_only, &pki.join(leaf)), "{leaf}");
    }
    let again = snapshot(tmp.path());
    let out = rotate(&pki, "abort", "all", &["--to", "trusting-both"]);
    assert_success("abort --to trusting-both again", &out);
    assert_same_tree(&again, &snapshot(tmp.path()), "run twice");
    rotate_ok(&pki, "abort", "all");
    assert_same_tree(&before, &without_backups(snapshot(tmp.path())), "abort");
}

/// `--ca all` (the default) rotates what the tree has: a tree without an etcd CA (external etcd)
/// rotates the rest; naming the missing CA is an error that names its file; an empty directory
/// is an error, not a silent no-op.
#[test]
fn all_rotates_what_the_tree_has() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = tmp.path().join("pki");
    init_ca(&pki, ALG);
    fs::remove_dir_all(pki.join("etcd")).expect("no etcd CA");
    rotate_ok(&pki, "start", "all");
    let s = status(&pki, "all");
    let names: Vec<&str> = s["certificateAuthorities"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["ca"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["ca", "front-proxy-ca"]);
    assert_eq!(s["serviceAccountKeys"]["phase"], "trusting-both");
    let out = rotate(&pki, "status", "etcd-ca", &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(ps(&pki.join("etcd/ca.crt"))),
        "{}",
        stderr(&out)
    );
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).expect("mkdir");
    let out = rotate(&empty, "start", "all", &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing to rotate"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fs::read_dir(&empty).expect("dir").count(),
        0,
        "nothing written"
    );
}
