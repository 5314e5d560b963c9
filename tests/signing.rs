//! `kubepki csr`, `sign` and `issue-cert`, checked with other implementations: requests made by
//! `openssl req` and `cfssl genkey` sign with kubepki and verify with `openssl verify
//! -x509_strict`; a kubepki request signs with `openssl x509 -req` and `cfssl sign`; a client
//! certificate made with `csr` + `sign` drives a real kubectl handshake. Bad input is refused
//! with a clear error, writing nothing.

mod common;
mod fake_apiserver;

use std::fs;
use std::path::Path;
use std::process::{Command as StdCommand, Output};

use common::{assert_same_tree, assert_success, kubepki, mode, snapshot, stderr, stdout, x509};
use kubepki::pki::cert::{self, CertSpec};
use kubepki::pki::keys::{KeyAlgorithm, PrivateKey};
use kubepki::pki::names::AltNames;

/// kubepki with `args`, run in `dir`.
fn k(dir: &Path, args: &[&str]) -> Output {
    kubepki()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("kubepki runs")
}

fn k_ok(dir: &Path, args: &[&str]) -> Output {
    let out = k(dir, args);
    assert_success(&format!("kubepki {args:?}"), &out);
    out
}

/// kubepki with `stdin` as its standard input.
fn k_stdin(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    kubepki()
        .current_dir(dir)
        .args(args)
        .write_stdin(stdin.to_vec())
        .output()
        .expect("kubepki runs")
}

/// An ECDSA tree (quick) in `dir/pki`.
fn tree(dir: &Path) {
    k_ok(
        dir,
        &[
            "init-ca",
            "--cert-dir",
            "pki",
            "--key-algorithm",
            "ECDSA-P256",
        ],
    );
}

fn ssl(dir: &Path, args: &[&str]) -> String {
    let out = StdCommand::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert_success(&format!("openssl {args:?}"), &out);
    stdout(&out)
}

/// `openssl verify -x509_strict -purpose PURPOSE -CAfile pki/ca.crt CERT` succeeds.
fn verify(dir: &Path, purpose: &str, cert: &str) {
    let out = ssl(
        dir,
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-CAfile",
            "pki/ca.crt",
            cert,
        ],
    );
    assert_eq!(out.trim(), format!("{cert}: OK"));
}

/// The key usage and extended key usage lines of `openssl x509 -text`, and whether CA:FALSE.
fn usages(dir: &Path, cert: &str) -> (String, String, bool) {
    let text = ssl(dir, &["x509", "-in", cert, "-noout", "-text"]);
    let after = |label: &str| {
        let mut lines = text.lines().skip_while(|l| !l.contains(label));
        lines.next();
        lines.next().unwrap_or("").trim().to_string()
    };
    (
        after("X509v3 Key Usage"),
        after("X509v3 Extended Key Usage"),
        after("X509v3 Basic Constraints") == "CA:FALSE",
    )
}

fn cfssl(dir: &Path, args: &[&str], stdin: Option<&str>) -> Vec<u8> {
    use std::io::Write;
    let mut child = StdCommand::new("cfssl")
        .current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cfssl cannot run ({e}); install it: apt-get install -y golang-cfssl")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or("").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success(&format!("cfssl {args:?}"), &out);
    out.stdout
}

/// `cfssljson -bare`'s split of a cfssl JSON answer: writes `{base}.csr`/`{base}-key.pem` or
/// `{base}.pem`.
fn cfssljson_bare(dir: &Path, json: &[u8], base: &str) {
    let v: serde_json::Value = serde_json::from_slice(json).expect("cfssl prints JSON");
    if let Some(csr) = v["csr"].as_str() {
        fs::write(dir.join(format!("{base}.csr")), csr).unwrap();
    }
    if let Some(key) = v["key"].as_str() {
        fs::write(dir.join(format!("{base}-key.pem")), key).unwrap();
    }
    if let Some(cert) = v["cert"].as_str() {
        fs::write(dir.join(format!("{base}.pem")), cert).unwrap();
    }
}

const DOCS_CFSSL_REQUEST: &str = r#"{
  "hosts": [
    "my-svc.my-namespace.svc.cluster.local",
    "my-pod.my-namespace.pod.cluster.local",
    "192.0.2.24",
    "10.0.34.2"
  ],
  "CN": "my-pod.my-namespace.pod.cluster.local",
  "key": {
    "algo": "ecdsa",
    "size": 256
  }
}"#;

