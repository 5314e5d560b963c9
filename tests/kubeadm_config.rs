//! `--config` (kubeadm v1beta3/v1beta4 InitConfiguration + ClusterConfiguration), `--dry-run`
//! and `-o json|yaml`, end to end through the real binary.
//!
//! The config files are written as the kubeadm documentation writes them. Each certificate made
//! from a config is read twice, with x509-parser and with `openssl x509`, and checked against the
//! SAN, key, validity and kubeconfig rules of kubeadm (shared/reference/kubeadm-pki.md §2-§5).
//! Every failure is checked to write nothing, and `--dry-run` to create nothing, not even the
//! directories; the plan printed by `--dry-run -o json` is held to what the real run then writes.

mod common;

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use serde_json::Value as Json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const HOUR: i64 = 3600;
const BACKDATE: i64 = 5 * 60;
const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Runs kubepki with `args` (not asserted).
fn run(args: &[&str]) -> Output {
    kubepki().args(args).output().expect("kubepki runs")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("kubepki exited (not killed)")
}

/// Asserts kubepki exited with `want`, showing its output otherwise.
fn assert_code(what: &str, out: &Output, want: i32) {
    assert_eq!(
        code(out),
        want,
        "{what}: exit code\nstdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter()
        .map(|s| s.parse().unwrap_or_else(|e| panic!("{s}: {e}")))
        .collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The SANs as `openssl x509 -ext subjectAltName` prints them, in order: (DNS, IPs).
fn openssl_sans(cert: &Path) -> (Vec<String>, Vec<IpAddr>) {
    let text = openssl_ok(["x509", "-in", ps(cert), "-noout", "-ext", "subjectAltName"]);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().map(str::trim),
        Some("X509v3 Subject Alternative Name:"),
        "{}: {text}",
        cert.display()
    );
    let body = lines.collect::<Vec<_>>().join(" ");
    let (mut dns, mut ips) = (Vec::new(), Vec::new());
    for entry in body.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if let Some(d) = entry.strip_prefix("DNS:") {
            dns.push(d.to_string());
        } else if let Some(ip) = entry.strip_prefix("IP Address:") {
            // openssl 3.0 prints IPv6 uncompressed (0:0:0:0:0:0:0:1), which std parses too.
            ips.push(
                ip.parse()
                    .unwrap_or_else(|e| panic!("{}: IP SAN {ip:?}: {e}", cert.display())),
            );
        } else {
            panic!("{}: unexpected SAN entry {entry:?}", cert.display());
        }
    }
    (dns, ips)
}

/// Asserts a certificate's SANs, exact lists in exact order, with x509-parser and openssl.
fn assert_sans(cert: &Path, dns: &[&str], ip: &[&str]) {
    let x = x509(cert);
    assert_eq!(x.dns_sans(), strings(dns), "{}: DNS SANs", cert.display());
    assert_eq!(x.ip_sans(), ips(ip), "{}: IP SANs", cert.display());
    assert_eq!(
        openssl_sans(cert),
        (strings(dns), ips(ip)),
        "{}: SANs as openssl reads them",
        cert.display()
    );
}

/// `kubectl config view --kubeconfig FILE -o jsonpath=PATH`.
fn kubectl_jsonpath(kubeconfig: &Path, path: &str) -> String {
    let out = StdCommand::new("kubectl")
        .args(["config", "view", "--kubeconfig", ps(kubeconfig), "-o"])
        .arg(format!("jsonpath={path}"))
        .env_remove("KUBECONFIG")
        .output()
        .unwrap_or_else(|e| {
            panic!("kubectl cannot run ({e}); install it: apt-get install -y kubernetes-client")
        });
    assert_success(
        &format!("kubectl config view {}", kubeconfig.display()),
        &out,
    );
    stdout(&out)
}

/// The client certificate and key of a kubeconfig's (only) user, written as PEM files into
/// `out_dir` as `<stem>.crt` / `<stem>.key`.
fn kubeconfig_credentials(kubeconfig: &Path, out_dir: &Path) -> (PathBuf, PathBuf) {
    let text = fs::read_to_string(kubeconfig).expect("read kubeconfig");
    let doc: yaml_serde::Value = yaml_serde::from_str(&text).expect("kubeconfig is YAML");
    let user = &doc["users"][0]["user"];
    let decode = |field: &str| {
        let b64 = user[field]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no {field}", kubeconfig.display()));
        BASE64.decode(b64).expect("base64")
    };
    let stem = kubeconfig.file_name().unwrap().to_string_lossy();
    let crt = out_dir.join(format!("{stem}.crt"));
    let key = out_dir.join(format!("{stem}.key"));
    fs::write(&crt, decode("client-certificate-data")).unwrap();
    fs::write(&key, decode("client-key-data")).unwrap();
    (crt, key)
}

/// Every `*.key` below `dir`.
fn key_files(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_iter()
        .filter(|(rel, e)| e.contents.is_some() && rel.ends_with(".key"))
        .map(|(rel, _)| dir.join(rel))
        .collect()
}

/// Asserts a private key file is an EC key on `curve` ("P-384"/"secp384r1"), per openssl.
fn assert_ec_key(key: &Path, nist: &str, oid: &str) {
    let text = openssl_ok(["pkey", "-in", ps(key), "-noout", "-text"]);
    assert!(
        text.contains(&format!("NIST CURVE: {nist}")) && text.contains(&format!("ASN1 OID: {oid}")),
        "{}: not a {nist} key:\n{text}",
        key.display()
    );
    let (label, _) = pem_block(key);
    assert_eq!(
        label,
        "EC PRIVATE KEY",
        "{}: SEC1, as kubeadm",
        key.display()
    );
}

/// The files and directories directly in `dir`.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts the text output of a dry run is only `[dry-run] would ...` lines (at least one),
/// ending with the "nothing was written" line, and returns the `would` lines.
fn assert_would_lines(what: &str, out: &Output) -> Vec<String> {
    let text = stdout(out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last().copied(),
        Some("[dry-run] nothing was written"),
        "{what}:\n{text}"
    );
    let would: Vec<String> = lines[..lines.len() - 1]
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert!(!would.is_empty(), "{what}: no plan lines:\n{text}");
    for l in &would {
        assert!(
            l.starts_with("[dry-run] would "),
            "{what}: line {l:?}:\n{text}"
        );
    }
    would
}

