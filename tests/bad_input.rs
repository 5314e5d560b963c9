//! Bad input: every refusal names the flag or file at fault, exits with its documented code
//! (src/exit.rs: 1 I/O, 2 usage, 3 conflict, 4 unusable file), and leaves the directory exactly
//! as it was. Also: CAs made by hand with openssl are usable.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::*;

const USAGE: i32 = 2;
const CONFLICT: i32 = 3;
const BAD_FILE: i32 = 4;
const IO: i32 = 1;

fn run(args: &[&str]) -> Output {
    kubepki().args(args).output().expect("kubepki runs")
}

/// Asserts a refusal: the exit code, every needle in stderr, and no "[certs]" report of work
/// done on stdout.
fn assert_refused(what: &str, out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: exit code\nstdout:\n{}\nstderr:\n{err}",
        stdout(out)
    );
    for needle in needles {
        assert!(
            err.contains(needle),
            "{what}: the error must mention {needle:?}:\n{err}"
        );
    }
    assert!(
        !stdout(out).contains("[certs]"),
        "{what}: a refused run reports no work:\n{}",
        stdout(out)
    );
}

/// A complete ECDSA-P256 tree in `<tmp>/pki` (ECDSA: fast, and the algorithm does not matter).
fn tree(tmp: &Path) -> std::path::PathBuf {
    let pki = tmp.join("pki");
    init_tree(&pki, "ECDSA-P256");
    pki
}

/// A malformed cluster flag is refused by `init` on an empty directory (which is not even
/// created) and by `issue all` on an existing tree (which is left as it was).
fn refused_flag(flag: &str, value: &str, needles: &[&str]) {
    // The flags every run needs, minus the one under test (clap refuses a flag given twice).
    let mut base: Vec<&str> = vec![
        "--node-name",
        NODE,
        "--apiserver-advertise-address",
        ADVERTISE,
        "--key-algorithm",
        "ECDSA-P256",
    ];
    if let Some(i) = base.iter().position(|a| *a == flag) {
        base.drain(i..i + 2);
    }

    // `--flag=value`, so a value starting with '-' is not taken for a flag.
    let pair = format!("{flag}={value}");
    let empty = tempfile::tempdir().unwrap();
    let pki = empty.path().join("pki");
    let mut args = vec!["init", "--cert-dir", ps(&pki)];
    args.extend(&base);
    args.push(&pair);
    let out = run(&args);
    assert_refused(&format!("init {flag} {value}"), &out, USAGE, needles);
    assert!(
        snapshot(empty.path()).is_empty(),
        "init {flag} {value}: nothing may be created"
    );

    let tmp = tempfile::tempdir().unwrap();
    let pki = tree(tmp.path());
    let before = snapshot(tmp.path());
    let mut args = vec!["issue", "all", "--force", "--cert-dir", ps(&pki)];
    args.extend(&base);
    args.push(&pair);
    let out = run(&args);
    assert_refused(&format!("issue all {flag} {value}"), &out, USAGE, needles);
    assert_same_tree(
        &before,
        &snapshot(tmp.path()),
        &format!("issue all {flag} {value}"),
    );
}

#[test]
fn malformed_advertise_address_is_a_usage_error() {
    refused_flag(
        "--apiserver-advertise-address",
        "192.168.1.300",
        &["--apiserver-advertise-address", "192.168.1.300"],
    );
    refused_flag(
        "--apiserver-advertise-address",
        "node-1.example.com",
        &["--apiserver-advertise-address", "node-1.example.com"],
    );
}

#[test]
fn malformed_service_cidr_is_a_usage_error() {
    refused_flag(
        "--service-cidr",
        "10.96.0.0/33",
        &["--service-cidr", "10.96.0.0/33"],
    );
    refused_flag(
        "--service-cidr",
        "10.96.0.0",
        &["--service-cidr", "10.96.0.0"],
    );
}

#[test]
fn malformed_extra_san_is_a_usage_error() {
    refused_flag(
        "--apiserver-cert-extra-sans",
        "api.example.com,Bad_Name",
        &["--apiserver-cert-extra-sans", "Bad_Name"],
    );
    refused_flag(
        "--apiserver-cert-extra-sans",
        "-leading-dash.example.com",
        &["--apiserver-cert-extra-sans", "-leading-dash.example.com"],
    );
}

