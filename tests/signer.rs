//! The CSR API against the real kube-apiserver and kube-controller-manager v1.22.3
//! (`../shared/k8s/`), Debian's etcd and the real kubectl:
//!
//! - the docs' flow with kubepki in place of openssl, cfssl, jq and base64: `csr-object make`,
//!   `kubectl apply`, `kubectl certificate approve`, `kubepki signer` (`--once`, and a
//!   long-running process stopped with SIGTERM), `kubectl get csr` says `Approved,Issued`, and
//!   the decoded certificate verifies against the signer CA and serves TLS for its SANs;
//! - for each built-in signerName, `csr-object sign` offline comes to the real controller
//!   manager's verdict on the same objects (issued or failed, the same message; the same
//!   subject, SANs, usages and validity rules), and `csr-object make` refuses what the API
//!   server refuses with the API server's texts;
//! - the signer survives an API server restart, signs 200 objects created at once exactly once
//!   each, and leaves unapproved and denied objects alone.
//!
//! `cargo test --release --test signer -- --ignored --nocapture` runs the benchmark.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::control_plane::{ControlPlane, Proc, k8s_binaries};
use common::free_ports;
use common::kubepki;
use kubepki::pki::csr::{self, CsrSpec};
use kubepki::pki::csr_object::{self, ObjectSpec};
use kubepki::pki::keys::{KeyAlgorithm, PrivateKey};
use kubepki::pki::names::AltNames;
use serde_json::Value;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(what: &str, out: Output) -> Output {
    assert!(out.status.success(), "{what}: {}", text(&out));
    out
}

/// A kubepki tree in `root` for an API server on 127.0.0.1:`port`, and the control plane on it.
fn control_plane(root: &Path, apiserver: &Path) -> ControlPlane {
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    ok(
        "kubepki init",
        kubepki()
            .arg("init")
            .arg("--cert-dir")
            .arg(root.join("pki"))
            .args(["--node-name", "cp-1", "--apiserver-advertise-address"])
            .args(["127.0.0.1", "--apiserver-bind-port", &port.to_string()])
            .args(["--key-algorithm", "ECDSA-P256"])
            .output()
            .unwrap(),
    );
    ControlPlane::start(root, port, apiserver)
}

/// A CA for a custom signer (`kubepki init-ca`), its certificate and key.
fn signer_ca(root: &Path) -> (PathBuf, PathBuf) {
    let dir = root.join("signer-ca");
    ok(
        "kubepki init-ca",
        kubepki()
            .arg("init-ca")
            .arg("--cert-dir")
            .arg(&dir)
            .args(["--key-algorithm", "ECDSA-P256"])
            .output()
            .unwrap(),
    );
    (dir.join("ca.crt"), dir.join("ca.key"))
}

fn kubepki_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("kubepki")
}

/// Every CertificateSigningRequest of the cluster, by name.
fn csrs(cp: &ControlPlane) -> BTreeMap<String, Value> {
    let out = ok(
        "kubectl get csr",
        cp.kubectl("super-admin.conf", &["get", "csr", "-o", "json"]),
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["metadata"]["name"].as_str().unwrap().to_string(),
                o.clone(),
            )
        })
        .collect()
}

fn condition<'a>(o: &'a Value, kind: &str) -> Option<&'a Value> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn certificate_der(o: &Value) -> Option<Vec<Vec<u8>>> {
    let b64 = o["status"]["certificate"].as_str()?;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    Some(
        pem::parse_many(pem)
            .unwrap()
            .into_iter()
            .map(|b| b.into_contents())
            .collect(),
    )
}

/// Waits up to `limit` for `done`, polling every 200 ms; panics with `what` and `log`.
fn wait_until(
    what: &str,
    limit: Duration,
    log: impl Fn() -> String,
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} within {limit:?}:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A request for `cn`/`orgs`/`sans` with a new P-256 key: (the key's PEM, the request's PEM).
fn request(cn: &str, orgs: &[&str], dns: &[&str], ips: &[&str]) -> (String, String) {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let spec = CsrSpec {
        common_name: cn.into(),
        organizations: orgs.iter().map(|s| s.to_string()).collect(),
        alt_names: AltNames {
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            ..Default::default()
        },
    };
    let der = csr::build(&spec, &key).unwrap();
    (key.to_pem().unwrap(), csr::csr_pem(&der))
}

