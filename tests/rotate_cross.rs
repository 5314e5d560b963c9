//! `kubepki rotate-ca start --cross-sign`: the new CA cross-signed by the old one. Checked with
//! openssl: the cross-signed certificate is the new CA's subject and key under the old CA's
//! signature; after `reissue` every re-signed certificate verifies against the old CA alone
//! through the chain its own file carries (and against the new CA alone); `finish` takes the
//! cross-signed CA out of every file, after which the old CA alone no longer verifies them;
//! `abort` restores byte for byte; check-expiration and audit accept a cross-signed tree; a
//! cross-signed file that is not what kubepki wrote is refused by name. The live proof (a
//! kubeconfig trusting only the old CA keeps working through reissue) is in
//! tests/rotate_ca_control_plane.rs.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

const ALG: &str = "ECDSA-P256";

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

fn rotate(pki: &Path, args: &[&str]) -> Output {
    kubepki()
        .arg("rotate-ca")
        .args(args)
        .arg("--cert-dir")
        .arg(pki)
        .output()
        .expect("kubepki runs")
}

fn rotate_ok(pki: &Path, args: &[&str]) -> String {
    let out = rotate(pki, args);
    assert_success(&format!("rotate-ca {args:?}"), &out);
    stdout(&out)
}

/// `openssl verify -x509_strict -CAfile ca [-untrusted file] file`: the file's own chain used
/// when `with_chain`.
fn verifies(ca: &Path, file: &Path, with_chain: bool) -> bool {
    let mut cmd = openssl_command();
    cmd.args(["verify", "-x509_strict", "-CAfile", ps(ca)]);
    if with_chain {
        cmd.args(["-untrusted", ps(file)]);
    }
    cmd.arg(file)
        .output()
        .expect("openssl runs")
        .status
        .success()
}

fn field(cert: &Path, what: &str) -> String {
    openssl_ok(["x509", "-in", ps(cert), "-noout", what])
}

fn ext(cert: &Path, name: &str) -> String {
    openssl_ok(["x509", "-in", ps(cert), "-noout", "-ext", name])
        .lines()
        .skip(1)
        .map(str::trim)
        .collect()
}

fn certs_in(path: &Path) -> usize {
    fs::read_to_string(path)
        .unwrap_or_default()
        .matches("-----BEGIN CERTIFICATE-----")
        .count()
}

/// The leaves of each CA that reissue re-signs and carry the cross-signed CA.
fn leaves(ca: &str) -> &'static [&'static str] {
    match ca {
        "ca" => &[
            "apiserver.crt",
            "apiserver-kubelet-client.crt",
            "kubelet/w1/kubelet.crt",
            "kubelet/w1/kubelet-client.crt",
        ],
        "front-proxy-ca" => &["front-proxy-client.crt"],
        _ => &[
            "etcd/server.crt",
            "etcd/peer.crt",
            "etcd/healthcheck-client.crt",
            "apiserver-etcd-client.crt",
        ],
    }
}

fn ca_file(ca: &str) -> &'static str {
    match ca {
        "ca" => "ca",
        "front-proxy-ca" => "front-proxy-ca",
        _ => "etcd/ca",
    }
}