fn rfc3339(s: &str) -> i64 {
    OffsetDateTime::parse(s, &Rfc3339)
        .unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
        .unix_timestamp()
}

/// A serial as one canonical string: uppercase hex without separators or leading zeros.
fn canonical_serial(s: &str) -> String {
    let hex: String = s
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_uppercase();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    }
}

// ---------------------------------------------------------------------------------------------
// The configs.

const NODE_CP: &str = "cp-1";
const ADV: &str = "192.168.1.10";

/// v1beta4, single stack, as in the kubeadm docs: every PKI field set. The certSANs repeat the
/// advertise address and `kubernetes` (deduplicated), and list two IPs in descending order (the
/// order must be kept, not sorted); the etcd SANs include a wildcard, which sorts first.
const V1BETA4: &str = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
  - groups:
      - system:bootstrappers:kubeadm:default-node-token
    token: abcdef.0123456789abcdef
    ttl: 24h0m0s
    usages:
      - signing
      - authentication
localAPIEndpoint:
  advertiseAddress: 192.168.1.10
  bindPort: 6444
nodeRegistration:
  criSocket: unix:///var/run/containerd/containerd.sock
  imagePullPolicy: IfNotPresent
  name: cp-1
  taints: null
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.31.0
clusterName: prod
controlPlaneEndpoint: lb.example.com:8443
encryptionAlgorithm: ECDSA-P384
certificateValidityPeriod: 2160h0m0s
caCertificateValidityPeriod: 43800h0m0s
imageRepository: registry.k8s.io
networking:
  dnsDomain: corp.local
  serviceSubnet: 10.100.0.0/16
  podSubnet: 10.244.0.0/16
apiServer:
  certSANs:
    - 10.0.0.100
    - api.example.com
    - 10.0.0.50
    - 192.168.1.10
    - kubernetes
etcd:
  local:
    dataDir: /var/lib/etcd
    serverCertSANs:
      - etcd.example.com
      - 10.0.0.21
      - \"*.etcd.example.com\"
    peerCertSANs:
      - peer.example.com
      - 10.0.0.22
      - 10.0.0.2
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
";

const APISERVER_DNS: &[&str] = &[
    "api.example.com",
    "cp-1",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.corp.local",
    "lb.example.com",
];
const APISERVER_IPS: &[&str] = &["10.100.0.1", "192.168.1.10", "10.0.0.100", "10.0.0.50"];
const ETCD_SERVER_DNS: &[&str] = &[
    "*.etcd.example.com",
    "cp-1",
    "etcd.example.com",
    "localhost",
];
const ETCD_SERVER_IPS: &[&str] = &["192.168.1.10", "127.0.0.1", "::1", "10.0.0.21"];
const ETCD_PEER_DNS: &[&str] = &["cp-1", "localhost", "peer.example.com"];
const ETCD_PEER_IPS: &[&str] = &["192.168.1.10", "127.0.0.1", "::1", "10.0.0.22", "10.0.0.2"];

/// (certificate, its CA), relative to the cert dir, for a local-etcd tree.
const LEAVES: &[(&str, &str)] = &[
    ("apiserver.crt", "ca.crt"),
    ("apiserver-kubelet-client.crt", "ca.crt"),
    ("front-proxy-client.crt", "front-proxy-ca.crt"),
    ("etcd/server.crt", "etcd/ca.crt"),
    ("etcd/peer.crt", "etcd/ca.crt"),
    ("etcd/healthcheck-client.crt", "etcd/ca.crt"),
    ("apiserver-etcd-client.crt", "etcd/ca.crt"),
];
const CAS: &[&str] = &["ca.crt", "front-proxy-ca.crt", "etcd/ca.crt"];
const KUBECONFIGS: &[&str] = &[
    "admin.conf",
    "super-admin.conf",
    "kubelet.conf",
    "controller-manager.conf",
    "scheduler.conf",
];

/// A ClusterConfiguration with only `body` below the header.
fn cluster_config(version: &str, body: &str) -> String {
    format!("apiVersion: kubeadm.k8s.io/{version}\nkind: ClusterConfiguration\n{body}")
}

// ---------------------------------------------------------------------------------------------
// 1. Configs as the kubeadm documentation writes them.