#[test]
fn unknown_name_for_issue_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tree(tmp.path());
    let before = snapshot(tmp.path());
    let mut args = vec!["issue", "apiserver", "apiserverr", "--cert-dir", ps(&pki)];
    args.extend(cluster_args());
    let out = run(&args);
    // The valid list is in the message, so a typo is easy to fix.
    assert_refused(
        "issue apiserverr",
        &out,
        USAGE,
        &["\"apiserverr\"", "apiserver-kubelet-client"],
    );
    assert_same_tree(&before, &snapshot(tmp.path()), "issue apiserverr");
}

#[test]
fn a_ca_name_given_to_issue_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tree(tmp.path());
    let before = snapshot(tmp.path());
    for ca in ["ca", "front-proxy-ca", "etcd-ca"] {
        let mut args = vec!["issue", ca, "--force", "--cert-dir", ps(&pki)];
        args.extend(cluster_args());
        let out = run(&args);
        assert_refused(
            &format!("issue {ca}"),
            &out,
            USAGE,
            &[ca, "is a CA", "init-ca"],
        );
    }
    assert_same_tree(&before, &snapshot(tmp.path()), "issue <CA>");
}

#[test]
fn issue_without_a_ca_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    let mut args = vec!["issue", "apiserver", "--cert-dir", ps(&pki)];
    args.extend(cluster_args());
    let out = run(&args);
    assert_refused("issue without CA", &out, BAD_FILE, &["ca.crt", "init-ca"]);
    assert!(snapshot(tmp.path()).is_empty(), "nothing may be created");
}

/// A cert-dir below a regular file cannot be created; running as root, permissions would not
/// stop kubepki, so this is the portable unwritable directory.
fn unwritable_setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("x").join("file");
    fs::create_dir(tmp.path().join("x")).unwrap();
    fs::write(&file, b"a regular file\n").unwrap();
    let pki = file.join("pki");
    (tmp, pki)
}

#[test]
fn unwritable_cert_dir_is_refused_and_nothing_is_written() {
    let (tmp, pki) = unwritable_setup();
    let before = snapshot(tmp.path());
    for sub in ["init", "init-ca"] {
        let mut args = vec![sub, "--cert-dir", ps(&pki), "--key-algorithm", "ECDSA-P256"];
        if sub == "init" {
            args.extend(cluster_args());
        }
        let out = run(&args);
        assert_refused(sub, &out, IO, &["x/file/pki", "Not a directory"]);
        assert_same_tree(&before, &snapshot(tmp.path()), sub);
    }
}

/// Found while writing the test above: the OS error is printed twice, once by kubepki's
/// `Error::Io` Display (which embeds `{source}`) and once more by anyhow's `{:#}` chain
/// (because the same error is also its `#[source]`).
#[test]
fn io_errors_state_the_os_error_once() {
    let (_tmp, pki) = unwritable_setup();
    let mut args = vec![
        "init",
        "--cert-dir",
        ps(&pki),
        "--key-algorithm",
        "ECDSA-P256",
    ];
    args.extend(cluster_args());
    let out = run(&args);
    assert_eq!(out.status.code(), Some(IO));
    let err = stderr(&out);
    assert_eq!(
        err.matches("Not a directory").count(),
        1,
        "the OS error should be stated once:\n{err}"
    );
}

#[test]
fn garbage_ca_key_is_an_unusable_file() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    init_ca(&pki, "ECDSA-P256");
    fs::write(pki.join("ca.key"), b"this is not a key\n").unwrap();
    let before = snapshot(tmp.path());
    for extra in [&[][..], &["--force"]] {
        let out = issue(&pki, &["apiserver"], extra);
        assert_refused(
            &format!("issue apiserver {extra:?}"),
            &out,
            BAD_FILE,
            &["ca.key"],
        );
        assert_same_tree(
            &before,
            &snapshot(tmp.path()),
            "issue with a garbage ca.key",
        );
    }
    assert!(!pki.join("apiserver.crt").exists() && !pki.join("apiserver.key").exists());
}

#[test]
fn ca_key_of_another_ca_is_an_unusable_file() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tree(tmp.path());
    // Another CA's key: front-proxy-ca.key is a valid key of the same type, but not ca.crt's.
    fs::copy(pki.join("front-proxy-ca.key"), pki.join("ca.key")).unwrap();
    let before = snapshot(tmp.path());

    let out = issue(&pki, &["apiserver"], &["--force"]);
    assert_refused(
        "issue apiserver",
        &out,
        BAD_FILE,
        &["ca.key", "does not match"],
    );
    assert_same_tree(
        &before,
        &snapshot(tmp.path()),
        "issue with a mismatched ca.key",
    );

    let out = run(&[
        "init-ca",
        "--cert-dir",
        ps(&pki),
        "--key-algorithm",
        "ECDSA-P256",
    ]);
    assert_refused("init-ca", &out, BAD_FILE, &["ca.key", "does not match"]);
    assert_same_tree(
        &before,
        &snapshot(tmp.path()),
        "init-ca with a mismatched ca.key",
    );
}

