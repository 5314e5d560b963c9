//! `renew --within DUR` renews only what expires within DUR: a daily timer is a no-op (exit 0,
//! nothing written) until something is due, then renews exactly that.

mod common;

use std::fs;

use common::{init_tree, kubepki};

fn serial(path: &std::path::Path) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn only_what_is_due_is_renewed() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    init_tree(&pki, "ECDSA-P256");
    // One certificate that expires in 5 days.
    for f in ["front-proxy-client.crt", "front-proxy-client.key"] {
        fs::remove_file(pki.join(f)).unwrap();
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
        .arg(&pki)
        .output()
        .unwrap();
    assert!(out.status.success());
    let before_apiserver = fs::read(pki.join("apiserver.crt")).unwrap();
    let before_admin = fs::read(dir.path().join("admin.conf")).unwrap();
    let before_proxy = serial(&pki.join("front-proxy-client.crt"));
    let renew = || {
        kubepki()
            .args(["renew", "all", "--within", "30d", "--cert-dir"])
            .arg(&pki)
            .output()
            .unwrap()
    };
    let out = renew();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_ne!(
        serial(&pki.join("front-proxy-client.crt")),
        before_proxy,
        "the due one is renewed"
    );
    assert_eq!(
        fs::read(pki.join("apiserver.crt")).unwrap(),
        before_apiserver
    );
    assert_eq!(
        fs::read(dir.path().join("admin.conf")).unwrap(),
        before_admin
    );
    assert!(stdout.contains("not due (--within 720h0m0s)"), "{stdout}");
    // The next day: nothing is due; nothing is written; exit 0.
    let mtime = fs::metadata(&pki).unwrap().modified().unwrap();
    let out = renew();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains("renewed"), "{stdout}");
    assert!(!stdout.contains("Restart"), "{stdout}");
    assert_eq!(fs::metadata(&pki).unwrap().modified().unwrap(), mtime);
}
