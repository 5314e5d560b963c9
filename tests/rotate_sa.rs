//! `kubepki rotate-ca --ca sa`: the service-account key pair rotated in phases. Each phase is
//! checked with openssl (which public keys `sa.pub` holds, which key `sa.key` is), run twice it
//! changes nothing, `finish` before `reissue` is refused naming `sa.key`, `abort` restores both
//! files byte for byte, `init` reuses the pair in every phase, and a `sa.pub` kubepki did not
//! make is refused with its name. The live proof (tokens verified by the real kube-apiserver
//! across the rotation) is in tests/rotate_ca_control_plane.rs.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

fn tree(alg: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = tmp.path().join("pki");
    init_tree(&pki, alg);
    (tmp, pki)
}

fn rotate(pki: &Path, phase: &str, extra: &[&str]) -> Output {
    kubepki()
        .args(["rotate-ca", phase, "--ca", "sa", "--cert-dir"])
        .arg(pki)
        .args(extra)
        .output()
        .expect("kubepki runs")
}

fn rotate_ok(pki: &Path, phase: &str) -> String {
    let out = rotate(pki, phase, &[]);
    assert_success(&format!("rotate-ca {phase} --ca sa"), &out);
    stdout(&out)
}

fn status(pki: &Path) -> serde_json::Value {
    let out = rotate(pki, "status", &["-o", "json"]);
    assert_success("rotate-ca status --ca sa", &out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status is JSON");
    v["serviceAccountKeys"].clone()
}

/// The public key of a private key file, as openssl prints it (PEM).
fn public_of(key: &Path) -> String {
    openssl_ok(["pkey", "-in", ps(key), "-pubout"])
}

/// Every public key in `sa.pub`, each normalised through `openssl pkey -pubin` (PEM), in order.
fn verifying_keys(sa_pub: &Path) -> Vec<String> {
    let text = fs::read_to_string(sa_pub).expect("sa.pub");
    let dir = tempfile::tempdir().expect("tempdir");
    text.split_inclusive("-----END PUBLIC KEY-----\n")
        .filter(|b| b.contains("BEGIN PUBLIC KEY"))
        .enumerate()
        .map(|(i, block)| {
            let file = dir.path().join(format!("{i}.pem"));
            fs::write(&file, block).expect("write block");
            openssl_ok(["pkey", "-pubin", "-in", ps(&file)])
        })
        .collect()
}

/// An `init` of the same tree plans to reuse every file and writes nothing.
fn init_reuses(tmp: &Path, pki: &Path) {
    let before = snapshot(tmp);
    let out = kubepki()
        .args(["init", "--cert-dir"])
        .arg(pki)
        .arg("--kubeconfig-dir")
        .arg(tmp)
        .args(cluster_args())
        .output()
        .expect("kubepki runs");
    assert_success("init over a tree mid-rotation", &out);
    assert_same_tree(&before, &snapshot(tmp), "init mid-rotation");
}

#[test]
fn phases_checked_with_openssl_and_run_twice_change_nothing() {
    for alg in ["ECDSA-P256", "RSA-2048"] {
        let (tmp, pki) = tree(alg);
        let (key, public, new_key) = (
            pki.join("sa.key"),
            pki.join("sa.pub"),
            pki.join("sa.new.key"),
        );
        let old = public_of(&key);
        assert_eq!(verifying_keys(&public), vec![old.clone()]);
        assert_eq!(status(&pki)["phase"], "none");

        // start: a new key beside the old; sa.pub verifies with both; the old key still signs.
        let steps = rotate_ok(&pki, "start");
        assert!(steps.contains("--service-account-key-file="), "{steps}");
        assert_eq!(mode(&new_key), 0o600, "sa.new.key is private");
        let new = public_of(&new_key);
        assert_ne!(old, new);
        assert_eq!(public_of(&key), old, "sa.key untouched by start");
        assert_eq!(verifying_keys(&public), [old.clone(), new.clone()]);
        assert!(
            openssl_ok(["pkey", "-in", ps(&new_key), "-text", "-noout"]).contains(
                if alg == "RSA-2048" {
                    "2048 bit"
                } else {
                    "prime256v1"
                }
            ),
            "the new key keeps the algorithm of sa.key"
        );
        let s = status(&pki);
        assert_eq!(s["phase"], "trusting-both");
        assert_eq!(s["signs"], "old");
        assert_eq!(s["verifies"], serde_json::json!(["old", "new"]));
        let snap = snapshot(tmp.path());
        rotate_ok(&pki, "start");
        assert_same_tree(&snap, &snapshot(tmp.path()), "start run twice");
        init_reuses(tmp.path(), &pki);

        // reissue: the new key signs; both still verify, sa.key's first (what init reuses).
        let steps = rotate_ok(&pki, "reissue");
        assert!(
            steps.contains("--service-account-private-key-file="),
            "{steps}"
        );
        assert_eq!(mode(&key), 0o600);
        assert_eq!(public_of(&key), new);
        assert_eq!(verifying_keys(&public), [new.clone(), old.clone()]);
        assert_eq!(status(&pki)["phase"], "reissued");
        let snap = snapshot(tmp.path());
        rotate_ok(&pki, "reissue");
        assert_same_tree(&snap, &snapshot(tmp.path()), "reissue run twice");
        init_reuses(tmp.path(), &pki);

        // finish: the new key alone; sa.new.key and the old sa.key only in the backups, 0600.
        rotate_ok(&pki, "finish");
        assert_eq!(verifying_keys(&public), vec![new.clone()]);
        assert_eq!(public_of(&key), new);
        assert!(!new_key.exists(), "sa.new.key archived");
        let backups = pki.join("kubepki-backup");
        let kept: Vec<PathBuf> = fs::read_dir(&backups)
            .expect("backups")
            .flatten()
            .flat_map(|d| {
                ["sa.key", "sa.new.key"]
                    .into_iter()
                    .map(move |f| d.path().join(f))
            })
            .filter(|p| p.exists())
            .collect();
        assert!(
            kept.iter().any(|p| public_of(p) == old),
            "the old key is in a backup"
        );
        for p in &kept {
            assert_eq!(mode(p), 0o600, "{}", p.display());
        }
        let s = status(&pki);
        assert_eq!(s["phase"], "none");
        assert!(s.get("pendingNewKey").is_none());
        let snap = snapshot(tmp.path());
        rotate_ok(&pki, "finish");
        assert_same_tree(&snap, &snapshot(tmp.path()), "finish run twice");
        init_reuses(tmp.path(), &pki);
    }
}

#[test]
fn finish_before_reissue_is_refused_naming_sa_key() {
    let (tmp, pki) = tree("ECDSA-P256");
    rotate_ok(&pki, "start");
    let before = snapshot(tmp.path());
    let out = rotate(&pki, "finish", &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("run `rotate-ca reissue --ca sa` first"),
        "{err}"
    );
    assert!(err.contains(ps(&pki.join("sa.key"))), "{err}");
    assert_same_tree(&before, &snapshot(tmp.path()), "refused finish");
}

#[test]
fn abort_restores_sa_key_and_sa_pub_byte_for_byte() {
    for after in ["start", "reissue"] {
        let (tmp, pki) = tree("ECDSA-P256");
        let before = without_backups(snapshot(tmp.path()));
        rotate_ok(&pki, "start");
        if after == "reissue" {
            rotate_ok(&pki, "reissue");
        }
        let steps = rotate_ok(&pki, "abort");
        assert!(steps.contains("tokens signed with the new key"), "{steps}");
        assert_same_tree(&before, &without_backups(snapshot(tmp.path())), after);
        assert_eq!(status(&pki)["phase"], "none");
        let again = snapshot(tmp.path());
        rotate_ok(&pki, "abort");
        assert_same_tree(&again, &snapshot(tmp.path()), "abort run twice");
    }
}

#[test]
fn a_sa_pub_kubepki_does_not_recognise_is_refused_by_name() {
    let (tmp, pki) = tree("ECDSA-P256");
    let public = pki.join("sa.pub");
    let stranger = tmp.path().join("stranger.key");
    openssl_ok([
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        ps(&stranger),
    ]);
    // sa.key's public half plus a key that is no sa.new.key: not a rotation kubepki made.
    let mut text = fs::read_to_string(&public).expect("sa.pub");
    text.push_str(&public_of(&stranger));
    fs::write(&public, &text).expect("write sa.pub");
    let before = snapshot(tmp.path());
    for phase in ["status", "start", "abort"] {
        let out = rotate(&pki, phase, &[]);
        assert!(!out.status.success(), "{phase} accepted it");
        let err = stderr(&out);
        assert!(err.contains(ps(&public)), "{phase}: {err}");
        assert!(err.contains("2 public key(s)"), "{phase}: {err}");
        assert!(
            !err.contains("BEGIN"),
            "no file contents in the message: {err}"
        );
    }
    // A certificate where a public key belongs.
    fs::copy(pki.join("ca.crt"), &public).expect("copy");
    let out = rotate(&pki, "start", &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("PEM block 1 is not a PUBLIC KEY"), "{err}");
    assert_same_tree(
        &before
            .into_iter()
            .filter(|(k, _)| !k.ends_with("sa.pub"))
            .collect(),
        &snapshot(tmp.path())
            .into_iter()
            .filter(|(k, _)| !k.ends_with("sa.pub"))
            .collect(),
        "refused runs wrote nothing",
    );
}

/// `reissue` killed after its first rename (sa.key is the new key, sa.pub not yet reordered):
/// running it again completes it from the journal, and `finish` then works.
#[test]
fn a_reissue_killed_part_way_is_completed_by_running_it_again() {
    use clap::Parser;
    let (tmp, pki) = tree("ECDSA-P256");
    rotate_ok(&pki, "start");
    let new = public_of(&pki.join("sa.new.key"));
    kubepki::pki::store::inject_crash_after_renames(Some(1));
    let args = [
        "kubepki",
        "rotate-ca",
        "reissue",
        "--ca",
        "sa",
        "--cert-dir",
        ps(&pki),
    ];
    let cli = kubepki::cli::Cli::try_parse_from(args).expect("parses");
    let err = kubepki::cli::run(cli, time::OffsetDateTime::now_utc())
        .expect_err("the injected crash fails the run");
    assert!(format!("{err:#}").contains("injected crash"), "{err:#}");
    let out = rotate(&pki, "reissue", &[]);
    assert_success("reissue after a crash", &out);
    assert!(stderr(&out).contains("[recover]"), "{}", stderr(&out));
    assert_eq!(public_of(&pki.join("sa.key")), new);
    assert_eq!(verifying_keys(&pki.join("sa.pub"))[0], new);
    assert_eq!(status(&pki)["phase"], "reissued");
    let before = snapshot(tmp.path());
    rotate_ok(&pki, "reissue");
    assert_same_tree(
        &before,
        &snapshot(tmp.path()),
        "reissue after the resumed one",
    );
    rotate_ok(&pki, "finish");
    assert_eq!(verifying_keys(&pki.join("sa.pub")), vec![new]);
}
