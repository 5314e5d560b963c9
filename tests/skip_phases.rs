//! `init --skip-phases`, with kubeadm's phase names: certificates only, one step left out, and an
//! unknown phase refused with the list of phases.

mod common;

use common::{cluster_args, kubepki};

#[test]
fn phases_are_skipped_as_kubeadm_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let init = |skip: &str| {
        kubepki()
            .arg("init")
            .arg("--cert-dir")
            .arg(&pki)
            .args(cluster_args())
            .args(["--key-algorithm", "ECDSA-P256", "--skip-phases", skip])
            .output()
            .unwrap()
    };
    // kubeadm init phase certs all: no kubeconfig.
    let out = init("kubeconfig");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(pki.join("ca.crt").exists() && pki.join("sa.key").exists());
    assert!(!dir.path().join("admin.conf").exists());
    // No kubeconfig at all is written next to the certificate directory.
    let confs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    assert!(confs.is_empty(), "kubeconfigs written: {confs:?}");
    // Then the kubeconfigs but admin.conf.
    let out = init("certs,kubeconfig/admin");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("super-admin.conf").exists());
    assert!(!dir.path().join("admin.conf").exists());
    for conf in [
        "super-admin.conf",
        "controller-manager.conf",
        "scheduler.conf",
        "kubelet.conf",
    ] {
        assert!(dir.path().join(conf).is_file(), "{conf} missing");
    }
    // A phase kubeadm does not have.
    let out = init("certs/nope");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--skip-phases") && err.contains("kubeconfig/admin"),
        "{err}"
    );
}