#[test]
fn v1beta4_config_shapes_sans_keys_validity_and_kubeconfigs() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_file(tmp.path(), "kubeadm.yaml", V1BETA4);
    let root = tmp.path().join("k8s");
    let pki = root.join("pki");
    let started = now_unix();
    let out = run(&["init", "--config", ps(&config), "--cert-dir", ps(&pki)]);
    let finished = now_unix();
    assert_success("init --config", &out);
    assert!(
        stderr(&out).contains("KubeletConfiguration") && stderr(&out).contains("ignored"),
        "the KubeletConfiguration document is ignored with a note:\n{}",
        stderr(&out)
    );

    // SANs: exact lists, exact order (DNS sorted and deduplicated, IPs first-seen order).
    let mut sorted = APISERVER_DNS.to_vec();
    sorted.sort();
    assert_eq!(sorted, APISERVER_DNS, "the expected DNS list is sorted");
    assert_sans(&pki.join("apiserver.crt"), APISERVER_DNS, APISERVER_IPS);
    assert_sans(
        &pki.join("etcd/server.crt"),
        ETCD_SERVER_DNS,
        ETCD_SERVER_IPS,
    );
    assert_sans(&pki.join("etcd/peer.crt"), ETCD_PEER_DNS, ETCD_PEER_IPS);
    assert_eq!(
        x509(&pki.join("etcd/server.crt")).common_name(),
        Some(NODE_CP)
    );
    assert_eq!(
        x509(&pki.join("etcd/peer.crt")).common_name(),
        Some(NODE_CP)
    );

    // Kubeconfigs: server URLs, cluster name, context; their client credentials for the checks
    // below.
    let creds = tmp.path().join("creds");
    fs::create_dir(&creds).unwrap();
    let mut client_certs = Vec::new();
    for name in KUBECONFIGS {
        let kc = root.join(name);
        let server = match *name {
            "controller-manager.conf" | "scheduler.conf" => "https://192.168.1.10:6444",
            _ => "https://lb.example.com:8443",
        };
        assert_eq!(
            kubectl_jsonpath(&kc, "{.clusters[0].cluster.server}"),
            server,
            "{name}: server"
        );
        assert_eq!(
            kubectl_jsonpath(&kc, "{.clusters[*].name}"),
            "prod",
            "{name}: cluster name"
        );
        assert_eq!(
            kubectl_jsonpath(&kc, "{.contexts[0].context.cluster}"),
            "prod",
            "{name}: the context's cluster"
        );
        let (crt, key) = kubeconfig_credentials(&kc, &creds);
        assert_ec_key(&key, "P-384", "secp384r1");
        if *name == "kubelet.conf" {
            assert_eq!(x509(&crt).common_name(), Some("system:node:cp-1"));
        }
        client_certs.push(crt);
    }

    // Keys: every key is P-384, SEC1.
    let keys = key_files(&pki);
    assert_eq!(keys.len(), 11, "10 certificate keys and sa.key: {keys:?}");
    for key in &keys {
        assert_ec_key(key, "P-384", "secp384r1");
    }
    let sa = openssl_ok(["ec", "-in", ps(&pki.join("sa.key")), "-noout", "-text"]);
    assert!(sa.contains("NIST CURVE: P-384"), "sa.key:\n{sa}");
    let sa_pub = openssl_ok([
        "pkey",
        "-pubin",
        "-in",
        ps(&pki.join("sa.pub")),
        "-noout",
        "-text",
    ]);
    assert!(sa_pub.contains("NIST CURVE: P-384"), "sa.pub:\n{sa_pub}");

    // Certificates: P-384 keys, ecdsa-with-SHA384, validity from the config + 5 min backdate.
    let leaf_validity = 2160 * HOUR + BACKDATE;
    let ca_validity = 43800 * HOUR + BACKDATE;
    assert_eq!(43800 * HOUR, 5 * 365 * 24 * HOUR, "43800h is 5 years");
    let all_certs = CAS
        .iter()
        .map(|c| (pki.join(c), true))
        .chain(LEAVES.iter().map(|(c, _)| (pki.join(c), false)))
        .chain(client_certs.iter().map(|c| (c.clone(), false)));
    for (cert, is_ca) in all_certs {
        let x = x509(&cert);
        let n = cert.display();
        assert_eq!(x.key_algorithm, OID_EC_PUBLIC_KEY, "{n}");
        assert_eq!(x.key_bits, 384, "{n}");
        assert_eq!(x.signature_algorithm, OID_ECDSA_SHA384, "{n}");
        let want = if is_ca { ca_validity } else { leaf_validity };
        assert_eq!(x.not_after - x.not_before, want, "{n}: validity");
        assert!(
            (started - BACKDATE - 1..=finished - BACKDATE + 1).contains(&x.not_before),
            "{n}: notBefore {} is not the run time ({started}..{finished}) - 5 min",
            x.not_before
        );
        let text = openssl_ok(["x509", "-in", ps(&cert), "-noout", "-text"]);
        assert!(
            text.contains("Signature Algorithm: ecdsa-with-SHA384")
                && text.contains("NIST CURVE: P-384"),
            "{n}:\n{text}"
        );
    }

    // Every leaf verifies against its CA with openssl.
    let chains = LEAVES
        .iter()
        .map(|(c, ca)| (pki.join(c), pki.join(ca)))
        .chain(client_certs.iter().map(|c| (c.clone(), pki.join("ca.crt"))));
    for (cert, ca) in chains {
        let out = openssl_ok(["verify", "-x509_strict", "-CAfile", ps(&ca), ps(&cert)]);
        assert_eq!(out.trim(), format!("{}: OK", cert.display()));
    }
}

#[test]
fn v1beta3_public_keys_ecdsa_gate_makes_p256_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_file(
        tmp.path(),
        "kubeadm.yaml",
        "\
apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 192.168.1.10
  bindPort: 6443
nodeRegistration:
  name: cp-1
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.30.0
featureGates:
  PublicKeysECDSA: true
networking:
  serviceSubnet: 10.96.0.0/12
",
    );
    let root = tmp.path().join("k8s");
    let pki = root.join("pki");
    let out = run(&["init", "--config", ps(&config), "--cert-dir", ps(&pki)]);
    assert_success("init --config (v1beta3)", &out);
    for key in key_files(&pki) {
        assert_ec_key(&key, "P-256", "prime256v1");
    }
    let creds = tmp.path().join("creds");
    fs::create_dir(&creds).unwrap();
    for name in KUBECONFIGS {
        // kubeadm#3072: kubeconfig keys follow the gate too (fixed in kubeadm 1.31).
        let (crt, key) = kubeconfig_credentials(&root.join(name), &creds);
        assert_ec_key(&key, "P-256", "prime256v1");
        assert_eq!(x509(&crt).signature_algorithm, OID_ECDSA_SHA256, "{name}");
    }
    for cert in CAS.iter().chain(LEAVES.iter().map(|(c, _)| c)) {
        let x = x509(&pki.join(cert));
        assert_eq!(
            (x.key_bits, x.signature_algorithm.as_str()),
            (256, OID_ECDSA_SHA256),
            "{cert}"
        );
        // v1beta3 has no validity fields: kubeadm's constants apply.
        let want = if CAS.contains(cert) { 3650 } else { 365 } * 24 * HOUR + BACKDATE;
        assert_eq!(x.not_after - x.not_before, want, "{cert}: validity");
    }
    assert_sans(
        &pki.join("apiserver.crt"),
        &[
            "cp-1",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
        &["10.96.0.1", ADV],
    );
}

#[test]
fn v1beta3_with_encryption_algorithm_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_file(
        tmp.path(),
        "kubeadm.yaml",
        &cluster_config("v1beta3", "encryptionAlgorithm: ECDSA-P256\n"),
    );
    let before = snapshot(tmp.path());
    let out = run(&[
        "init",
        "--config",
        ps(&config),
        "--cert-dir",
        ps(&tmp.path().join("pki")),
        "--node-name",
        NODE_CP,
        "--apiserver-advertise-address",
        ADV,
    ]);
    assert_code("v1beta3 + encryptionAlgorithm", &out, 4);
    let err = stderr(&out);
    assert!(
        err.contains("encryptionAlgorithm") && err.contains("v1beta4"),
        "the error names the field and v1beta4:\n{err}"
    );
    assert_same_tree(
        &before,
        &snapshot(tmp.path()),
        "v1beta3 + encryptionAlgorithm",
    );
}