#[test]
fn leaf_lacking_a_requested_san_conflicts_until_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tree(tmp.path());
    let before = snapshot(tmp.path());
    let extra = ["--apiserver-cert-extra-sans", "api.example.com,10.0.0.5"];

    let out = issue(&pki, &["apiserver"], &extra);
    assert_refused(
        "issue apiserver with a new SAN",
        &out,
        CONFLICT,
        &[
            "apiserver.crt",
            "DNS:api.example.com",
            "IP:10.0.0.5",
            "--force",
        ],
    );
    assert_same_tree(&before, &snapshot(tmp.path()), "a conflicting issue");

    let mut forced = extra.to_vec();
    forced.push("--force");
    let out = issue(&pki, &["apiserver"], &forced);
    assert_success("issue apiserver --force", &out);
    assert!(
        stdout(&out).contains("replaced apiserver"),
        "{}",
        stdout(&out)
    );

    // The new certificate carries the SANs and still chains to the CA.
    let cert = x509(&pki.join("apiserver.crt"));
    assert_eq!(
        cert.dns_sans(),
        [
            "api.example.com",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "node-1"
        ]
    );
    let ips: Vec<String> = cert.ip_sans().iter().map(|i| i.to_string()).collect();
    assert_eq!(ips, ["10.96.0.1", "192.168.1.10", "10.0.0.5"]);
    let verify = openssl_ok([
        "verify",
        "-CAfile",
        ps(&pki.join("ca.crt")),
        ps(&pki.join("apiserver.crt")),
    ]);
    assert!(verify.trim_end().ends_with(": OK"), "{verify}");

    // The old pair is kept, byte for byte and with its modes, under kubepki-backup/<stamp>/.
    let after = snapshot(tmp.path());
    let backups: Vec<&String> = after
        .keys()
        .filter(|k| k.starts_with("pki/kubepki-backup/") && after[*k].contents.is_some())
        .collect();
    assert_eq!(
        backups.len(),
        2,
        "a backup of apiserver.crt and apiserver.key: {backups:?}"
    );
    for file in ["apiserver.crt", "apiserver.key"] {
        let backup = backups
            .iter()
            .find(|b| b.ends_with(&format!("/{file}")))
            .unwrap_or_else(|| panic!("no backup of {file}: {backups:?}"));
        assert_eq!(
            after[*backup],
            before[&format!("pki/{file}")],
            "{backup} holds the old {file} with its mode"
        );
        assert_ne!(
            after[&format!("pki/{file}")],
            before[&format!("pki/{file}")],
            "{file} was replaced"
        );
    }
    // Nothing else changed.
    for (path, entry) in &before {
        if !path.starts_with("pki/apiserver.") {
            assert_eq!(after.get(path), Some(entry), "{path} must be untouched");
        }
    }
    for path in after.keys() {
        assert!(
            before.contains_key(path) || path.starts_with("pki/kubepki-backup"),
            "unexpected new file {path}"
        );
    }
}

#[test]
fn external_ca_is_kept_by_init_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tree(tmp.path());
    fs::remove_file(pki.join("ca.key")).unwrap();
    let before = snapshot(tmp.path());

    let out = run(&[
        "init-ca",
        "--cert-dir",
        ps(&pki),
        "--key-algorithm",
        "ECDSA-P256",
    ]);
    assert_success("init-ca with an external CA", &out);
    let text = stdout(&out);
    let ca_line = text
        .lines()
        .find(|l| l.starts_with("[certs]") && l.contains(" ca:"))
        .unwrap_or_else(|| panic!("no line for ca:\n{text}"));
    assert!(ca_line.contains("reused"), "{ca_line}");
    assert!(ca_line.contains("external"), "{ca_line}");
    assert_same_tree(
        &before,
        &snapshot(tmp.path()),
        "init-ca with an external CA",
    );
    assert!(!pki.join("ca.key").exists(), "no CA key is invented");
}