/// The docs' cfssl signing configuration (server-signing-config.json).
const DOCS_SIGNING_CONFIG: &str = r#"{
    "signing": {
        "default": {
            "usages": [
                "digital signature",
                "key encipherment",
                "server auth"
            ],
            "expiry": "876000h",
            "ca_constraint": {
                "is_ca": false
            }
        }
    }
}"#;

#[test]
fn requests_from_openssl_and_cfssl_sign_and_verify_with_exactly_the_profiles_usages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tree(d);
    ssl(d, &["genrsa", "-out", "rsa.key", "2048"]);
    // `openssl ecparam -genkey` writes an EC PARAMETERS block before the key.
    ssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-out",
            "ec.key",
        ],
    );
    assert!(
        fs::read_to_string(d.join("ec.key"))
            .unwrap()
            .starts_with("-----BEGIN EC PARAMETERS")
    );
    let req = |key: &str, subj: &str, san: Option<&str>, out: &str| {
        let mut args = vec!["req", "-new", "-key", key, "-subj", subj, "-out", out];
        let ext;
        if let Some(san) = san {
            ext = format!("subjectAltName={san}");
            args.extend(["-addext", &ext]);
        }
        ssl(d, &args);
    };
    req(
        "rsa.key",
        "/O=web/CN=my-server",
        Some("DNS:my-server.example,IP:10.0.0.5"),
        "rsa-san.csr",
    );
    req("rsa.key", "/O=dev/CN=jane", None, "rsa.csr");
    req(
        "ec.key",
        "/CN=ec-server",
        Some("DNS:ec.example"),
        "ec-san.csr",
    );
    req("ec.key", "/O=dev/CN=ec-client", None, "ec.csr");
    // A request file with an EC PARAMETERS block before it is read too.
    let params = ssl(d, &["ecparam", "-name", "prime256v1"]);
    let csr = fs::read_to_string(d.join("ec-san.csr")).unwrap();
    fs::write(d.join("ec-params.csr"), format!("{params}{csr}")).unwrap();
    // A request that asks for usages of its own: the profile's win.
    ssl(
        d,
        &[
            "req",
            "-new",
            "-key",
            "rsa.key",
            "-subj",
            "/CN=greedy",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            "-addext",
            "extendedKeyUsage=codeSigning,serverAuth,clientAuth",
            "-addext",
            "subjectAltName=DNS:greedy.example",
            "-out",
            "greedy.csr",
        ],
    );
    // The docs' cfssl genkey.
    let json = cfssl(d, &["genkey", "-"], Some(DOCS_CFSSL_REQUEST));
    cfssljson_bare(d, &json, "server");

    const RSA_SERVER: (&str, &str) = (
        "Digital Signature, Key Encipherment",
        "TLS Web Server Authentication",
    );
    const RSA_CLIENT: (&str, &str) = (
        "Digital Signature, Key Encipherment",
        "TLS Web Client Authentication",
    );
    const EC_SERVER: (&str, &str) = ("Digital Signature", "TLS Web Server Authentication");
    const EC_CLIENT: (&str, &str) = ("Digital Signature", "TLS Web Client Authentication");
    const EC_PEER: (&str, &str) = (
        "Digital Signature",
        "TLS Web Server Authentication, TLS Web Client Authentication",
    );
    for (csr, profile, purposes, want) in [
        ("rsa-san.csr", "server", &["sslserver"][..], RSA_SERVER),
        ("rsa.csr", "client", &["sslclient"][..], RSA_CLIENT),
        ("ec-san.csr", "server", &["sslserver"][..], EC_SERVER),
        ("ec.csr", "client", &["sslclient"][..], EC_CLIENT),
        (
            "ec-params.csr",
            "peer",
            &["sslserver", "sslclient"][..],
            EC_PEER,
        ),
        ("greedy.csr", "server", &["sslserver"][..], RSA_SERVER),
        ("server.csr", "server", &["sslserver"][..], EC_SERVER),
    ] {
        let out_file = format!("{csr}.crt");
        k_ok(
            d,
            &[
                "sign",
                csr,
                "--cert-dir",
                "pki",
                "--profile",
                profile,
                "--out",
                &out_file,
            ],
        );
        for purpose in purposes {
            verify(d, purpose, &out_file);
        }
        let (ku, eku, not_ca) = usages(d, &out_file);
        assert_eq!((ku.as_str(), eku.as_str()), want, "{csr} with {profile}");
        assert!(not_ca, "{csr}: CA:FALSE");
        assert_eq!(mode(&d.join(&out_file)), 0o644);
    }
    // Subject and SANs come from the request.
    let c = x509(&d.join("rsa-san.csr.crt"));
    assert_eq!(
        c.subject,
        [
            ("2.5.4.10".to_string(), "web".to_string()),
            ("2.5.4.3".into(), "my-server".into())
        ]
    );
    let (dns, ips) = c.san.unwrap().value;
    assert_eq!(dns, ["my-server.example"]);
    assert_eq!(ips, ["10.0.0.5".parse::<std::net::IpAddr>().unwrap()]);
    let (dns, ips) = x509(&d.join("server.csr.crt")).san.unwrap().value;
    assert_eq!(
        dns,
        [
            "my-svc.my-namespace.svc.cluster.local",
            "my-pod.my-namespace.pod.cluster.local"
        ]
    );
    assert_eq!(ips.len(), 2);
    // The docs' signing configuration as a profile file, with its default profile.
    fs::write(d.join("server-signing-config.json"), DOCS_SIGNING_CONFIG).unwrap();
    let out = k_ok(
        d,
        &[
            "sign",
            "server.csr",
            "--cert-dir",
            "pki",
            "--profile-file",
            "server-signing-config.json",
            "--out",
            "docs.crt",
        ],
    );
    verify(d, "sslserver", "docs.crt");
    assert_eq!(usages(d, "docs.crt").1, "TLS Web Server Authentication");
    // 876000h is longer than the CA: cut at its NotAfter, with a warning.
    assert!(
        stdout(&out).contains("WARNING: the validity was cut to end with the CA"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        x509(&d.join("docs.crt")).not_after,
        x509(&d.join("pki/ca.crt")).not_after
    );
}

