//! `rotate-ca abort --ca all` from each phase on a running control plane (Debian's etcd, the real
//! kube-apiserver and kube-controller-manager v1.22.3), restarting the components as kubepki's
//! next steps say (issue 16: "abort from each phase restores the old CA and every old file byte
//! for byte"). One control plane serves both walks (trusting-both, then reissued) to keep the
//! run short. After each abort: the tree equals the one before the rotation byte for byte (apart
//! from the backups), the rotation's own files are archived, a kubeconfig of the old generation
//! works, the controller manager signs with the original CA, `status` says phase none, and the
//! API server logs no TLS error except the refusal the test provokes.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::control_plane::{ControlPlane, k8s_binaries};
use common::{Entry, assert_same_tree, free_ports, kubepki, snapshot, without_backups};

/// The three CAs `--ca all` rotates, as `status` names them.
const CAS: [&str; 3] = ["ca", "front-proxy-ca", "etcd-ca"];

/// `kubepki rotate-ca <phase> --ca all -o json` on the tree; its next steps, in order.
fn rotate(root: &Path, phase: &str) -> Vec<String> {
    let out = kubepki()
        .args([
            "rotate-ca",
            phase,
            "--ca",
            "all",
            "-o",
            "json",
            "--cert-dir",
        ])
        .arg(root.join("pki"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rotate-ca {phase}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    json["nextSteps"]
        .as_array()
        .unwrap_or_else(|| panic!("rotate-ca {phase}: no nextSteps in {json}"))
        .iter()
        .map(|s| s.as_str().expect("a step is a string").to_string())
        .collect()
}

/// The phase `rotate-ca status -o json` gives each of the three CAs.
fn phases(root: &Path) -> BTreeMap<String, String> {
    let out = kubepki()
        .args([
            "rotate-ca",
            "status",
            "--ca",
            "all",
            "-o",
            "json",
            "--cert-dir",
        ])
        .arg(root.join("pki"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let all = json["certificateAuthorities"].as_array().expect("a list");
    CAS.iter()
        .map(|ca| {
            let entry = all
                .iter()
                .find(|e| e["ca"] == *ca)
                .unwrap_or_else(|| panic!("status has no {ca}: {json}"));
            (ca.to_string(), entry["phase"].as_str().unwrap().to_string())
        })
        .collect()
}

fn assert_phase(root: &Path, phase: &str) {
    let got = phases(root);
    assert!(
        got.values().all(|p| p == phase),
        "expected {phase}: {got:?}"
    );
}

fn readyz(cp: &ControlPlane, kubeconfig: &Path) -> Result<(), String> {
    let out = cp.kubectl(kubeconfig.to_str().unwrap(), &["get", "--raw", "/readyz"]);
    if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok" {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The components this harness runs, restarted as `steps` say, in their order; returns what it
/// did (for the test to assert), e.g. `["etcd", "kcm signing with .../ca.crt", ...]`. A step
/// restarts the components its subject (the text before the first `": "`) names; one for
/// components the harness does not run (kubelets, pods, the cluster-info ConfigMap) is skipped,
/// and one it does not recognise fails the test, so a new step cannot go unnoticed.
fn follow(
    cp: &mut ControlPlane,
    kcm: &Path,
    signing: &mut PathBuf,
    restarts: &mut usize,
    steps: &[String],
) -> Vec<String> {
    const ELSEWHERE: [&str; 9] = [
        "kubelets",
        "pods using in-cluster config",
        "kube-public/cluster-info ConfigMap",
        "service-account tokens",
        "hand out the",
        "then",
        "check that no component logs TLS errors, then",
        "the old CA is the only CA again",
        "the rotation is complete",
    ];
    let mut done = Vec::new();
    for step in steps {
        let subject = step.split(": ").next().unwrap_or_default();
        let etcd = subject.starts_with("etcd");
        let apiserver = subject.contains("kube-apiserver");
        let controller_manager = subject.contains("kube-controller-manager");
        assert!(
            etcd || apiserver
                || controller_manager
                || ELSEWHERE.iter().any(|p| subject.starts_with(p)),
            "a step this test does not know how to follow: {step}"
        );
        *restarts += 1;
        if etcd {
            cp.restart_etcd(*restarts);
            done.push("etcd".to_string());
        }
        // The API server first when a step names both: the controller manager then starts
        // against the API server it will keep talking to.
        if apiserver {
            cp.restart_apiserver(*restarts);
            done.push("kube-apiserver".to_string());
        }
        if controller_manager {
            let flag = "--cluster-signing-cert-file=";
            if let Some(at) = step.find(flag) {
                let file = step[at + flag.len()..].split_whitespace().next().unwrap();
                *signing = PathBuf::from(file);
                done.push(format!("kcm signing with {}", signing.display()));
            } else {
                done.push("kcm".to_string());
            }
            // No scheduler runs here; the controller manager rereads its kubeconfig and files.
            cp.start_controller_manager_signing_with(kcm, signing.to_str().unwrap());
        }
    }
    done
}

/// Every CA's files changed, so the steps restart etcd, the API server and the controller
/// manager, the last one signing with `signing`.
fn assert_restarted(done: &[String], signing: &Path, steps: &[String]) {
    let kcm = format!("kcm signing with {}", signing.display());
    for component in ["etcd", "kube-apiserver", kcm.as_str()] {
        assert!(
            done.iter().any(|d| d == component),
            "no {component} in {done:?}, from {steps:#?}"
        );
    }
}

/// The tree kubepki manages in `root` (pki/ and the kubeconfigs), without the backups and the
/// running components' files (etcd's data, the logs, kubectl's cache under HOME=root).
fn tree(root: &Path) -> BTreeMap<String, Entry> {
    let mut snap = without_backups(snapshot(root));
    snap.retain(|k, _| {
        let first = k.split('/').next().unwrap_or_default();
        !(first == "etcd-data" || first == ".kube" || (!k.contains('/') && k.ends_with(".log")))
    });
    snap
}

/// The newest backup directory below `dir/kubepki-backup` (stamps sort by time).
fn newest_backup(dir: &Path) -> PathBuf {
    let backups = dir.join(kubepki::pki::store::BACKUP_DIR);
    let newest = fs::read_dir(&backups)
        .unwrap_or_else(|e| panic!("{}: {e}", backups.display()))
        .map(|e| e.unwrap().file_name())
        .max()
        .expect("a backup directory");
    backups.join(newest)
}

/// The TLS and certificate errors in a kube-apiserver log: handshake failures (logged with
/// `--vmodule=secure_serving=5`), client certificates the authenticator refused, and failed
/// handshakes with etcd.
fn tls_errors(log: &str) -> Vec<&str> {
    const SIGNS: [&str; 6] = [
        "tls handshake error",
        "x509:",
        "unable to authenticate",
        "authentication handshake failed",
        "bad certificate",
        "unknown authority",
    ];
    log.lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            SIGNS.iter().any(|s| l.contains(s))
        })
        .collect()
}

fn openssl_verify(ca: &Path, cert: &Path) -> std::process::Output {
    Command::new("openssl")
        .args(["verify", "-x509_strict", "-CAfile"])
        .arg(ca)
        .arg(cert)
        .output()
        .unwrap()
}

/// What the test keeps of the generation before the rotation, outside the tree.
struct Before {
    tree: BTreeMap<String, Entry>,
    /// A copy of pki/ca.crt.
    ca: PathBuf,
    /// A copy of super-admin.conf.
    kubeconfig: PathBuf,
}

/// Everything an abort must give back, checked on the running components after the restarts
/// the abort printed. `added` holds the files the rotation added (path in the tree, bytes) and
/// `new_ca` a copy of the pending new cluster CA; returns how long the API server log is once
/// it settled (all clean up to there).
fn check_restored(
    cp: &ControlPlane,
    before: &Before,
    added: &BTreeMap<String, Vec<u8>>,
    new_ca: &Path,
    aside: &Path,
    walk: &str,
) -> usize {
    let root = &cp.root;
    assert_same_tree(&before.tree, &tree(root), &format!("abort from {walk}"));
    // The rotation's files are not left in place (the snapshot above) but archived by the abort
    // run, the newest backup, unchanged and as private as they were.
    for (path, bytes) in added {
        let (dir, rel) = match path.strip_prefix("pki/") {
            Some(rel) => (root.join("pki"), rel),
            None => (root.to_path_buf(), path.as_str()),
        };
        let archived = newest_backup(&dir).join(rel);
        let kept = fs::read(&archived)
            .unwrap_or_else(|e| panic!("{path} not archived at {}: {e}", archived.display()));
        assert!(kept == *bytes, "{path}: the archive differs");
        if path.ends_with(".key") {
            assert_eq!(common::mode(&archived), 0o600, "{}", archived.display());
        }
    }
    assert_phase(root, "none");
    readyz(cp, &before.kubeconfig).expect("the old generation's kubeconfig works again");
    // The controller manager, back on ca.crt (one certificate again), signs with the original
    // CA: its certificate verifies against the copy taken before the rotation, not the new CA.
    let crt = cp.controller_manager_signs(
        before.kubeconfig.to_str().unwrap(),
        &format!("after-abort-from-{walk}"),
        aside,
    );
    let verify = openssl_verify(&before.ca, &crt);
    assert!(verify.status.success(), "{walk}: {verify:?}");
    assert!(
        !openssl_verify(new_ca, &crt).status.success(),
        "{walk}: the controller manager signed with the aborted CA"
    );
    // Settled (the controller manager has talked to it for a while): no TLS error at all.
    let log = fs::read_to_string(&cp.apiserver.log).unwrap();
    let errors = tls_errors(&log);
    assert!(
        errors.is_empty(),
        "{walk}: TLS errors after the abort:\n{}",
        errors.join("\n")
    );
    log.len()
}

#[test]
fn abort_from_each_phase_restores_the_live_control_plane() {
    let Some((apiserver, kcm)) = k8s_binaries("rotate_ca_abort_live") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let aside_dir = tempfile::tempdir().unwrap();
    let aside = aside_dir.path();
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let out = kubepki()
        .args([
            "init",
            "--node-name",
            "cp-1",
            "--apiserver-advertise-address",
        ])
        .args(["127.0.0.1", "--apiserver-bind-port", &port.to_string()])
        .args(["--key-algorithm", "ECDSA-P256", "--cert-dir"])
        .arg(root.join("pki"))
        .output()
        .unwrap();
    assert!(out.status.success(), "init: {out:?}");
    let mut cp = ControlPlane::start(root, port, &apiserver);
    let pki = root.join("pki");
    let mut signing = pki.join("ca.crt");
    cp.start_controller_manager_signing_with(&kcm, signing.to_str().unwrap());
    let before = Before {
        tree: tree(root),
        ca: aside.join("ca-before.crt"),
        kubeconfig: aside.join("super-admin-before.conf"),
    };
    fs::copy(pki.join("ca.crt"), &before.ca).unwrap();
    fs::copy(root.join("super-admin.conf"), &before.kubeconfig).unwrap();
    let mut restarts = 0;
    let added = |root: &Path| -> BTreeMap<String, Vec<u8>> {
        let now = tree(root);
        now.into_iter()
            .filter(|(k, _)| !before.tree.contains_key(k))
            .map(|(k, e)| (k, e.contents.expect("a file")))
            .collect()
    };

    // ---- Abort from trusting-both.
    let steps = rotate(root, "start");
    let done = follow(&mut cp, &kcm, &mut signing, &mut restarts, &steps);
    assert_restarted(&done, &pki.join("ca.signing.crt"), &steps);
    assert_phase(root, "trusting-both");
    readyz(&cp, &root.join("super-admin.conf")).expect("the new kubeconfig works");
    readyz(&cp, &before.kubeconfig).expect("the old kubeconfig works while trusting both");
    let rotation_files = added(root);
    let names: Vec<&String> = rotation_files.keys().collect();
    assert!(
        ["pki/ca.signing.crt", "pki/ca.new.crt", "pki/ca.new.key"]
            .iter()
            .all(|f| names.contains(&&f.to_string())),
        "start added: {names:?}"
    );
    let new_ca = aside.join("ca-new-1.crt");
    fs::write(&new_ca, &rotation_files["pki/ca.new.crt"]).unwrap();

    let steps = rotate(root, "abort");
    let done = follow(&mut cp, &kcm, &mut signing, &mut restarts, &steps);
    // The controller manager goes back to ca.crt.
    assert_restarted(&done, &pki.join("ca.crt"), &steps);
    check_restored(
        &cp,
        &before,
        &rotation_files,
        &new_ca,
        aside,
        "trusting-both",
    );

    // ---- Abort from reissued (the same control plane, back on the tree of before).
    let steps = rotate(root, "start");
    follow(&mut cp, &kcm, &mut signing, &mut restarts, &steps);
    readyz(&cp, &root.join("super-admin.conf")).expect("the new kubeconfig works");
    let steps = rotate(root, "reissue");
    let done = follow(&mut cp, &kcm, &mut signing, &mut restarts, &steps);
    assert_restarted(&done, &pki.join("ca.signing.crt"), &steps);
    assert_phase(root, "reissued");
    let new_generation = aside.join("super-admin-new.conf");
    fs::copy(root.join("super-admin.conf"), &new_generation).unwrap();
    readyz(&cp, &new_generation).expect("the reissued kubeconfig works");
    let rotation_files = added(root);
    let new_ca = aside.join("ca-new-2.crt");
    fs::write(&new_ca, &rotation_files["pki/ca.new.crt"]).unwrap();

    let steps = rotate(root, "abort");
    let done = follow(&mut cp, &kcm, &mut signing, &mut restarts, &steps);
    assert_restarted(&done, &pki.join("ca.crt"), &steps);
    let clean = check_restored(&cp, &before, &rotation_files, &new_ca, aside, "reissued");

    // The new generation is refused, and with 401 rather than a TLS failure: its
    // certificate-authority-data is the old+new bundle, so kubectl still verifies the restored
    // serving certificate (signed by the old CA); what fails is its client certificate, signed by
    // the aborted CA, which the API server's --client-ca-file (the old CA alone again) no longer
    // verifies. The API server requests client certificates without requiring them, so the
    // handshake completes and the x509 authenticator refuses the request. Both halves are
    // checked with openssl below.
    let err = readyz(&cp, &new_generation).expect_err("the new generation must be refused");
    assert!(
        (err.contains("Unauthorized") || err.contains("401"))
            && !err.contains("x509")
            && !err.contains("tls:"),
        "not a 401 after a completed handshake: {err}"
    );
    let (client, trust) = kubeconfig_parts(&new_generation, aside);
    assert!(openssl_verify(&new_ca, &client).status.success());
    assert!(!openssl_verify(&before.ca, &client).status.success());
    assert!(
        openssl_verify(&trust, &pki.join("apiserver.crt"))
            .status
            .success()
    );
    // In the API server's log, the refusal above and nothing else.
    let log = fs::read_to_string(&cp.apiserver.log).unwrap();
    let errors = tls_errors(&log[clean..]);
    assert!(
        !errors.is_empty()
            && errors
                .iter()
                .all(|l| l.contains("Unable to authenticate the request")
                    && l.contains("certificate signed by unknown authority")),
        "expected only the provoked refusal:\n{}",
        errors.join("\n")
    );
}

/// The client certificate and the CA bundle of a kubeconfig's current user and cluster,
/// written beside it in `dir` (read as plain YAML, not through kubepki).
fn kubeconfig_parts(kubeconfig: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    let doc = common::read_yaml(kubeconfig);
    let field = |list: &str, key: &str| {
        let b64 = doc[list][0][&list[..list.len() - 1]][key]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no {list}[0].{key}", kubeconfig.display()));
        BASE64.decode(b64).unwrap()
    };
    let client = dir.join("client.crt");
    let trust = dir.join("trust.crt");
    fs::write(&client, field("users", "client-certificate-data")).unwrap();
    fs::write(&trust, field("clusters", "certificate-authority-data")).unwrap();
    (client, trust)
}