/// With the CA key absent, `--force` cannot re-sign anything: it must fail (exit 4) rather than
/// quietly keep the old certificate.
#[test]
fn external_ca_cannot_force_issue() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tree(tmp.path());
    fs::remove_file(pki.join("ca.key")).unwrap();
    let before = snapshot(tmp.path());

    // --force replaces only what does not match (issue 13): a valid leaf of the external CA is
    // kept, and nothing is written.
    let out = issue(&pki, &["apiserver"], &["--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("reused"));
    assert_same_tree(
        &before,
        &snapshot(tmp.path()),
        "issue --force with an external CA",
    );
}

#[test]
fn external_ca_cannot_issue_a_missing_leaf() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tree(tmp.path());
    fs::remove_file(pki.join("ca.key")).unwrap();
    fs::remove_file(pki.join("apiserver-kubelet-client.key")).unwrap();
    fs::remove_file(pki.join("apiserver-kubelet-client.crt")).unwrap();
    let before = snapshot(tmp.path());

    let out = issue(&pki, &["apiserver-kubelet-client"], &[]);
    assert_refused(
        "issue a leaf with an external CA",
        &out,
        BAD_FILE,
        &["ca.key", "absent"],
    );
    assert_same_tree(&before, &snapshot(tmp.path()), "issue with an external CA");
}

/// A CA made by hand with openssl (key in `ca.key`, written by `make_key`) signs a
/// kubepki-issued leaf that openssl verifies; the CA files are not touched.
fn openssl_made_ca(make_key: &[&str], key_label: &str, signature_oid: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    fs::create_dir(&pki).unwrap();
    let key = pki.join("ca.key");
    let crt = pki.join("ca.crt");
    let mut args = make_key.to_vec();
    args.extend(["-out", ps(&key)]);
    openssl_ok(&args);
    let first = fs::read_to_string(&key).unwrap();
    assert!(
        first.starts_with(&format!("-----BEGIN {key_label}-----")),
        "the scenario needs a {key_label} block first:\n{first}"
    );
    openssl_ok([
        "req",
        "-x509",
        "-new",
        "-key",
        ps(&key),
        "-subj",
        "/CN=kubernetes",
        "-days",
        "3650",
        "-out",
        ps(&crt),
    ]);
    let before = snapshot(tmp.path());

    let out = issue(
        &pki,
        &["apiserver-kubelet-client"],
        &["--key-algorithm", "ECDSA-P256"],
    );
    assert_success(
        "issue apiserver-kubelet-client with an openssl-made CA",
        &out,
    );

    let leaf = pki.join("apiserver-kubelet-client.crt");
    // Not -x509_strict: that would judge the hand-made CA (openssl req gives it no keyUsage).
    let verify = openssl_ok([
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        ps(&crt),
        ps(&leaf),
    ]);
    assert_eq!(verify.trim(), format!("{}: OK", leaf.display()));
    let cert = x509(&leaf);
    let ca = x509(&crt);
    assert_eq!(
        cert.issuer_raw, ca.subject_raw,
        "issuer = the openssl CA's subject"
    );
    assert_eq!(
        cert.signature_algorithm, signature_oid,
        "signed with the CA's key type"
    );
    assert!(ca.ski.is_some(), "openssl gives its CA an SKI");
    assert_eq!(cert.aki, ca.ski, "AKI = the openssl CA's SKI");
    assert_eq!(
        cert.subject,
        [
            (OID_O.to_string(), "kubeadm:cluster-admins".to_string()),
            (
                OID_CN.to_string(),
                "kube-apiserver-kubelet-client".to_string()
            )
        ]
    );
    cert.verify_signed_by(&ca)
        .expect("x509-parser verifies the signature too");

    // The CA files are untouched; only the leaf pair was added.
    let after = snapshot(tmp.path());
    for (path, entry) in &before {
        assert_eq!(after.get(path), Some(entry), "{path} must be untouched");
    }
    let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert_eq!(
        added,
        [
            "pki/apiserver-kubelet-client.crt",
            "pki/apiserver-kubelet-client.key"
        ],
        "only the leaf pair is written"
    );
}

#[test]
fn openssl_made_ec_ca_with_ec_parameters_block_is_usable() {
    openssl_made_ca(
        &["ecparam", "-name", "prime256v1", "-genkey"],
        "EC PARAMETERS",
        "1.2.840.10045.4.3.2",
    );
}

#[test]
fn openssl_made_pkcs8_rsa_ca_is_usable() {
    openssl_made_ca(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
        "PRIVATE KEY",
        "1.2.840.113549.1.1.11",
    );
}