#[test]
fn a_kubepki_request_signs_with_openssl_x509_req_and_cfssl_sign() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tree(d);
    let out = k_stdin(
        d,
        &["csr", "--cfssl", "-", "--bare", "server"],
        DOCS_CFSSL_REQUEST.as_bytes(),
    );
    assert_success("kubepki csr --cfssl -", &out);
    // cfssljson -bare's names, the key private from creation.
    assert_eq!(mode(&d.join("server-key.pem")), 0o600);
    assert_eq!(mode(&d.join("server.csr")), 0o644);
    ssl(d, &["req", "-in", "server.csr", "-noout", "-verify"]);
    ssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "pki/ca.crt",
            "-CAkey",
            "pki/ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-copy_extensions",
            "copyall",
            "-out",
            "by-openssl.crt",
        ],
    );
    let (dns, ips) = x509(&d.join("by-openssl.crt")).san.unwrap().value;
    assert_eq!(dns.len(), 2);
    assert_eq!(ips.len(), 2);
    let text = ssl(d, &["verify", "-CAfile", "pki/ca.crt", "by-openssl.crt"]);
    assert!(text.contains("OK"));
    // The key openssl reads is the one the certificate is for.
    let modulus = |args: &[&str]| ssl(d, args);
    assert_eq!(
        modulus(&["pkey", "-in", "server-key.pem", "-pubout"]),
        modulus(&["x509", "-in", "by-openssl.crt", "-noout", "-pubkey"])
    );
    // cfssl sign with the docs' signing configuration.
    fs::write(d.join("server-signing-config.json"), DOCS_SIGNING_CONFIG).unwrap();
    let json = cfssl(
        d,
        &[
            "sign",
            "-ca",
            "pki/ca.crt",
            "-ca-key",
            "pki/ca.key",
            "-config",
            "server-signing-config.json",
            "server.csr",
        ],
        None,
    );
    cfssljson_bare(d, &json, "by-cfssl");
    verify(d, "sslserver", "by-cfssl.pem");
    // A request with several groups, URI and email SANs: openssl reads every one.
    k_ok(
        d,
        &[
            "csr",
            "--cn",
            "jane",
            "--org",
            "dev",
            "--org",
            "ops",
            "--san",
            "URI:spiffe://cluster.local/ns/a/sa/jane,jane@example.com",
            "--key-algorithm",
            "ECDSA-P256",
            "--out",
            "jane",
        ],
    );
    let text = ssl(d, &["req", "-in", "jane.csr", "-noout", "-text", "-verify"]);
    assert!(text.contains("O = dev, O = ops, CN = jane"), "{text}");
    assert!(
        text.contains("URI:spiffe://cluster.local/ns/a/sa/jane"),
        "{text}"
    );
    assert!(text.contains("email:jane@example.com"), "{text}");
}