#[test]
fn cross_signed_rotation_checked_with_openssl() {
    for ca in ["ca", "etcd-ca", "front-proxy-ca"] {
        let (tmp, pki) = tree();
        let stem = ca_file(ca);
        let old_ca = tmp.path().join("old-ca.crt");
        fs::copy(pki.join(format!("{stem}.crt")), &old_ca).expect("copy");

        rotate_ok(&pki, &["start", "--ca", ca, "--cross-sign"]);
        let (cross, new_ca) = (
            pki.join(format!("{stem}.cross.crt")),
            pki.join(format!("{stem}.new.crt")),
        );
        // The new CA's subject and key, under the old CA's name and signature.
        assert_eq!(
            field(&cross, "-subject"),
            field(&new_ca, "-subject"),
            "{ca}"
        );
        assert_eq!(
            field(&cross, "-issuer").replace("issuer=", ""),
            field(&old_ca, "-subject").replace("subject=", ""),
            "{ca}"
        );
        assert_eq!(field(&cross, "-pubkey"), field(&new_ca, "-pubkey"), "{ca}");
        assert_eq!(
            ext(&cross, "subjectKeyIdentifier"),
            ext(&new_ca, "subjectKeyIdentifier")
        );
        assert_eq!(
            ext(&cross, "authorityKeyIdentifier"),
            ext(&old_ca, "subjectKeyIdentifier")
        );
        assert!(ext(&cross, "basicConstraints").contains("CA:TRUE"));
        assert!(verifies(&old_ca, &cross, false), "{ca}: cross against old");
        assert!(!verifies(&new_ca, &cross, false), "{ca}: not self-signed");
        let status = rotate_ok(&pki, &["status", "--ca", ca]);
        assert!(status.contains("cross-signed by the old CA"), "{status}");

        // reissue: each re-signed file carries the cross-signed CA after its certificate.
        let steps = rotate_ok(&pki, &["reissue", "--ca", ca]);
        assert!(!steps.is_empty());
        for leaf in leaves(ca) {
            let path = pki.join(leaf);
            assert_eq!(certs_in(&path), 2, "{ca}: {leaf}");
            assert!(verifies(&old_ca, &path, true), "{ca}: {leaf} via cross");
            assert!(
                !verifies(&old_ca, &path, false),
                "{ca}: {leaf} is not signed by the old CA itself"
            );
            assert!(verifies(&new_ca, &path, false), "{ca}: {leaf} by new");
        }
        let json: serde_json::Value =
            serde_json::from_slice(&rotate(&pki, &["status", "--ca", ca, "-o", "json"]).stdout)
                .expect("json");
        let files = json["certificateAuthorities"][0]["files"]
            .as_array()
            .expect("files");
        assert!(
            files.iter().any(|f| f["crossSignedChain"] == true),
            "{json}"
        );
        // The tree is sound mid-rotation for check-expiration and audit.
        let ce = kubepki()
            .args(["check-expiration", "--cert-dir"])
            .arg(&pki)
            .arg("--kubeconfig-dir")
            .arg(tmp.path())
            .output()
            .expect("runs");
        assert_success("check-expiration mid-rotation", &ce);
        assert!(!stdout(&ce).contains("MISSING"), "{}", stdout(&ce));
        let audit = kubepki()
            .args(["audit", "--cert-dir"])
            .arg(&pki)
            .arg("--kubeconfig-dir")
            .arg(tmp.path())
            .output()
            .expect("runs");
        assert_success("audit mid-rotation", &audit);

        // `renew` mid-rotation keeps the chain reissue wrote.
        let renewed = pki.join(leaves(ca)[0]);
        let before = fs::read(&renewed).expect("leaf");
        let out = kubepki()
            .args(["renew", "all", "--cert-dir"])
            .arg(&pki)
            .arg("--kubeconfig-dir")
            .arg(tmp.path())
            .output()
            .expect("runs");
        assert_success("renew all mid-rotation", &out);
        assert_ne!(fs::read(&renewed).expect("leaf"), before, "{ca}: renewed");
        assert_eq!(
            certs_in(&renewed),
            2,
            "{ca}: renew keeps the cross-signed CA"
        );
        assert!(
            verifies(&old_ca, &renewed, true),
            "{ca}: renewed, via cross"
        );

        // finish: the cross-signed CA leaves every file and is archived.
        let steps = rotate_ok(&pki, &["finish", "--ca", ca]);
        assert!(
            ca != "etcd-ca" || steps.contains("etcd/server.crt"),
            "finish says the members' certificates changed: {steps}"
        );
        assert!(!cross.exists(), "{ca}: cross-signed CA archived");
        let ca_now = pki.join(format!("{stem}.crt"));
        for leaf in leaves(ca) {
            let path = pki.join(leaf);
            assert_eq!(certs_in(&path), 1, "{ca}: {leaf}");
            assert!(!verifies(&old_ca, &path, true), "{ca}: {leaf}");
            assert!(verifies(&ca_now, &path, false), "{ca}: {leaf}");
        }
        let snap = snapshot(tmp.path());
        rotate_ok(&pki, &["finish", "--ca", ca]);
        assert_same_tree(&snap, &snapshot(tmp.path()), "finish run twice");
    }
}

#[test]
fn abort_of_a_cross_signed_rotation_restores_byte_for_byte() {
    let (tmp, pki) = tree();
    let before = without_backups(snapshot(tmp.path()));
    rotate_ok(&pki, &["start", "--ca", "all", "--cross-sign"]);
    rotate_ok(&pki, &["reissue", "--ca", "all"]);
    rotate_ok(&pki, &["abort", "--ca", "all"]);
    assert_same_tree(&before, &without_backups(snapshot(tmp.path())), "abort");
}

#[test]
fn a_cross_signed_file_kubepki_did_not_write_is_refused_by_name() {
    let (tmp, pki) = tree();
    rotate_ok(&pki, &["start", "--ca", "ca", "--cross-sign"]);
    // The new CA itself (self-signed) where the cross-signed one belongs.
    let cross = pki.join("ca.cross.crt");
    fs::copy(pki.join("ca.new.crt"), &cross).expect("copy");
    let before = snapshot(tmp.path());
    for phase in ["status", "reissue"] {
        let out = rotate(&pki, &[phase, "--ca", "ca"]);
        assert!(!out.status.success(), "{phase} accepted it");
        let err = stderr(&out);
        assert!(err.contains(ps(&cross)), "{phase}: {err}");
        assert!(
            err.contains("cross-signed by the old one"),
            "{phase}: {err}"
        );
    }
    assert_same_tree(&before, &snapshot(tmp.path()), "refused");
}