/// An object as YAML, made with the library's `csr_object::make` (the CLI's own path).
fn object(name: &str, signer: &str, usages: &[&str], secs: Option<i32>, pem: &str) -> Value {
    let spec = ObjectSpec {
        name: name.into(),
        signer_name: signer.into(),
        usages: usages.iter().map(|s| s.to_string()).collect(),
        expiration_seconds: secs,
    };
    serde_json::to_value(csr_object::make(&spec, pem.as_bytes()).unwrap()).unwrap()
}

fn list(items: Vec<Value>) -> String {
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// What a certificate says, to compare two signers' certificates.
#[derive(Debug, PartialEq)]
struct Facts {
    subject: String,
    sans: Vec<String>,
    key_usage: String,
    ext_key_usage: Vec<&'static str>,
    is_ca: Option<bool>,
    /// NotAfter − NotBefore, in seconds.
    lifetime: i64,
}

fn facts(der: &[u8]) -> (Facts, i64, i64) {
    let (_, c) = X509Certificate::from_der(der).unwrap();
    let mut f = Facts {
        subject: c.subject().to_string(),
        sans: Vec::new(),
        key_usage: String::new(),
        ext_key_usage: Vec::new(),
        is_ca: None,
        lifetime: c.validity().not_after.timestamp() - c.validity().not_before.timestamp(),
    };
    for ext in c.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for n in &san.general_names {
                    f.sans.push(match n {
                        GeneralName::DNSName(d) => format!("DNS:{d}"),
                        GeneralName::IPAddress(ip) => format!("IP:{ip:?}"),
                        other => format!("{other:?}"),
                    });
                }
            }
            ParsedExtension::KeyUsage(ku) => f.key_usage = ku.to_string(),
            ParsedExtension::ExtendedKeyUsage(eku) => {
                if eku.server_auth {
                    f.ext_key_usage.push("serverAuth");
                }
                if eku.client_auth {
                    f.ext_key_usage.push("clientAuth");
                }
            }
            ParsedExtension::BasicConstraints(bc) => f.is_ca = Some(bc.ca),
            _ => {}
        }
    }
    (
        f,
        c.validity().not_before.timestamp(),
        c.validity().not_after.timestamp(),
    )
}