#[test]
fn a_client_certificate_from_csr_and_sign_drives_a_kubectl_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    tree(d);
    k_ok(
        d,
        &[
            "issue",
            "apiserver",
            "--cert-dir",
            "pki",
            "--node-name",
            "node-1",
            "--apiserver-advertise-address",
            "127.0.0.1",
            "--key-algorithm",
            "ECDSA-P256",
        ],
    );
    let server = fake_apiserver::FakeApiServer::start(&d.join("pki"), port);
    k_ok(
        d,
        &[
            "csr",
            "--cn",
            "jane",
            "--org",
            "developers",
            "--key-algorithm",
            "ECDSA-P256",
            "--out",
            "jane",
        ],
    );
    k_ok(
        d,
        &[
            "sign",
            "jane.csr",
            "--profile",
            "client",
            "--ca",
            "ca",
            "--cert-dir",
            "pki",
            "--out",
            "jane.crt",
        ],
    );
    let out = StdCommand::new("kubectl")
        .current_dir(d)
        .env_remove("KUBECONFIG")
        .args([
            "--server",
            &format!("https://127.0.0.1:{port}"),
            "--certificate-authority",
            "pki/ca.crt",
            "--client-certificate",
            "jane.crt",
            "--client-key",
            "jane.key",
            "version",
            "-o",
            "json",
            "--request-timeout",
            "10s",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("kubectl cannot run ({e}); apt-get install -y kubernetes-client")
        });
    assert_success("kubectl version", &out);
    assert!(stdout(&out).contains("v1.31.0"), "{}", stdout(&out));
    let seen = server.seen();
    assert!(!seen.is_empty(), "the server saw no client certificate");
    assert!(
        seen.iter()
            .all(|id| id.user == "jane" && id.groups == ["developers"]),
        "{seen:?}"
    );
}