#[test]
fn dual_stack_service_subnet_puts_the_first_families_vip_first() {
    for (subnet, vip) in [
        ("10.96.0.0/16,fd00:10:96::/112", "10.96.0.1"),
        ("fd00:10:96::/112,10.96.0.0/16", "fd00:10:96::1"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let config = write_file(
            tmp.path(),
            "kubeadm.yaml",
            &cluster_config(
                "v1beta4",
                &format!(
                    "encryptionAlgorithm: ECDSA-P256\nnetworking:\n  serviceSubnet: \"{subnet}\"\n  podSubnet: 10.244.0.0/16,fd00:10:244::/56\n"
                ),
            ),
        );
        let pki = tmp.path().join("pki");
        // The flags fill what the config leaves out (no InitConfiguration here).
        let out = run(&[
            "init",
            "--config",
            ps(&config),
            "--cert-dir",
            ps(&pki),
            "--node-name",
            NODE_CP,
            "--apiserver-advertise-address",
            ADV,
        ]);
        assert_success(&format!("init with serviceSubnet {subnet}"), &out);
        assert_sans(
            &pki.join("apiserver.crt"),
            &[
                "cp-1",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            &[vip, ADV],
        );
    }
}

const EXTERNAL_ETCD: &str = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 192.168.1.10
nodeRegistration:
  name: cp-1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
encryptionAlgorithm: ECDSA-P256
etcd:
  external:
    endpoints:
      - https://10.0.0.5:2379
      - https://10.0.0.6:2379
      - https://10.0.0.7:2379
    caFile: /etc/kubernetes/pki/etcd/ca.crt
    certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt
    keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key
";

#[test]
fn external_etcd_makes_no_etcd_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_file(tmp.path(), "kubeadm.yaml", EXTERNAL_ETCD);
    let root = tmp.path().join("k8s");
    let pki = root.join("pki");
    let out = run(&["init", "--config", ps(&config), "--cert-dir", ps(&pki)]);
    assert_success("init with external etcd", &out);
    assert!(
        stderr(&out).contains("etcd is external"),
        "stderr says etcd is external:\n{}",
        stderr(&out)
    );
    assert!(!pki.join("etcd").exists(), "no etcd/ directory");
    assert_eq!(
        listing(&pki),
        [
            "apiserver-kubelet-client.crt",
            "apiserver-kubelet-client.key",
            "apiserver.crt",
            "apiserver.key",
            "ca.crt",
            "ca.key",
            "front-proxy-ca.crt",
            "front-proxy-ca.key",
            "front-proxy-client.crt",
            "front-proxy-client.key",
            "sa.key",
            "sa.pub",
        ],
        "no etcd CA, no etcd certificates, no apiserver-etcd-client"
    );
    let stdout_text = stdout(&out);
    assert!(!stdout_text.contains("etcd"), "init output:\n{stdout_text}");

    // Asking for an etcd certificate with this config is a usage error; nothing is written.
    let before = snapshot(tmp.path());
    let out = run(&[
        "issue",
        "etcd-server",
        "--config",
        ps(&config),
        "--cert-dir",
        ps(&pki),
    ]);
    assert_code("issue etcd-server with external etcd", &out, 2);
    assert!(stderr(&out).contains("etcd-server"), "{}", stderr(&out));
    assert_same_tree(&before, &snapshot(tmp.path()), "issue etcd-server");

    // check-expiration expects nothing of etcd's.
    let out = run(&[
        "check-expiration",
        "--config",
        ps(&config),
        "--cert-dir",
        ps(&pki),
    ]);
    assert_code("check-expiration with external etcd", &out, 0);
    assert!(!stdout(&out).contains("etcd"), "{}", stdout(&out));
    let out = run(&[
        "check-expiration",
        "--config",
        ps(&config),
        "--cert-dir",
        ps(&pki),
        "-o",
        "json",
    ]);
    assert_code("check-expiration -o json with external etcd", &out, 0);
    let report: Json = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = ["certificates", "certificateAuthorities"]
        .iter()
        .flat_map(|k| report[k].as_array().expect("array"))
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(names.iter().all(|n| !n.contains("etcd")), "{names:?}");
}

#[test]
fn certificates_dir_of_the_config_is_used_without_cert_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("custom");
    let pki = root.join("pki");
    let config = write_file(
        tmp.path(),
        "kubeadm.yaml",
        &format!("{V1BETA4}---\n").replace(
            "kind: ClusterConfiguration\n",
            &format!(
                "kind: ClusterConfiguration\ncertificatesDir: {}\n",
                pki.display()
            ),
        ),
    );
    let out = run(&["init", "--config", ps(&config)]);
    assert_success("init --config with certificatesDir", &out);
    assert!(pki.join("ca.crt").is_file() && pki.join("etcd/peer.crt").is_file());
    for name in KUBECONFIGS {
        assert!(
            root.join(name).is_file(),
            "{name} in the parent of certificatesDir"
        );
    }
    assert_eq!(listing(tmp.path()), ["custom", "kubeadm.yaml"]);

    // The other commands read it too.
    let out = run(&["check-expiration", "--config", ps(&config)]);
    assert_code("check-expiration --config", &out, 0);
    assert!(stdout(&out).contains("apiserver"), "{}", stdout(&out));
    let before = snapshot(tmp.path());
    let out = run(&["renew", "all", "--config", ps(&config), "--dry-run"]);
    assert_success("renew all --config --dry-run", &out);
    let would = assert_would_lines("renew --dry-run", &out);
    assert!(
        would.iter().all(|l| l.contains("would renew")) && would.len() == 12,
        "{would:#?}"
    );
    assert!(stdout(&out).contains(ps(&pki)), "{}", stdout(&out));
    assert_same_tree(&before, &snapshot(tmp.path()), "renew --dry-run");
}