/// `kubectl certificate approve` for every name, ten kubectl processes at a time (one kubectl
/// approves about 2.5 objects a second under its client-side rate limit).
fn approve_all(cp: &ControlPlane, names: &[String]) {
    let chunk = names.len().div_ceil(10).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut args = vec!["certificate", "approve"];
                    args.extend(part.iter().map(String::as_str));
                    ok(
                        "kubectl certificate approve",
                        cp.kubectl("super-admin.conf", &args),
                    )
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

fn run_cmd(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap()
}

#[test]
fn the_docs_flow_with_kubepki_signer() {
    let Some((apiserver, _)) = k8s_binaries("the_docs_flow_with_kubepki_signer") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cp = control_plane(root, &apiserver);
    let (ca_crt, ca_key) = signer_ca(root);
    let p = |f: &str| root.join(f).display().to_string();

    // The docs: a key and request for the service (here kubepki csr, not cfssl genkey) ...
    ok(
        "kubepki csr",
        kubepki()
            .args([
                "csr",
                "--cn",
                "my-svc.my-namespace.svc",
                "--key-algorithm",
                "ECDSA-P256",
            ])
            .args([
                "--san",
                "my-svc.my-namespace.svc,localhost,127.0.0.1",
                "--out",
            ])
            .arg(root.join("server"))
            .output()
            .unwrap(),
    );
    // ... the object (kubepki, not base64 | tr -d '\n' into a heredoc), applied ...
    let made = ok(
        "csr-object make",
        kubepki()
            .args(["csr-object", "make", "--csr", &p("server.csr"), "--name"])
            .args([
                "my-svc.my-namespace",
                "--signer-name",
                "example.com/serving",
            ])
            .args(["--usages", "digital signature,key encipherment,server auth"])
            .output()
            .unwrap(),
    );
    let yaml = String::from_utf8(made.stdout).unwrap();
    ok(
        "kubectl apply",
        cp.kubectl_stdin("super-admin.conf", &["apply", "-f", "-"], Some(&yaml)),
    );
    let pending = cp.kubectl("super-admin.conf", &["get", "csr"]);
    assert!(
        String::from_utf8_lossy(&pending.stdout).contains("Pending"),
        "{}",
        text(&pending)
    );
    ok(
        "approve",
        cp.kubectl(
            "super-admin.conf",
            &["certificate", "approve", "my-svc.my-namespace"],
        ),
    );
    // ... signed by kubepki signer --once (not cfssl sign + jq + kubectl replace --raw).
    let signer_args = |once: bool| {
        let mut v = vec![
            "signer".to_string(),
            "--kubeconfig".into(),
            p("super-admin.conf"),
            "--signer-name".into(),
            "example.com/serving".into(),
            "--ca-cert".into(),
            ca_crt.display().to_string(),
            "--ca-key".into(),
            ca_key.display().to_string(),
            "--profile".into(),
            "server".into(),
        ];
        if once {
            v.push("--once".into());
        }
        v
    };
    let once = ok(
        "kubepki signer --once",
        kubepki().args(signer_args(true)).output().unwrap(),
    );
    let log = String::from_utf8_lossy(&once.stderr);
    assert!(
        log.contains("\"my-svc.my-namespace\": issued"),
        "{}",
        text(&once)
    );
    let get = cp.kubectl("super-admin.conf", &["get", "csr", "my-svc.my-namespace"]);
    assert!(
        String::from_utf8_lossy(&get.stdout).contains("Approved,Issued"),
        "{}",
        text(&get)
    );
    // A second --once signs nothing again.
    let again = ok(
        "kubepki signer --once again",
        kubepki().args(signer_args(true)).output().unwrap(),
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("left alone: has a certificate already"),
        "{}",
        text(&again)
    );

    // Decoded (not jq | base64 --decode), checked against the key.
    let fetched = cp.kubectl(
        "super-admin.conf",
        &["get", "csr", "my-svc.my-namespace", "-o", "yaml"],
    );
    let mut decode = Command::new(kubepki_bin())
        .args([
            "csr-object",
            "decode",
            "--key",
            &p("server.key"),
            "--out",
            &p("server.crt"),
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        decode
            .stdin
            .take()
            .unwrap()
            .write_all(&fetched.stdout)
            .unwrap();
    }
    ok("csr-object decode", decode.wait_with_output().unwrap());
    let verify = run_cmd(
        "openssl",
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            &ca_crt.display().to_string(),
            &p("server.crt"),
        ],
    );
    ok("openssl verify", verify);
    // The wrong key is refused.
    ok(
        "kubepki csr other",
        kubepki()
            .args([
                "csr",
                "--cn",
                "other",
                "--key-algorithm",
                "ECDSA-P256",
                "--out",
            ])
            .arg(root.join("other"))
            .output()
            .unwrap(),
    );
    let wrong = kubepki()
        .args(["csr-object", "decode", "--key", &p("other.key")])
        .write_stdin(fetched.stdout.clone())
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(4), "{}", text(&wrong));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("certifies another key"));

    // It serves TLS for its SANs: openssl s_server with it, s_client checking the name.
    let [tls_port] = free_ports(1)[..] else {
        unreachable!()
    };
    let server_args: Vec<String> = [
        "s_server",
        "-accept",
        &format!("127.0.0.1:{tls_port}"),
        "-cert",
        &p("server.crt"),
        "-key",
        &p("server.key"),
        "-www",
        "-quiet",
    ]
    .map(str::to_string)
    .to_vec();
    let server = Proc::start(
        "openssl s_server",
        Path::new("openssl"),
        &server_args,
        root.join("s_server.log"),
    );
    for name in ["my-svc.my-namespace.svc", "localhost"] {
        let mut verified = None;
        wait_until(
            "s_client verifies",
            Duration::from_secs(15),
            || server.tail(),
            || {
                let out = Command::new("openssl")
                    .args(["s_client", "-connect", &format!("127.0.0.1:{tls_port}")])
                    .args([
                        "-servername",
                        name,
                        "-verify_hostname",
                        name,
                        "-verify_return_error",
                    ])
                    .args(["-CAfile", &ca_crt.display().to_string()])
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                let s = String::from_utf8_lossy(&out.stdout).into_owned();
                let done = s.contains("Verify return code: 0 (ok)");
                verified = Some(text(&out));
                done
            },
        );
        assert!(verified.is_some());
    }
    // A name it has no SAN for is refused.
    let wrong_name = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{tls_port}")])
        .args([
            "-verify_hostname",
            "evil.example.com",
            "-verify_return_error",
        ])
        .args(["-CAfile", &ca_crt.display().to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&wrong_name.stdout).contains("Verify return code: 0 (ok)"));
    drop(server);

    // The long-running signer: it signs a new object as it is approved, and stops on SIGTERM.
    let mut daemon = Proc::start(
        "kubepki signer",
        &kubepki_bin(),
        &signer_args(false),
        root.join("signer.log"),
    );
    let (_, second) = request("second.example.com", &[], &["second.example.com"], &[]);
    let obj = object(
        "second",
        "example.com/serving",
        &["digital signature", "server auth"],
        Some(3600),
        &second,
    );
    ok(
        "apply second",
        cp.kubectl_stdin(
            "super-admin.conf",
            &["apply", "-f", "-"],
            Some(&obj.to_string()),
        ),
    );
    ok(
        "approve second",
        cp.kubectl("super-admin.conf", &["certificate", "approve", "second"]),
    );
    wait_until(
        "the running signer issues",
        Duration::from_secs(30),
        || daemon.tail(),
        || certificate_der(&csrs(&cp)["second"]).is_some(),
    );
    let get = cp.kubectl("super-admin.conf", &["get", "csr", "second"]);
    assert!(String::from_utf8_lossy(&get.stdout).contains("Approved,Issued"));
    let (f, _, _) = facts(&certificate_der(&csrs(&cp)["second"]).unwrap()[0]);
    assert_eq!(
        f.lifetime,
        3600 + 300,
        "expirationSeconds 3600 (< 8 h): now−5 min to now+1 h"
    );
    let status = daemon.terminate(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM stops it cleanly: {status:?}\n{}",
        daemon.tail()
    );
    assert!(
        daemon.tail().contains("SIGTERM: stopping"),
        "{}",
        daemon.tail()
    );
}