#[test]
fn issue_cert_makes_the_docs_my_server_and_an_admin_for_curl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tree(d);
    k_ok(
        d,
        &[
            "issue-cert",
            "--cn",
            "my-server",
            "--san",
            "my-server.example.com,10.0.0.5",
            "--profile",
            "server",
            "--cert-dir",
            "pki",
            "--key-algorithm",
            "ECDSA-P256",
            "--out",
            "my-server",
        ],
    );
    assert_eq!(mode(&d.join("my-server.key")), 0o600);
    assert_eq!(mode(&d.join("my-server.crt")), 0o644);
    verify(d, "sslserver", "my-server.crt");
    assert_eq!(
        usages(d, "my-server.crt").1,
        "TLS Web Server Authentication"
    );
    k_ok(
        d,
        &[
            "issue-cert",
            "--cn",
            "kubernetes-admin",
            "--org",
            "kubeadm:cluster-admins",
            "--profile",
            "client",
            "--cert-dir",
            "pki",
            "--key-algorithm",
            "ECDSA-P256",
            "--key-out",
            "admin.key",
            "--cert-out",
            "admin.crt",
        ],
    );
    verify(d, "sslclient", "admin.crt");
    // The key goes with the certificate (curl --cert admin.crt --key admin.key).
    assert_eq!(
        ssl(d, &["pkey", "-in", "admin.key", "-pubout"]),
        ssl(d, &["x509", "-in", "admin.crt", "-noout", "-pubkey"])
    );
    // Re-running changes nothing; another identity is a conflict until --force.
    let before = snapshot(d);
    let out = k_ok(
        d,
        &[
            "issue-cert",
            "--cn",
            "my-server",
            "--san",
            "my-server.example.com,10.0.0.5",
            "--profile",
            "server",
            "--cert-dir",
            "pki",
            "--key-algorithm",
            "ECDSA-P256",
            "--out",
            "my-server",
        ],
    );
    assert!(stdout(&out).contains("reused"), "{}", stdout(&out));
    assert_same_tree(&before, &snapshot(d), "a re-run");
    let other = [
        "issue-cert",
        "--cn",
        "my-server",
        "--san",
        "other.example.com",
        "--profile",
        "server",
        "--cert-dir",
        "pki",
        "--key-algorithm",
        "ECDSA-P256",
        "--out",
        "my-server",
    ];
    let out = k(d, &other);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("my-server.crt: exists but cannot be reused: its SANs are"),
        "{}",
        stderr(&out)
    );
    assert_same_tree(&before, &snapshot(d), "a refused run");
    let mut forced = other.to_vec();
    forced.push("--force");
    k_ok(d, &forced);
    let backups: Vec<_> = walk(&d.join("kubepki-backup"));
    assert!(
        backups.iter().any(|p| p.ends_with("my-server.key")),
        "{backups:?}"
    );
    assert!(
        backups.iter().any(|p| p.ends_with("my-server.crt")),
        "{backups:?}"
    );
    let key_backup = backups
        .iter()
        .find(|p| p.ends_with("my-server.key"))
        .unwrap();
    assert_eq!(mode(key_backup), 0o600);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn sign_reruns_san_edits_dry_run_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tree(d);
    k_ok(
        d,
        &[
            "csr",
            "--cn",
            "web",
            "--san",
            "a.example,b.example",
            "--key-algorithm",
            "ECDSA-P256",
            "--out",
            "web",
        ],
    );
    // --dry-run writes nothing and says what would be issued.
    let before = snapshot(d);
    let args = [
        "sign",
        "web.csr",
        "--cert-dir",
        "pki",
        "--profile",
        "server",
        "--only-san",
        "a.example",
        "--san",
        "10.0.0.7",
        "--out",
        "web.crt",
    ];
    let mut dry = args.to_vec();
    dry.extend(["--dry-run", "-o", "json"]);
    let out = k_ok(d, &dry);
    assert_same_tree(&before, &snapshot(d), "--dry-run");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let item = &plan["items"][0];
    assert_eq!(plan["dryRun"], true);
    assert_eq!(item["action"], "create");
    assert_eq!(item["spec"]["dns"], serde_json::json!(["a.example"]));
    assert_eq!(item["spec"]["ips"], serde_json::json!(["10.0.0.7"]));
    assert_eq!(
        item["signing"]["sansAdded"],
        serde_json::json!(["IP:10.0.0.7"])
    );
    assert_eq!(
        item["signing"]["sansDropped"],
        serde_json::json!(["DNS:b.example"])
    );
    assert_eq!(
        item["signing"]["usages"],
        serde_json::json!(["digital signature", "server auth"])
    );
    // The run says the same in text.
    let out = k_ok(d, &args);
    let text = stdout(&out);
    assert!(text.contains("SANs added by --san: IP:10.0.0.7"), "{text}");
    assert!(
        text.contains("left out by --only-san: DNS:b.example"),
        "{text}"
    );
    let (dns, ips) = x509(&d.join("web.crt")).san.unwrap().value;
    assert_eq!(dns, ["a.example"]);
    assert_eq!(ips.len(), 1);
    assert_eq!(
        ips,
        ["10.0.0.7".parse::<std::net::IpAddr>().unwrap()],
        "the IP added by --san"
    );
    // Again: reused, byte for byte.
    let before = snapshot(d);
    let mut json = args.to_vec();
    json.extend(["-o", "json"]);
    let out = k_ok(d, &json);
    assert_same_tree(&before, &snapshot(d), "a re-run");
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["items"][0]["action"], "reuse");
    // To stdout: the PEM alone on stdout (text), or in the JSON document.
    let out = k_ok(
        d,
        &[
            "sign",
            "web.csr",
            "--cert-dir",
            "pki",
            "--profile",
            "server",
            "--bundle",
        ],
    );
    let pems = pem::parse_many(&out.stdout).unwrap();
    assert_eq!(pems.len(), 2, "the certificate and the CA");
    assert!(stderr(&out).contains("created"), "{}", stderr(&out));
    let out = k_ok(
        d,
        &[
            "sign",
            "web.csr",
            "--cert-dir",
            "pki",
            "--profile",
            "server",
            "-o",
            "yaml",
        ],
    );
    let doc = stdout(&out);
    assert!(
        doc.contains("pem: |") && doc.contains("serial:") && doc.contains("- server auth"),
        "{doc}"
    );
    assert_same_tree(&before, &snapshot(d), "signing to stdout");
}