#[test]
fn per_node_commands_default_to_the_configs_node_name() {
    // node_specs (src/cli.rs): "the nodes named by --node-name and --node-list, else the
    // config's nodeRegistration.name, else the host's name". `issue apiserver kubelet --config`
    // follows it; `issue kubelet --config` and `write-kubeconfig node-kubelet --config` must too,
    // rather than falling back to this machine's hostname.
    let tmp = tempfile::tempdir().unwrap();
    let config = write_file(tmp.path(), "kubeadm.yaml", V1BETA4);
    let pki = tmp.path().join("k8s/pki");
    assert_success(
        "init-ca",
        &run(&["init-ca", "--config", ps(&config), "--cert-dir", ps(&pki)]),
    );
    let nodes = |args: &[&str]| -> Vec<String> {
        let out = run(&[
            args,
            &["--config", ps(&config), "--cert-dir", ps(&pki)],
            &["--dry-run", "-o", "json"],
        ]
        .concat());
        assert_success(&format!("{args:?}"), &out);
        let plan: Json = serde_json::from_slice(&out.stdout).expect("JSON");
        plan["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["node"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(nodes(&["issue", "apiserver", "kubelet"]), ["cp-1", "cp-1"]);
    assert_eq!(
        nodes(&["issue", "kubelet"]),
        ["cp-1", "cp-1"],
        "issue kubelet --config: the kubelet certificates are for nodeRegistration.name"
    );
    assert_eq!(
        nodes(&["write-kubeconfig", "node-kubelet"]),
        ["cp-1"],
        "write-kubeconfig node-kubelet --config: for nodeRegistration.name"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Errors.

/// Runs `init --config CONFIG` (plus `extra`) in a fresh temp dir, asserts exit `want` and that
/// nothing was written, and returns stderr.
fn init_fails(config_text: &str, extra: &[&str], want: i32) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_file(tmp.path(), "kubeadm.yaml", config_text);
    let before = snapshot(tmp.path());
    let pki = tmp.path().join("k8s/pki");
    let mut args = vec!["init", "--config", ps(&config)];
    if !extra.contains(&"--cert-dir") && !config_text.contains("certificatesDir") {
        args.extend(["--cert-dir", ps(&pki)]);
    }
    args.extend(extra);
    let out = run(&args);
    assert_code(&format!("init {args:?}"), &out, want);
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert_same_tree(&before, &snapshot(tmp.path()), &format!("{args:?}"));
    stderr(&out)
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the config"))
        + 1
}

#[test]
fn an_unknown_field_is_named_with_its_document_and_file_line() {
    let text = V1BETA4.replace("  dnsDomain: corp.local", "  dnsDomian: corp.local");
    let line = line_of(&text, "dnsDomian");
    assert_eq!(line, 30, "the misspelt field's line in the file");
    let err = init_fails(&text, &[], 4);
    for want in [
        "document 2".to_string(),
        format!("line {line} column 3"),
        "dnsDomian".to_string(),
        "kubeadm.yaml".to_string(),
    ] {
        assert!(err.contains(&want), "{want:?} in:\n{err}");
    }

    // Leading comments, a leading `---`, a comment-only document and a document of another
    // component: document numbers count real documents, lines count from the file's start.
    let text = "\
# kubeadm init --config this.yaml
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
nodeRegistration:
  name: cp-1
---
# nothing here
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
apiServer:

  certSANs: [10.0.0.1]
  extraArgs: []
  timeoutForControlPlane: 4m0s
etcd:
  local:
    peerCertSans: [peer.example.com]
";
    let err = init_fails(text, &[], 4);
    let line = line_of(text, "peerCertSans");
    assert_eq!(line, 23);
    for want in [
        "document 3 (ClusterConfiguration)".to_string(),
        format!("line {line} column 5"),
        "peerCertSans".to_string(),
    ] {
        assert!(err.contains(&want), "{want:?} in:\n{err}");
    }

    // A misspelt field in the InitConfiguration, top level.
    let text = V1BETA4.replace("bootstrapTokens:", "bootstrapToken:");
    let err = init_fails(&text, &[], 4);
    let line = line_of(&text, "bootstrapToken:");
    assert!(
        err.contains("document 1 (InitConfiguration)")
            && err.contains(&format!("line {line} column 1"))
            && err.contains("bootstrapToken"),
        "{err}"
    );
}

#[test]
fn malformed_yaml_gives_line_and_column() {
    let text = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
networking:
  serviceSubnet: 10.96.0.0/12
 dnsDomain: corp.local
clusterName: prod
";
    let err = init_fails(text, &[], 4);
    assert!(
        err.contains("document 2") && err.contains("line 8 column 2"),
        "{err}"
    );
}

#[test]
fn unknown_api_version_and_kind_are_clear_errors() {
    let err = init_fails(
        &cluster_config("v1beta2", "clusterName: prod\n"),
        &["--node-name", NODE_CP, "--apiserver-advertise-address", ADV],
        4,
    );
    assert!(
        err.contains("kubeadm.k8s.io/v1beta2")
            && err.contains("not supported")
            && err.contains("v1beta3")
            && err.contains("v1beta4"),
        "{err}"
    );
    let err = init_fails(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfig\n",
        &["--node-name", NODE_CP, "--apiserver-advertise-address", ADV],
        4,
    );
    assert!(
        err.contains("unknown kubeadm kind \"ClusterConfig\"")
            && err.contains("ClusterConfiguration"),
        "{err}"
    );
    let err = init_fails(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kubeadm-config\n",
        &["--node-name", NODE_CP, "--apiserver-advertise-address", ADV],
        4,
    );
    assert!(err.contains("unknown kind \"ConfigMap\""), "{err}");
}

#[test]
fn a_flag_repeating_a_config_setting_is_a_usage_error() {
    let cert_dir_config = cluster_config("v1beta4", "certificatesDir: /nonexistent/kubepki/pki\n");
    let cases: &[(&str, &[&str], &str)] = &[
        (
            V1BETA4,
            &["--service-cidr", "10.97.0.0/16"],
            "networking.serviceSubnet",
        ),
        // The same value as the config's is still a repetition.
        (
            V1BETA4,
            &["--service-cidr", "10.100.0.0/16"],
            "networking.serviceSubnet",
        ),
        (
            V1BETA4,
            &["--service-dns-domain", "corp.local"],
            "networking.dnsDomain",
        ),
        (V1BETA4, &["--node-name", "cp-2"], "nodeRegistration.name"),
        (
            V1BETA4,
            &["--apiserver-advertise-address", "192.168.1.11"],
            "localAPIEndpoint.advertiseAddress",
        ),
        (
            V1BETA4,
            &["--apiserver-bind-port", "6443"],
            "localAPIEndpoint.bindPort",
        ),
        (
            V1BETA4,
            &["--control-plane-endpoint", "lb2.example.com"],
            "controlPlaneEndpoint",
        ),
        (
            V1BETA4,
            &["--apiserver-cert-extra-sans", "10.0.0.200"],
            "apiServer.certSANs",
        ),
        (
            V1BETA4,
            &["--etcd-server-extra-sans", "etcd2.example.com"],
            "etcd.local.serverCertSANs",
        ),
        (
            V1BETA4,
            &["--etcd-peer-extra-sans", "10.0.0.23"],
            "etcd.local.peerCertSANs",
        ),
        (
            V1BETA4,
            &["--key-algorithm", "ECDSA-P256"],
            "encryptionAlgorithm",
        ),
        (V1BETA4, &["--validity", "1y"], "certificateValidityPeriod"),
        (
            V1BETA4,
            &["--ca-validity", "10y"],
            "caCertificateValidityPeriod",
        ),
        (V1BETA4, &["--cluster-name", "kubernetes"], "clusterName"),
        (
            &cert_dir_config,
            &["--cert-dir", "/nonexistent/other/pki"],
            "certificatesDir",
        ),
    ];
    for (config, flag, field) in cases {
        let err = init_fails(config, flag, 2);
        assert!(
            err.contains(flag[0]) && err.contains(field) && err.contains("conflicts with"),
            "{flag:?} vs {field}: {err}"
        );
    }
}

#[test]
fn flags_fill_what_the_config_leaves_out() {
    let tmp = tempfile::tempdir().unwrap();
    // No certSANs, no controlPlaneEndpoint, no clusterName, no InitConfiguration.
    let config = write_file(
        tmp.path(),
        "kubeadm.yaml",
        &cluster_config(
            "v1beta4",
            "encryptionAlgorithm: ECDSA-P256\nnetworking:\n  dnsDomain: corp.local\n",
        ),
    );
    let root = tmp.path().join("k8s");
    let pki = root.join("pki");
    let out = run(&[
        "init",
        "--config",
        ps(&config),
        "--cert-dir",
        ps(&pki),
        "--node-name",
        NODE_CP,
        "--apiserver-advertise-address",
        ADV,
        "--apiserver-cert-extra-sans",
        "10.0.0.200,extra.example.com",
        "--control-plane-endpoint",
        "10.0.0.99:7443",
        "--cluster-name",
        "staging",
    ]);
    assert_success("init with config + filling flags", &out);
    assert_sans(
        &pki.join("apiserver.crt"),
        &[
            "cp-1",
            "extra.example.com",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.corp.local",
        ],
        &["10.96.0.1", ADV, "10.0.0.99", "10.0.0.200"],
    );
    let admin = root.join("admin.conf");
    assert_eq!(
        kubectl_jsonpath(&admin, "{.clusters[0].cluster.server}"),
        "https://10.0.0.99:7443"
    );
    assert_eq!(kubectl_jsonpath(&admin, "{.clusters[0].name}"), "staging");
    assert_eq!(x509(&pki.join("ca.crt")).key_bits, 256);
}

// ---------------------------------------------------------------------------------------------
// 3. --dry-run writes nothing.

#[test]
fn dry_run_on_a_fresh_dir_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("parent");
    fs::create_dir(&parent).unwrap();
    let config = write_file(tmp.path(), "kubeadm.yaml", V1BETA4);
    let cert_dir = |name: &str| parent.join(name).join("pki");
    let kc_dir = parent.join("kubeconfigs");

    let out = run(&[
        "init",
        "--config",
        ps(&config),
        "--cert-dir",
        ps(&cert_dir("init")),
        "--kubeconfig-dir",
        ps(&kc_dir),
        "--dry-run",
    ]);
    assert_success("init --dry-run", &out);
    let would = assert_would_lines("init --dry-run", &out);
    assert_eq!(would.len(), 16, "{would:#?}");
    assert!(
        would.iter().all(|l| l.contains("would create")),
        "{would:#?}"
    );

    let out = run(&[
        "init-ca",
        "--config",
        ps(&config),
        "--cert-dir",
        ps(&cert_dir("init-ca")),
        "--dry-run",
    ]);
    assert_success("init-ca --dry-run", &out);
    assert_eq!(assert_would_lines("init-ca --dry-run", &out).len(), 4);

    let out = run(&[
        "renew",
        "all",
        "--config",
        ps(&config),
        "--cert-dir",
        ps(&cert_dir("renew")),
        "--dry-run",
    ]);
    assert_success("renew --dry-run", &out);
    let would = assert_would_lines("renew --dry-run", &out);
    assert!(
        would
            .iter()
            .all(|l| l.contains("would skip") && l.contains("missing")),
        "{would:#?}"
    );

    // Without CAs there is nothing to sign with: a clear error, and nothing created either.
    let out = run(&[
        "issue",
        "all",
        "--config",
        ps(&config),
        "--cert-dir",
        ps(&cert_dir("issue")),
        "--dry-run",
    ]);
    assert_code("issue --dry-run without CAs", &out, 4);
    assert!(stderr(&out).contains("init-ca"), "{}", stderr(&out));
    let out = run(&[
        "write-kubeconfig",
        "all",
        "--config",
        ps(&config),
        "--cert-dir",
        ps(&cert_dir("write-kubeconfig")),
        "--kubeconfig-dir",
        ps(&kc_dir),
        "--dry-run",
    ]);
    assert_code("write-kubeconfig --dry-run without CAs", &out, 4);

    assert_eq!(
        listing(&parent),
        Vec::<String>::new(),
        "no cert dir, no kubeconfig dir"
    );
    assert_eq!(listing(tmp.path()), ["kubeadm.yaml", "parent"]);
}

#[test]
fn dry_run_on_an_existing_tree_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_file(tmp.path(), "kubeadm.yaml", V1BETA4);
    let root = tmp.path().join("k8s");
    let pki = root.join("pki");

    // Only the CAs: issue and write-kubeconfig would create, and create nothing (not even
    // kubelet/<node>/ or the kubeconfig dir).
    let out = run(&["init-ca", "--config", ps(&config), "--cert-dir", ps(&pki)]);
    assert_success("init-ca", &out);
    let before = snapshot(tmp.path());
    let out = run(&[
        "issue",
        "all",
        "--config",
        ps(&config),
        "--cert-dir",
        ps(&pki),
        "--dry-run",
    ]);
    assert_success("issue all --dry-run", &out);
    let would = assert_would_lines("issue all --dry-run", &out);
    assert_eq!(would.len(), 7, "{would:#?}");
    assert!(
        would.iter().all(|l| l.contains("would create")),
        "{would:#?}"
    );
    let out = run(&[
        "issue",
        "kubelet",
        "--cert-dir",
        ps(&pki),
        "--node-name",
        "w1=10.0.0.11",
        "--node-name",
        "w2",
        "--dry-run",
    ]);
    assert_success("issue kubelet --dry-run", &out);
    assert_eq!(assert_would_lines("issue kubelet --dry-run", &out).len(), 4);
    let kc_dir = tmp.path().join("kubeconfigs");
    let out = run(&[
        "write-kubeconfig",
        "all",
        "--config",
        ps(&config),
        "--cert-dir",
        ps(&pki),
        "--kubeconfig-dir",
        ps(&kc_dir),
        "--dry-run",
    ]);
    assert_success("write-kubeconfig all --dry-run", &out);
    let would = assert_would_lines("write-kubeconfig --dry-run", &out);
    assert_eq!(would.len(), 5, "{would:#?}");
    assert!(
        would.iter().all(|l| l.contains("would create")),
        "{would:#?}"
    );
    assert!(!kc_dir.exists());
    assert!(!pki.join("kubelet").exists());
    assert_same_tree(
        &before,
        &snapshot(tmp.path()),
        "issue/write-kubeconfig --dry-run",
    );

    // A full tree: init reuses, renew renews, nothing changes.
    let out = run(&["init", "--config", ps(&config), "--cert-dir", ps(&pki)]);
    assert_success("init", &out);
    let before = snapshot(tmp.path());
    let out = run(&[
        "init",
        "--config",
        ps(&config),
        "--cert-dir",
        ps(&pki),
        "--dry-run",
    ]);
    assert_success("init --dry-run on the tree", &out);
    let would = assert_would_lines("init --dry-run on the tree", &out);
    assert!(
        would.iter().all(|l| l.contains("would reuse")),
        "{would:#?}"
    );
    for args in [
        &[
            "renew",
            "all",
            "--config",
            ps(&config),
            "--cert-dir",
            ps(&pki),
            "--dry-run",
        ][..],
        &["renew", "all", "--cert-dir", ps(&pki), "--dry-run"],
        &[
            "renew",
            "apiserver",
            "admin.conf",
            "--cert-dir",
            ps(&pki),
            "--dry-run",
        ],
    ] {
        let out = run(args);
        assert_success(&format!("{args:?}"), &out);
        let would = assert_would_lines(&format!("{args:?}"), &out);
        assert!(
            would.iter().all(|l| l.contains("would renew")),
            "{would:#?}"
        );
    }
    let out = run(&[
        "renew",
        "all",
        "--cert-dir",
        ps(&pki),
        "--dry-run",
        "-o",
        "json",
    ]);
    assert_success("renew --dry-run -o json", &out);
    let plan: Json = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(plan["dryRun"], true);
    let items = plan["items"].as_array().unwrap();
    assert_eq!(items.len(), 12);
    assert!(items.iter().all(|i| i["action"] == "renew"), "{plan:#}");
    assert_same_tree(&before, &snapshot(tmp.path()), "init/renew --dry-run");
}

// ---------------------------------------------------------------------------------------------
// 4. The plan of `--dry-run -o json` is what the real run writes.

/// What a certificate says, in the terms of the plan's `spec`.
fn spec_of(cert: &Path) -> Json {
    let x = x509(cert);
    let orgs: Vec<&str> = x
        .subject
        .iter()
        .filter(|(oid, _)| oid == OID_O)
        .map(|(_, v)| v.as_str())
        .collect();
    serde_json::json!({
        "commonName": x.common_name().unwrap_or_default(),
        "organizations": orgs,
        "dns": x.dns_sans(),
        "ips": x.ip_sans().iter().map(|i| i.to_string()).collect::<Vec<_>>(),
        "usages": x.ext_key_usage.as_ref().map(|e| e.value.clone()).unwrap_or_default(),
        "isCa": x.basic_constraints.as_ref().is_some_and(|b| b.value.ca),
    })
}

/// The certificate file of a plan or result item: the `.crt` of a certificate, the client
/// certificate of a kubeconfig (extracted into `scratch`).
fn item_cert(item: &Json, scratch: &Path) -> PathBuf {
    let files: Vec<PathBuf> = item["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| PathBuf::from(f.as_str().unwrap()))
        .collect();
    match item["kind"].as_str().unwrap() {
        "certificate" => files
            .iter()
            .find(|f| f.extension().is_some_and(|e| e == "crt"))
            .expect("a .crt")
            .clone(),
        "kubeconfig" => kubeconfig_credentials(&files[0], scratch).0,
        other => panic!("no certificate in a {other} item"),
    }
}

/// A plan with the times of each spec taken out (two runs are seconds apart), and the times.
fn without_times(mut plan: Json) -> (Json, Vec<(i64, i64)>) {
    let mut times = Vec::new();
    for item in plan["items"].as_array_mut().unwrap() {
        if let Some(spec) = item.get_mut("spec").and_then(Json::as_object_mut) {
            let nb = spec.remove("notBefore").expect("notBefore");
            let na = spec.remove("notAfter").expect("notAfter");
            times.push((rfc3339(nb.as_str().unwrap()), rfc3339(na.as_str().unwrap())));
        }
    }
    (plan, times)
}

#[test]
fn dry_run_json_plan_matches_what_init_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_file(tmp.path(), "kubeadm.yaml", V1BETA4);
    let root = tmp.path().join("k8s");
    let pki = root.join("pki");
    let scratch = tmp.path().join("scratch");
    fs::create_dir(&scratch).unwrap();
    let base = ["init", "--config", ps(&config), "--cert-dir", ps(&pki)];

    let out = run(&[&base[..], &["--dry-run", "-o", "json"]].concat());
    assert_success("init --dry-run -o json", &out);
    let plan: Json = serde_json::from_slice(&out.stdout).expect("the plan is JSON");
    let out = run(&[&base[..], &["--dry-run", "-o", "yaml"]].concat());
    assert_success("init --dry-run -o yaml", &out);
    let yaml: Json = yaml_serde::from_str(&stdout(&out)).expect("the plan is YAML");
    let (plan_bare, plan_times) = without_times(plan.clone());
    let (yaml_bare, yaml_times) = without_times(yaml);
    assert_eq!(
        yaml_bare, plan_bare,
        "-o yaml and -o json give the same plan"
    );
    for (j, y) in plan_times.iter().zip(&yaml_times) {
        assert!(
            (j.0 - y.0).abs() <= 2 && (j.1 - y.1).abs() <= 2,
            "{j:?} {y:?}"
        );
    }
    assert!(!root.exists(), "the dry runs created {}", root.display());
    assert_eq!(plan["dryRun"], true);
    assert_eq!(plan["certDir"], ps(&pki));

    let started = now_unix();
    let out = run(&[&base[..], &["-o", "json"]].concat());
    assert_success("init -o json", &out);
    let result: Json = serde_json::from_slice(&out.stdout).expect("the result is JSON");
    assert_eq!(result["dryRun"], false);
    let planned = plan["items"].as_array().unwrap();
    let done = result["items"].as_array().unwrap();

    // The same items, files and actions; every file listed exists, and nothing else was written.
    let key = |i: &Json| {
        (
            i["kind"].clone(),
            i["name"].clone(),
            i["action"].clone(),
            i["files"].clone(),
        )
    };
    assert_eq!(
        planned.iter().map(key).collect::<Vec<_>>(),
        done.iter().map(key).collect::<Vec<_>>(),
        "planned vs done"
    );
    assert_eq!(planned.len(), 16);
    assert!(planned.iter().all(|i| i["action"] == "create"));
    let mut listed: Vec<PathBuf> = planned
        .iter()
        .flat_map(|i| i["files"].as_array().unwrap())
        .map(|f| PathBuf::from(f.as_str().unwrap()))
        .collect();
    listed.sort();
    let mut on_disk: Vec<PathBuf> = snapshot(&root)
        .into_iter()
        .filter(|(_, e)| e.contents.is_some())
        .map(|(rel, _)| root.join(rel))
        .collect();
    on_disk.sort();
    assert_eq!(listed, on_disk, "the files planned are the files written");

    for (p, d) in planned.iter().zip(done) {
        let name = p["name"].as_str().unwrap();
        if p["kind"] == "key-pair" {
            assert!(
                p.get("spec").is_none() && d.get("certificate").is_none(),
                "{name}"
            );
            continue;
        }
        let cert = item_cert(d, &scratch);
        let x = x509(&cert);
        // The planned spec is what the certificate holds.
        let mut spec = p["spec"].clone();
        let (nb, na) = (
            rfc3339(spec["notBefore"].as_str().unwrap()),
            rfc3339(spec["notAfter"].as_str().unwrap()),
        );
        let obj = spec.as_object_mut().unwrap();
        obj.remove("notBefore");
        obj.remove("notAfter");
        assert_eq!(
            spec,
            spec_of(&cert),
            "{name}: planned spec vs the written cert"
        );
        assert!(
            (x.not_before - nb).abs() <= 5 && (x.not_after - na).abs() <= 5,
            "{name}: planned validity {nb}..{na}, written {}..{}",
            x.not_before,
            x.not_after
        );
        assert!(x.not_before >= started - BACKDATE - 1, "{name}");
        assert_eq!(p["keyAlgorithm"], "ECDSA-P384", "{name}");

        // The result's certificate facts are the file's.
        let facts = &d["certificate"];
        assert_eq!(d["keyAlgorithm"], "ECDSA-P384", "{name}");
        let serial = openssl_ok(["x509", "-in", ps(&cert), "-noout", "-serial"]);
        let serial = serial.trim().strip_prefix("serial=").expect("serial=");
        assert_eq!(
            canonical_serial(facts["serial"].as_str().unwrap()),
            canonical_serial(serial),
            "{name}: serial"
        );
        assert_eq!(
            canonical_serial(facts["serial"].as_str().unwrap()),
            canonical_serial(
                &x.serial
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ),
            "{name}: serial (x509-parser)"
        );
        assert_eq!(
            rfc3339(facts["notAfter"].as_str().unwrap()),
            x.not_after,
            "{name}"
        );
        assert_eq!(
            rfc3339(facts["notBefore"].as_str().unwrap()),
            x.not_before,
            "{name}"
        );
        let subject = openssl_ok([
            "x509",
            "-in",
            ps(&cert),
            "-noout",
            "-subject",
            "-nameopt",
            "sep_comma_plus_space",
        ]);
        assert_eq!(
            facts["subject"].as_str().unwrap(),
            subject.trim().strip_prefix("subject=").expect("subject="),
            "{name}: subject"
        );
        let mut facts_spec = facts.clone();
        let obj = facts_spec.as_object_mut().unwrap();
        for k in [
            "subject",
            "issuer",
            "serial",
            "notBefore",
            "notAfter",
            "keyAlgorithm",
        ] {
            obj.remove(k);
        }
        assert_eq!(
            facts_spec,
            spec_of(&cert),
            "{name}: reported facts vs the file"
        );
    }

    // Re-planning the written tree: every item is reused, with the same files.
    let out = run(&[&base[..], &["--dry-run", "-o", "json"]].concat());
    assert_success("init --dry-run -o json on the tree", &out);
    let again: Json = serde_json::from_slice(&out.stdout).unwrap();
    let again = again["items"].as_array().unwrap();
    assert_eq!(again.len(), planned.len());
    for (a, p) in again.iter().zip(planned) {
        assert_eq!((&a["name"], &a["files"]), (&p["name"], &p["files"]));
        assert_eq!(a["action"], "reuse", "{a:#}");
    }
}