/// The objects of the comparison: name, signerName, subject, SANs, usages, expirationSeconds.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    Option<i32>,
);

const KUBELET_CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";
const APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
const DS_KE_CLIENT: &[&str] = &["digital signature", "key encipherment", "client auth"];
const DS_KE_SERVER: &[&str] = &["digital signature", "key encipherment", "server auth"];

const CASES: &[Case] = &[
    (
        "kc-valid",
        KUBELET_CLIENT,
        "system:node:w1",
        &["system:nodes"],
        &[],
        DS_KE_CLIENT,
        None,
    ),
    (
        "kc-wrong-o",
        KUBELET_CLIENT,
        "system:node:w1",
        &["system:masters-not"],
        &[],
        DS_KE_CLIENT,
        None,
    ),
    (
        "kc-dns-san",
        KUBELET_CLIENT,
        "system:node:w1",
        &["system:nodes"],
        &["w1.example.com"],
        DS_KE_CLIENT,
        None,
    ),
    (
        "kc-wrong-usages",
        KUBELET_CLIENT,
        "system:node:w1",
        &["system:nodes"],
        &[],
        DS_KE_SERVER,
        None,
    ),
    (
        "kc-ttl-1d",
        KUBELET_CLIENT,
        "system:node:w2",
        &["system:nodes"],
        &[],
        DS_KE_CLIENT,
        Some(86400),
    ),
    (
        "ks-valid",
        KUBELET_SERVING,
        "system:node:w1",
        &["system:nodes"],
        &["w1.example.com", "10.0.0.11"],
        DS_KE_SERVER,
        None,
    ),
    (
        "ks-no-sans",
        KUBELET_SERVING,
        "system:node:w1",
        &["system:nodes"],
        &[],
        DS_KE_SERVER,
        None,
    ),
    (
        "ac-valid",
        APISERVER_CLIENT,
        "jane",
        &["developers"],
        &[],
        DS_KE_CLIENT,
        Some(3600),
    ),
    (
        "ac-no-client-auth",
        APISERVER_CLIENT,
        "jane",
        &["developers"],
        &[],
        &["digital signature", "key encipherment"],
        None,
    ),
    (
        "ac-ttl-min",
        APISERVER_CLIENT,
        "joe",
        &[],
        &[],
        &["digital signature", "client auth"],
        Some(600),
    ),
];