#[test]
fn kubelet_profiles_enforce_the_built_in_signers_rules() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tree(d);
    let csr = |args: &[&str], out: &str| {
        let mut a = vec!["csr", "--key-algorithm", "ECDSA-P256", "--out", out];
        a.extend(args);
        k_ok(d, &a);
    };
    csr(
        &["--cn", "system:node:worker-1", "--org", "system:nodes"],
        "kc",
    );
    csr(
        &[
            "--cn",
            "system:node:worker-1",
            "--org",
            "system:nodes",
            "--san",
            "worker-1,10.0.0.11",
        ],
        "ks",
    );
    csr(
        &["--cn", "system:node:worker-1", "--org", "system:nodes"],
        "ks-nosan",
    );
    csr(&["--cn", "jane", "--org", "system:masters"], "masters");
    k_ok(
        d,
        &[
            "sign",
            "kc.csr",
            "--cert-dir",
            "pki",
            "--profile",
            "kubelet-client",
            "--out",
            "kc.crt",
        ],
    );
    verify(d, "sslclient", "kc.crt");
    k_ok(
        d,
        &[
            "sign",
            "ks.csr",
            "--cert-dir",
            "pki",
            "--profile",
            "kubelet-serving",
            "--out",
            "ks.crt",
        ],
    );
    verify(d, "sslserver", "ks.crt");
    let before = snapshot(d);
    for (csr, profile, extra, want) in [
        (
            "ks.csr",
            "kubelet-client",
            &[][..],
            "DNS subjectAltNames are not allowed",
        ),
        (
            "ks-nosan.csr",
            "kubelet-serving",
            &[][..],
            "DNS or IP subjectAltName is required",
        ),
        (
            "masters.csr",
            "kubelet-client",
            &[][..],
            "subject organization is not system:nodes",
        ),
        (
            "masters.csr",
            "kube-apiserver-client",
            &[][..],
            "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed",
        ),
        (
            "kc.csr",
            "kubelet-client",
            &["--san", "10.0.0.1"][..],
            "IP subjectAltNames are not allowed",
        ),
    ] {
        let mut args = vec![
            "sign",
            csr,
            "--cert-dir",
            "pki",
            "--profile",
            profile,
            "--out",
            "x.crt",
        ];
        args.extend(extra);
        let out = k(d, &args);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{csr} {profile}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(&format!("{csr}: refused: {want}")),
            "{}",
            stderr(&out)
        );
    }
    assert_same_tree(&before, &snapshot(d), "refused requests");
    // --san can give a kubelet serving certificate the address its request lacks.
    k_ok(
        d,
        &[
            "sign",
            "ks-nosan.csr",
            "--cert-dir",
            "pki",
            "--profile",
            "kubelet-serving",
            "--san",
            "10.0.0.12",
            "--out",
            "ks2.crt",
        ],
    );
}

/// An expired CA pair (made in memory, since openssl cannot backdate one).
fn expired_ca(dir: &Path) {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let spec = CertSpec {
        common_name: "old-ca".into(),
        organizations: vec![],
        alt_names: AltNames::default(),
        usages: vec![],
        is_ca: true,
        not_before: now - time::Duration::days(20),
        not_after: now - time::Duration::days(1),
    };
    let der = cert::issue(&spec, &key, None).unwrap();
    fs::write(dir.join("old-ca.crt"), cert::cert_pem(&der)).unwrap();
    fs::write(dir.join("old-ca.key"), key.to_pem().unwrap()).unwrap();
}

fn sign<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["sign", "--out", "out.crt"];
    a.extend(extra);
    a
}