#[test]
fn offline_verdicts_equal_the_controller_managers() {
    let Some((apiserver, controller_manager)) =
        k8s_binaries("offline_verdicts_equal_the_controller_managers")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut cp = control_plane(root, &apiserver);
    let p = |f: &str| root.join(f).display().to_string();

    // make refuses what the API server refuses, with its texts.
    let (_, pem) = request("x", &[], &[], &[]);
    std::fs::write(root.join("x.csr"), &pem).unwrap();
    for (signer, usages, secs) in [
        ("foo", "client auth", None),
        ("foo/bar", "client auth", None),
        ("Example.com/bar", "client auth", None),
        ("kubernetes.io/legacy-unknown", "client auth", None),
        ("example.com/x", "client auth,bogus", None),
        ("example.com/x", "client auth,client auth", None),
        ("example.com/x", "client auth", Some(599)),
    ] {
        let mut args = vec![
            "csr-object",
            "make",
            "--name",
            "t1",
            "--signer-name",
            signer,
            "--usages",
            usages,
        ];
        let secs_text = secs.map(|s: i32| s.to_string());
        if let Some(s) = &secs_text {
            args.extend(["--expiration-seconds", s.as_str()]);
        }
        let csr_path = p("x.csr");
        args.extend(["--csr", csr_path.as_str()]);
        let ours = kubepki().args(&args).output().unwrap();
        assert_eq!(ours.status.code(), Some(2), "{}", text(&ours));
        // The same object, valid but for this, through the API server.
        let mut obj = object("t1", "example.com/x", &["client auth"], None, &pem);
        obj["spec"]["signerName"] = signer.into();
        obj["spec"]["usages"] = usages.split(',').collect::<Vec<_>>().into();
        if let Some(s) = secs {
            obj["spec"]["expirationSeconds"] = s.into();
        }
        let theirs = cp.kubectl_stdin(
            "super-admin.conf",
            &["apply", "--dry-run=server", "-f", "-"],
            Some(&obj.to_string()),
        );
        assert!(!theirs.status.success());
        let their_text = String::from_utf8_lossy(&theirs.stderr);
        let our_text = String::from_utf8_lossy(&ours.stderr);
        for line in our_text.lines().filter(|l| l.contains("spec.")) {
            let line = line.trim_start_matches("error: csr-object make: ");
            assert!(
                their_text.contains(line),
                "ours: {line}\ntheirs: {their_text}"
            );
        }
    }

    // The objects, created and approved in the cluster, decided by the controller manager.
    cp.start_controller_manager(&controller_manager);
    let mut items = Vec::new();
    for (name, signer, cn, orgs, sans, usages, secs) in CASES {
        let dns: Vec<&str> = sans
            .iter()
            .copied()
            .filter(|s| s.parse::<std::net::IpAddr>().is_err())
            .collect();
        let ips: Vec<&str> = sans
            .iter()
            .copied()
            .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
            .collect();
        let (_, pem) = request(cn, orgs, &dns, &ips);
        items.push(object(name, signer, usages, *secs, &pem));
    }
    let created_at = time::OffsetDateTime::now_utc().unix_timestamp();
    ok(
        "create the objects",
        cp.kubectl_stdin(
            "super-admin.conf",
            &["create", "-f", "-"],
            Some(&list(items)),
        ),
    );
    let mut approve = vec!["certificate", "approve"];
    approve.extend(CASES.iter().map(|c| c.0));
    ok("approve them", cp.kubectl("super-admin.conf", &approve));
    let cm_log = || {
        cp.controller_manager
            .as_ref()
            .map(|p| p.tail())
            .unwrap_or_default()
    };
    wait_until(
        "the controller manager decides every object",
        Duration::from_secs(60),
        cm_log,
        || {
            let all = csrs(&cp);
            CASES.iter().all(|c| {
                let o = &all[c.0];
                certificate_der(o).is_some() || condition(o, "Failed").is_some()
            })
        },
    );
    let theirs = csrs(&cp);

    // The same objects as they were approved (no certificate, no Failed), signed offline with
    // the same CA.
    let approved: Vec<Value> = CASES
        .iter()
        .map(|c| {
            let mut o = theirs[c.0].clone();
            let conditions: Vec<Value> = o["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["type"] == "Approved")
                .cloned()
                .collect();
            o["status"] = serde_json::json!({"conditions": conditions});
            o
        })
        .collect();
    std::fs::write(root.join("approved.json"), list(approved)).unwrap();
    let signed = ok(
        "csr-object sign",
        kubepki()
            .args([
                "csr-object",
                "sign",
                &p("approved.json"),
                "--ca-cert",
                &p("pki/ca.crt"),
            ])
            .args(["--ca-key", &p("pki/ca.key"), "--out", &p("signed.json")])
            .output()
            .unwrap(),
    );
    let signed_at = time::OffsetDateTime::now_utc().unix_timestamp();
    let ours: Value =
        serde_json::from_slice(&std::fs::read(root.join("signed.json")).unwrap()).unwrap();
    let ours: BTreeMap<String, Value> = ours["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["metadata"]["name"].as_str().unwrap().to_string(),
                o.clone(),
            )
        })
        .collect();
    let mut report = String::new();
    for (name, ..) in CASES {
        let (t, o) = (&theirs[*name], &ours[*name]);
        match (certificate_der(t), certificate_der(o)) {
            (Some(tc), Some(oc)) => {
                let (tf, t_nb, _) = facts(&tc[0]);
                let (of, o_nb, _) = facts(&oc[0]);
                assert_eq!(of, tf, "{name}: the certificates differ\n{}", text(&signed));
                // NotBefore is now − 5 minutes for both.
                assert!(
                    (created_at - 300 - 5..=created_at - 300 + 60).contains(&t_nb),
                    "{name}"
                );
                assert!(
                    (signed_at - 300 - 5..=signed_at - 300).contains(&o_nb),
                    "{name}"
                );
                report.push_str(&format!(
                    "{name}: issued by both, lifetime {} s\n",
                    tf.lifetime
                ));
            }
            (None, None) => {
                let (tfail, ofail) = (
                    condition(t, "Failed").unwrap(),
                    condition(o, "Failed").unwrap(),
                );
                assert_eq!(ofail["reason"], "SignerValidationFailure", "{name}");
                assert_eq!(ofail["reason"], tfail["reason"], "{name}");
                assert_eq!(ofail["message"], tfail["message"], "{name}");
                report.push_str(&format!("{name}: failed by both: {}\n", tfail["message"]));
            }
            (t, o) => panic!(
                "{name}: the controller manager issued: {}, kubepki issued: {}\n{t:?}\n{o:?}",
                t.is_some(),
                o.is_some()
            ),
        }
    }
    eprintln!("{report}");
    // The validity rules, spelled out: 1 year less the backdate, 1 day less the backdate, 1 h
    // plus the backdate (under 8 h), 10 minutes plus the backdate.
    let life = |n: &str| facts(&certificate_der(&ours[n]).unwrap()[0]).0.lifetime;
    assert_eq!(life("kc-valid"), 365 * 86400);
    assert_eq!(life("kc-ttl-1d"), 86400);
    assert_eq!(life("ac-valid"), 3600 + 300);
    assert_eq!(life("ac-ttl-min"), 600 + 300);
}

#[test]
fn the_signer_survives_restarts_crowds_and_leaves_what_is_not_approved() {
    let Some((apiserver, _)) = k8s_binaries("the_signer_survives") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut cp = control_plane(root, &apiserver);
    let (ca_crt, ca_key) = signer_ca(root);
    let p = |f: &str| root.join(f).display().to_string();
    let args: Vec<String> = [
        "signer",
        "--kubeconfig",
        &p("super-admin.conf"),
        "--signer-name",
        "example.com/serving",
        "--ca-cert",
        &ca_crt.display().to_string(),
        "--ca-key",
        &ca_key.display().to_string(),
        "--profile",
        "server",
    ]
    .map(str::to_string)
    .to_vec();
    let mut signer = Proc::start(
        "kubepki signer",
        &kubepki_bin(),
        &args,
        root.join("signer.log"),
    );
    let usages = ["digital signature", "server auth"];
    let one = |name: &str| {
        let (_, pem) = request(
            &format!("{name}.example.com"),
            &[],
            &[&format!("{name}.example.com")],
            &[],
        );
        object(name, "example.com/serving", &usages, None, &pem)
    };

    // An unapproved and a denied object are left alone.
    ok(
        "create",
        cp.kubectl_stdin(
            "super-admin.conf",
            &["create", "-f", "-"],
            Some(&list(vec![one("unapproved"), one("denied"), one("before")])),
        ),
    );
    ok(
        "deny",
        cp.kubectl("super-admin.conf", &["certificate", "deny", "denied"]),
    );
    ok(
        "approve",
        cp.kubectl("super-admin.conf", &["certificate", "approve", "before"]),
    );
    wait_until(
        "signed before the restart",
        Duration::from_secs(30),
        || signer.tail(),
        || certificate_der(&csrs(&cp)["before"]).is_some(),
    );

    // The API server restarted under it: stopped by PID, started again on the same port.
    cp.restart_apiserver(2);
    ok(
        "create after",
        cp.kubectl_stdin(
            "super-admin.conf",
            &["create", "-f", "-"],
            Some(&one("after").to_string()),
        ),
    );
    ok(
        "approve after",
        cp.kubectl("super-admin.conf", &["certificate", "approve", "after"]),
    );
    wait_until(
        "signed after the restart",
        Duration::from_secs(60),
        || signer.tail(),
        || certificate_der(&csrs(&cp)["after"]).is_some(),
    );

    // 200 objects created at once, approved at once: each signed exactly once.
    let names: Vec<String> = (0..200).map(|i| format!("crowd-{i:03}")).collect();
    let items: Vec<Value> = names.iter().map(|n| one(n)).collect();
    let start = Instant::now();
    ok(
        "create 200",
        cp.kubectl_stdin(
            "super-admin.conf",
            &["create", "-f", "-"],
            Some(&list(items)),
        ),
    );
    approve_all(&cp, &names);
    wait_until(
        "200 signed",
        Duration::from_secs(90),
        || signer.tail(),
        || {
            let all = csrs(&cp);
            names.iter().all(|n| certificate_der(&all[n]).is_some())
        },
    );
    eprintln!(
        "200 objects: created, approved and signed in {:?}",
        start.elapsed()
    );
    let status = signer.terminate(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let log = std::fs::read_to_string(root.join("signer.log")).unwrap();
    let all = csrs(&cp);
    for n in names
        .iter()
        .chain([&"before".to_string(), &"after".to_string()])
    {
        let certs = certificate_der(&all[n]).unwrap();
        assert_eq!(certs.len(), 1, "{n}: one certificate");
        assert!(condition(&all[n], "Failed").is_none());
        let issued = log.matches(&format!("\"{n}\": issued")).count();
        assert_eq!(issued, 1, "{n}: signed {issued} times\n{log}");
    }
    for n in ["unapproved", "denied"] {
        assert!(certificate_der(&all[n]).is_none(), "{n} has no certificate");
        assert!(condition(&all[n], "Failed").is_none(), "{n} is not failed");
    }
    assert!(
        log.contains("\"unapproved\": left alone: not approved"),
        "{log}"
    );
    assert!(log.contains("\"denied\": left alone: denied"), "{log}");
    let get = cp.kubectl("super-admin.conf", &["get", "csr", "unapproved", "denied"]);
    let table = String::from_utf8_lossy(&get.stdout);
    assert!(
        table.contains("Pending") && table.contains("Denied"),
        "{table}"
    );
}

/// The benchmark (not a timed test): CSRs signed per second by `kubepki signer` through the real
/// API server, and by `csr-object sign` offline.
#[test]
#[ignore = "benchmark: cargo test --release --test signer -- --ignored --nocapture"]
fn bench_signing_rates() {
    let Some((apiserver, _)) = k8s_binaries("bench_signing_rates") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cp = control_plane(root, &apiserver);
    let (ca_crt, ca_key) = signer_ca(root);
    let p = |f: &str| root.join(f).display().to_string();
    const N: usize = 200;
    let batch = |prefix: &str| -> (Vec<String>, String) {
        let names: Vec<String> = (0..N).map(|i| format!("{prefix}-{i:03}")).collect();
        let items: Vec<Value> = names
            .iter()
            .map(|n| {
                let host = format!("{n}.example.com");
                let (_, pem) = request(&host, &[], &[&host], &[]);
                object(
                    n,
                    "example.com/serving",
                    &["digital signature", "server auth"],
                    None,
                    &pem,
                )
            })
            .collect();
        (names, list(items))
    };
    let signed = |names: &[String]| {
        let all = csrs(&cp);
        names.iter().all(|n| certificate_der(&all[n]).is_some())
    };
    let args: Vec<String> = [
        "signer",
        "--kubeconfig",
        &p("super-admin.conf"),
        "--signer-name",
        "example.com/serving",
        "--ca-cert",
        &ca_crt.display().to_string(),
        "--ca-key",
        &ca_key.display().to_string(),
        "--profile",
        "server",
    ]
    .map(str::to_string)
    .to_vec();

    // 1. `--once` over N approved objects: list, sign, N writes to /status.
    let (names, doc) = batch("once");
    ok(
        "create",
        cp.kubectl_stdin("super-admin.conf", &["create", "-f", "-"], Some(&doc)),
    );
    approve_all(&cp, &names);
    let start = Instant::now();
    let once = ok(
        "signer --once",
        kubepki().args(&args).arg("--once").output().unwrap(),
    );
    let once_time = start.elapsed();
    assert!(signed(&names), "{}", text(&once));

    // 2. The running signer, from the first create to the last Issued (approved by ten
    // kubectl processes meanwhile).
    let mut signer = Proc::start(
        "kubepki signer",
        &kubepki_bin(),
        &args,
        root.join("signer.log"),
    );
    std::thread::sleep(Duration::from_secs(1));
    let (names, doc) = batch("watch");
    let start = Instant::now();
    ok(
        "create",
        cp.kubectl_stdin("super-admin.conf", &["create", "-f", "-"], Some(&doc)),
    );
    approve_all(&cp, &names);
    let approved_at = start.elapsed();
    wait_until(
        "all signed",
        Duration::from_secs(120),
        || signer.tail(),
        || signed(&names),
    );
    let total = start.elapsed();
    signer.terminate(Duration::from_secs(10));
    let rate = |t: Duration| N as f64 / t.as_secs_f64();
    eprintln!(
        "BENCH signer --once: {N} approved CSRs signed through the API server in {once_time:?}: \
         {:.0} CSRs/s\nBENCH signer (watch): {N} CSRs created, approved (done after \
         {approved_at:?}) and signed in {total:?}: {:.0} CSRs/s end to end",
        rate(once_time),
        rate(total)
    );
    let (_, doc) = batch("offline");
    // Offline: the same objects, approved by --approve, signed into a file.
    std::fs::write(root.join("objects.json"), &doc).unwrap();
    let offline = Instant::now();
    ok(
        "csr-object sign",
        kubepki()
            .args([
                "csr-object",
                "sign",
                &p("objects.json"),
                "--approve",
                "--out",
                &p("signed.json"),
            ])
            .args([
                "--ca-cert",
                &ca_crt.display().to_string(),
                "--ca-key",
                &ca_key.display().to_string(),
            ])
            .args(["--profile", "server"])
            .output()
            .unwrap(),
    );
    let offline = offline.elapsed();
    eprintln!(
        "BENCH offline: csr-object sign --approve of {N} objects (read, decide, sign, write the \
         List) in {offline:?}: {:.0} CSRs/s",
        rate(offline)
    );
}