#[test]
fn bad_input_is_refused_naming_the_file_or_flag_and_writing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tree(d);
    k_ok(
        d,
        &[
            "csr",
            "--cn",
            "jane",
            "--key-algorithm",
            "ECDSA-P256",
            "--out",
            "jane",
        ],
    );
    // A forged request: its signature's last byte flipped.
    let pem_text = fs::read_to_string(d.join("jane.csr")).unwrap();
    let mut der = pem::parse(&pem_text).unwrap().into_contents();
    let last = der.len() - 1;
    der[last] ^= 1;
    fs::write(
        d.join("forged.csr"),
        pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der)),
    )
    .unwrap();
    // A request for a CA.
    ssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca-req.key",
        ],
    );
    ssl(
        d,
        &[
            "req",
            "-new",
            "-key",
            "ca-req.key",
            "-subj",
            "/CN=evil-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-out",
            "ca-req.csr",
        ],
    );
    fs::write(d.join("truncated.csr"), &pem_text[..pem_text.len() / 2]).unwrap();
    fs::copy(d.join("pki/ca.crt"), d.join("not-a-csr.csr")).unwrap();
    fs::write(d.join("garbage.csr"), [0x30u8, 0x82, 0xff, 0xff, 1, 2, 3]).unwrap();
    fs::write(
        d.join("profiles.yaml"),
        "profiles:\n  web:\n    usages: [digital signature, server auth]\n    vallidity: c2VjcmV0+/==\n",
    )
    .unwrap();
    fs::write(
        d.join("usage.yaml"),
        "profiles:\n  web:\n    usages: [digital signature, code signing]\n",
    )
    .unwrap();
    expired_ca(d);
    let before = snapshot(d);
    let tree_ca = ["--cert-dir", "pki", "--profile", "client"];
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            [&sign(&["forged.csr"])[..], &tree_ca].concat(),
            4,
            "forged.csr: its signature does not verify with its own public key",
        ),
        (
            [&sign(&["ca-req.csr"])[..], &tree_ca].concat(),
            4,
            "ca-req.csr: asks for a CA certificate (basicConstraints CA:TRUE)",
        ),
        (
            [&sign(&["truncated.csr"])[..], &tree_ca].concat(),
            4,
            "truncated.csr: its PEM block has no END line (truncated)",
        ),
        (
            [&sign(&["not-a-csr.csr"])[..], &tree_ca].concat(),
            4,
            "not-a-csr.csr: holds no CERTIFICATE REQUEST PEM block",
        ),
        (
            [&sign(&["garbage.csr"])[..], &tree_ca].concat(),
            4,
            "garbage.csr: is not a PKCS#10",
        ),
        (
            sign(&["missing.csr", "--cert-dir", "pki", "--profile", "client"]),
            2,
            "CSR: missing.csr does not exist",
        ),
        (
            sign(&["jane.csr", "--cert-dir", "pki", "--profile", "nope"]),
            2,
            "--profile: unknown profile \"nope\" (built-in: server, client, peer",
        ),
        (
            sign(&[
                "jane.csr",
                "--cert-dir",
                "pki",
                "--profile-file",
                "profiles.yaml",
            ]),
            4,
            "profiles.yaml: profiles.web: line 4 column 5: unknown field `vallidity`, expected one of",
        ),
        (
            sign(&[
                "jane.csr",
                "--cert-dir",
                "pki",
                "--profile-file",
                "usage.yaml",
            ]),
            4,
            "usage.yaml: profiles.web.usages: line 3 column 13: unrecognized usage",
        ),
        (
            sign(&[
                "jane.csr",
                "--ca-cert",
                "pki/ca.crt",
                "--ca-key",
                "pki/front-proxy-ca.key",
                "--profile",
                "client",
            ]),
            4,
            "pki/front-proxy-ca.key: the private key does not match the certificate (the CA certificate pki/ca.crt)",
        ),
        (
            sign(&[
                "jane.csr",
                "--ca-cert",
                "old-ca.crt",
                "--ca-key",
                "old-ca.key",
                "--profile",
                "client",
            ]),
            4,
            "old-ca.crt: the CA expired on",
        ),
        (
            sign(&[
                "jane.csr",
                "--ca-cert",
                "jane.csr",
                "--ca-key",
                "jane.key",
                "--profile",
                "client",
            ]),
            4,
            "jane.csr: holds no PEM CERTIFICATE block",
        ),
        (
            sign(&[
                "jane.csr",
                "--cert-dir",
                "pki",
                "--profile",
                "client",
                "--validity",
                "1m",
            ]),
            2,
            "--validity: a validity of 0h1m0s is shorter than 10 minutes",
        ),
        (
            sign(&["jane.csr", "--cert-dir", "pki", "--ca", "nope"]),
            2,
            "is not a CA of the tree",
        ),
        (
            sign(&["jane.csr", "--cert-dir", "nowhere", "--profile", "client"]),
            4,
            "nowhere/ca.crt: cannot sign jane.csr: the ca CA does not exist",
        ),
        (
            vec!["csr", "--cn", "x", "--san", "Bad_Name", "--out", "x"],
            2,
            "--san",
        ),
        (
            vec!["csr", "--cn", "x"],
            2,
            "--out: say where the key and request go",
        ),
        (
            vec![
                "issue-cert",
                "--cn",
                "x",
                "--profile",
                "kubelet-client",
                "--cert-dir",
                "pki",
                "--out",
                "x",
            ],
            2,
            "--profile: refuses this identity: subject organization is not system:nodes",
        ),
    ];
    for (args, code, want) in cases {
        let out = k(d, &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}:\n{err}\nwanted: {want}");
        assert!(!err.contains("c2VjcmV0") && !err.contains("BEGIN"), "{err}");
        assert!(out.stdout.is_empty(), "{args:?}: stdout {}", stdout(&out));
        assert_same_tree(&before, &snapshot(d), &format!("{args:?}"));
    }
    // The same from stdin names <stdin>; an expired CA of the tree is refused too.
    let forged = fs::read(d.join("forged.csr")).unwrap();
    let out = k_stdin(
        d,
        &["sign", "-", "--cert-dir", "pki", "--profile", "client"],
        &forged,
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("<stdin>: its signature does not verify"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    fs::create_dir(d.join("old")).unwrap();
    fs::copy(d.join("old-ca.crt"), d.join("old/ca.crt")).unwrap();
    fs::copy(d.join("old-ca.key"), d.join("old/ca.key")).unwrap();
    let before = snapshot(d);
    let out = k(
        d,
        &[
            "sign",
            "jane.csr",
            "--cert-dir",
            "old",
            "--profile",
            "client",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("old/ca.crt: the ca CA expired on"),
        "{}",
        stderr(&out)
    );
    assert_same_tree(&before, &snapshot(d), "an expired tree CA");
}

#[test]
fn profile_files_restrict_what_they_sign() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    k_ok(
        d,
        &[
            "init-ca",
            "--cert-dir",
            "pki",
            "--key-algorithm",
            "ECDSA-P256",
            "--ca-validity",
            "30d",
        ],
    );
    fs::write(
        d.join("profiles.yaml"),
        "profiles:\n  web:\n    usages: [digital signature, key encipherment, server auth]\n    validity: 7d\n    \
         allowedDNSSuffixes: [example.com]\n    allowedIPRanges: [10.0.0.0/8]\n    maxValidity: 14d\n",
    )
    .unwrap();
    k_ok(
        d,
        &[
            "csr",
            "--cn",
            "a",
            "--san",
            "a.example.com,10.1.2.3",
            "--key-algorithm",
            "ECDSA-P256",
            "--out",
            "ok",
        ],
    );
    k_ok(
        d,
        &[
            "csr",
            "--cn",
            "b",
            "--san",
            "b.example.org",
            "--key-algorithm",
            "ECDSA-P256",
            "--out",
            "bad",
        ],
    );
    let p = [
        "--cert-dir",
        "pki",
        "--profile-file",
        "profiles.yaml",
        "--profile",
        "web",
    ];
    k_ok(
        d,
        &[&["sign", "ok.csr", "--out", "ok.crt"][..], &p].concat(),
    );
    let c = x509(&d.join("ok.crt"));
    assert_eq!(c.not_after - c.not_before, 7 * 86_400 + 300);
    let out = k(
        d,
        &[&["sign", "bad.csr", "--out", "bad.crt"][..], &p].concat(),
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out)
            .contains("the DNS SAN \"b.example.org\" is not under a DNS suffix profile web allows"),
        "{}",
        stderr(&out)
    );
    let out = k(
        d,
        &[
            &["sign", "ok.csr", "--validity", "30d", "--out", "x.crt"][..],
            &p,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--validity: profile web allows at most 336h0m0s"),
        "{}",
        stderr(&out)
    );
    // A built-in profile's year is cut at the 30-day CA, with a warning.
    let out = k_ok(
        d,
        &[
            "sign",
            "ok.csr",
            "--cert-dir",
            "pki",
            "--profile",
            "server",
            "--out",
            "long.crt",
        ],
    );
    assert!(
        stdout(&out).contains("WARNING: the validity was cut"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        x509(&d.join("long.crt")).not_after,
        x509(&d.join("pki/ca.crt")).not_after
    );
}
