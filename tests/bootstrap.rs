//! `kubepki bootstrap-token`, the TLS-bootstrap kit.
//!
//! Offline: what the kit's files hold (the CA bundle, the pin of its first certificate as
//! openssl computes it, modes 0600), and the write rules (a refused run writes nothing, `--force`
//! keeps a backup, `--dry-run` writes nothing, a bad `--token` is never echoed).
//!
//! Against the real components (`../shared/k8s/`: kube-apiserver and kube-controller-manager
//! v1.22.3, Debian's etcd): the manifests applied with super-admin.conf; a node that holds only
//! the bootstrap kubeconfig creates its kubelet-client CSR, which the real controller manager
//! auto-approves (through the nodeclient binding) and signs; the issued credential gets through
//! the Node authorizer exactly as far as v1.22 lets a node; admin.conf works once the
//! cluster-admins binding is there; cluster-info is readable anonymously and signed by the
//! bootstrapsigner with the token (checked as `kubeadm join` checks it); and an expired token is
//! refused by the API server.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::control_plane::{ControlPlane, k8s_binaries};
use common::free_ports;
use common::{assert_same_tree, kubepki, mode, snapshot, stderr, stdout};
use serde_json::Value;

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// `kubepki bootstrap-token` for the tree in `root/pki`, the API server on 127.0.0.1:`port`,
/// into `root/<out>`, as JSON.
fn kit(root: &Path, port: u16, out: &str, extra: &[&str]) -> Value {
    let run = kubepki()
        .arg("bootstrap-token")
        .arg("--cert-dir")
        .arg(root.join("pki"))
        .args(["--apiserver-advertise-address", "127.0.0.1"])
        .args(["--apiserver-bind-port", &port.to_string()])
        .arg("--out-dir")
        .arg(root.join(out))
        .args(["-o", "json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    serde_json::from_slice(&run.stdout).expect("-o json is JSON")
}

fn init(root: &Path, port: u16) {
    let out = kubepki()
        .arg("init")
        .arg("--cert-dir")
        .arg(root.join("pki"))
        .args(["--node-name", "cp-1", "--apiserver-advertise-address"])
        .args(["127.0.0.1", "--apiserver-bind-port", &port.to_string()])
        .args(["--key-algorithm", "ECDSA-P256"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// The pin as the Kubernetes docs compute it, with openssl.
fn openssl_pin(ca: &Path) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(
            "openssl x509 -in \"$1\" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum",
        )
        .arg("sh")
        .arg(ca)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let hex = stdout(&out).split_whitespace().next().unwrap().to_string();
    format!("sha256:{hex}")
}

fn kubeconfig_ca(path: &Path) -> Vec<u8> {
    let conf: Value = yaml_serde::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let b64 = conf["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap();
    STANDARD.decode(b64).unwrap()
}

#[test]
fn the_kit_offline_bundle_pin_modes_and_write_rules() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    init(root, 6443);
    // A CA file with two certificates (a rotation in progress): both are trusted, the first is
    // pinned.
    let ca = root.join("pki/ca.crt");
    let first = std::fs::read(&ca).unwrap();
    let mut bundle = first.clone();
    bundle.extend(std::fs::read(root.join("pki/front-proxy-ca.crt")).unwrap());
    std::fs::write(&ca, &bundle).unwrap();
    std::fs::write(root.join("first.crt"), &first).unwrap();

    let made = kit(root, 6443, "kit", &[]);
    assert_eq!(made["caCertHash"], openssl_pin(&root.join("first.crt")));
    assert_eq!(made["caCertificates"], 2);
    assert_eq!(made["action"], "create");
    let token = made["token"].as_str().unwrap().to_string();
    assert_eq!(
        made["joinCommand"],
        format!(
            "kubeadm join 127.0.0.1:6443 --token {token} --discovery-token-ca-cert-hash {}",
            made["caCertHash"].as_str().unwrap()
        )
    );
    let conf = root.join("kit/bootstrap-kubelet.conf");
    let manifests = root.join("kit/bootstrap-token.yaml");
    assert_eq!(kubeconfig_ca(&conf), bundle);
    assert_eq!(mode(&conf), 0o600);
    assert_eq!(mode(&manifests), 0o600);
    let list: Value = yaml_serde::from_slice(&std::fs::read(&manifests).unwrap()).unwrap();
    let cluster_info = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .unwrap();
    let inner: Value =
        yaml_serde::from_str(cluster_info["data"]["kubeconfig"].as_str().unwrap()).unwrap();
    let b64 = inner["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap();
    assert_eq!(STANDARD.decode(b64).unwrap(), bundle);

    // A second run refuses to overwrite the kit (its token may be in use) and writes nothing.
    let before = snapshot(root);
    let again = kubepki()
        .arg("bootstrap-token")
        .arg("--cert-dir")
        .arg(root.join("pki"))
        .args(["--apiserver-advertise-address", "127.0.0.1"])
        .arg("--out-dir")
        .arg(root.join("kit"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(3), "{}", text(&again));
    assert!(stderr(&again).contains("pass --force"), "{}", text(&again));
    assert_same_tree(&before, &snapshot(root), "a refused run");
    // --dry-run writes nothing, not even the output directory.
    let dry = kubepki()
        .arg("bootstrap-token")
        .arg("--cert-dir")
        .arg(root.join("pki"))
        .args(["--apiserver-advertise-address", "127.0.0.1", "--dry-run"])
        .arg("--out-dir")
        .arg(root.join("dry"))
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(stdout(&dry).contains("[dry-run] nothing was written"));
    assert_same_tree(&before, &snapshot(root), "a dry run");
    // A bad --token is refused without being repeated.
    let secret = "abcdef.0123456789ABCDEF";
    let bad = kubepki()
        .arg("bootstrap-token")
        .arg("--cert-dir")
        .arg(root.join("pki"))
        .args([
            "--apiserver-advertise-address",
            "127.0.0.1",
            "--token",
            secret,
        ])
        .arg("--out-dir")
        .arg(root.join("bad"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(!text(&bad).contains("0123456789"), "{}", text(&bad));
    assert_same_tree(&before, &snapshot(root), "a refused token");
    // --force replaces the kit and keeps the old files, 0600, as a backup.
    let forced = kit(root, 6443, "kit", &["--force"]);
    assert_eq!(forced["action"], "replace");
    assert_ne!(forced["token"], token.as_str());
    // (Backups of files below the kubeconfig directory, the parent of --cert-dir, go below it.)
    let backups: Vec<_> = walk(root)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/kubepki-backup/"))
        .collect();
    assert_eq!(backups.len(), 2, "{backups:?}");
    for b in &backups {
        assert_eq!(mode(b), 0o600, "{}", b.display());
    }
    // A fixed token that never expires makes the same kit twice: the second run keeps it.
    let fixed = ["--token", "abcdef.0123456789abcdef", "--ttl", "0"];
    assert_eq!(kit(root, 6443, "fixed", &fixed)["action"], "create");
    let before_reuse = snapshot(root);
    let kept = kit(root, 6443, "fixed", &fixed);
    // "reuse" on disk too: not a byte or mode of the whole tree changed, no backup was made.
    assert_same_tree(&before_reuse, &snapshot(root), "a reused kit");
    assert_eq!(kept["action"], "reuse");
    assert_eq!(kept["expiration"], Value::Null);
}

#[test]
fn a_kubeadm_config_gives_the_server_and_its_bootstrap_tokens_are_refused_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    init(root, 6443);
    let config = |tokens: &str| {
        let path = root.join("kubeadm.yaml");
        std::fs::write(
            &path,
            format!(
                "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n{tokens}\
                 localAPIEndpoint:\n  advertiseAddress: 10.0.0.2\n---\napiVersion: \
                 kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nclusterName: prod\n\
                 controlPlaneEndpoint: cp.example.com\ncertificatesDir: {}\n",
                root.join("pki").display()
            ),
        )
        .unwrap();
        kubepki()
            .args(["bootstrap-token", "-o", "json", "--config"])
            .arg(&path)
            .arg("--out-dir")
            .arg(root.join("kit"))
            .output()
            .unwrap()
    };
    let made = config("");
    assert!(made.status.success(), "{}", text(&made));
    let v: Value = serde_json::from_slice(&made.stdout).unwrap();
    assert_eq!(v["server"], "https://cp.example.com:6443");
    let conf: Value =
        yaml_serde::from_slice(&std::fs::read(root.join("kit/bootstrap-kubelet.conf")).unwrap())
            .unwrap();
    assert_eq!(conf["current-context"], "tls-bootstrap-token-user@prod");
    let refused = config("bootstrapTokens:\n- token: abcdef.0123456789abcdef\n");
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        stderr(&refused).contains("bootstrapTokens"),
        "{}",
        text(&refused)
    );
    assert!(!text(&refused).contains("0123456789abcdef"));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

/// Polls `f` every 250 ms until it returns `Some`, for at most `secs` seconds.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `kubectl auth can-i VERB RESOURCE [NAME]` as the kubeconfig's user: "yes" or "no".
fn can_i(cp: &ControlPlane, kubeconfig: &str, args: &[&str]) -> String {
    let mut all = vec!["auth", "can-i"];
    all.extend_from_slice(args);
    let out = cp.kubectl(kubeconfig, &all);
    stdout(&out).trim().to_string()
}

/// An HTTPS GET without credentials (kubectl would prompt for a user name), through openssl
/// s_client verifying the API server against `ca`: (status code, body).
fn anonymous_get(port: u16, ca: &Path, path: &str) -> (u16, String) {
    use std::io::Write;
    // `timeout` bounds it, should the server keep the connection open.
    let mut child = std::process::Command::new("timeout")
        .args([
            "10",
            "openssl",
            "s_client",
            "-quiet",
            "-verify_return_error",
        ])
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-CAfile")
        .arg(ca)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // HTTP/1.0: the server closes the connection after its answer, and s_client exits.
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let response = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {}", text(&out)));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    (status, body.to_string())
}

/// A SubjectAccessReview, asked with super-admin.conf: (allowed, reason).
fn access_review(cp: &ControlPlane, user: &str, groups: &[&str], verb: &str) -> (bool, String) {
    let review = serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": groups,
                 "resourceAttributes": {"verb": verb, "resource": "nodes"}},
    });
    let out = cp.kubectl_stdin(
        "super-admin.conf",
        &["create", "-f", "-", "-o", "json"],
        Some(&review.to_string()),
    );
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["status"]["allowed"].as_bool().unwrap_or(false),
        v["status"]["reason"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn a_node_joins_a_real_control_plane_with_the_kit() {
    let Some((apiserver, controller_manager)) = k8s_binaries("bootstrap") else {
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    init(root, port);
    let made = kit(root, port, "kit", &["--description", "e2e"]);
    let token = made["token"].as_str().unwrap().to_string();
    let id = made["tokenId"].as_str().unwrap().to_string();
    let secret = token.split_once('.').unwrap().1.to_string();
    // The pin is what the docs' openssl pipeline computes from ca.crt.
    assert_eq!(made["caCertHash"], openssl_pin(&root.join("pki/ca.crt")));

    let mut cp = ControlPlane::start(root, port, &apiserver);
    cp.start_controller_manager(&controller_manager);
    // admin.conf (O=kubeadm:cluster-admins) has no rights before the kit's binding.
    assert_eq!(can_i(&cp, "admin.conf", &["list", "namespaces"]), "no");
    let manifests = root.join("kit/bootstrap-token.yaml");
    let applied = cp.kubectl(
        "super-admin.conf",
        &["apply", "-f", &manifests.to_string_lossy()],
    );
    assert!(applied.status.success(), "{}", text(&applied));
    wait_for(20, "admin.conf gets its rights", || {
        (can_i(&cp, "admin.conf", &["list", "namespaces"]) == "yes").then_some(())
    });

    // A token that expires in a few seconds: it works now, and is refused once expired (below).
    let short = kit(root, port, "short", &["--ttl", "8s"]);
    let expires = time::OffsetDateTime::parse(
        short["expiration"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let short_manifests = root.join("short/bootstrap-token.yaml");
    let out = cp.kubectl(
        "super-admin.conf",
        &["apply", "-f", &short_manifests.to_string_lossy()],
    );
    assert!(out.status.success(), "{}", text(&out));
    let short_used = time::OffsetDateTime::now_utc();
    let short_ok = cp.kubectl("short/bootstrap-kubelet.conf", &["get", "csr"]);
    assert!(short_ok.status.success(), "{}", text(&short_ok));

    // cluster-info is public: a client without credentials (system:anonymous) reads it, and
    // nothing else in kube-public.
    let ca = root.join("pki/ca.crt");
    let path = "/api/v1/namespaces/kube-public/configmaps/cluster-info";
    let (status, body) = anonymous_get(port, &ca, "/api/v1/namespaces/kube-public/configmaps");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("User \\\"system:anonymous\\\" cannot list"),
        "{body}"
    );
    // The bootstrapsigner signs it with the token: `jws-kubeconfig-<id>`, a detached JWS
    // (HS256, key = the token secret) over the kubeconfig, checked here as kubeadm join does.
    let cluster_info: Value = wait_for(30, "the bootstrapsigner signs cluster-info", || {
        let (status, body) = anonymous_get(port, &ca, path);
        assert_eq!(status, 200, "anonymous read: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["data"][format!("jws-kubeconfig-{id}")]
            .is_string()
            .then_some(v)
    });
    let content = cluster_info["data"]["kubeconfig"].as_str().unwrap();
    let jws = cluster_info["data"][format!("jws-kubeconfig-{id}")]
        .as_str()
        .unwrap();
    let (header, signature) = jws.split_once("..").expect("a detached JWS");
    let header_json: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap())
        .expect("the JWS header is JSON");
    assert_eq!(header_json["alg"], "HS256");
    assert_eq!(header_json["kid"], id.as_str());
    let mac = |key: &str| {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.as_bytes());
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(content));
        URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&key, input.as_bytes()))
    };
    assert_eq!(
        mac(&secret),
        signature,
        "signed with the kit's token secret"
    );
    assert_ne!(mac("0123456789abcdef"), signature);
    let inner: Value = yaml_serde::from_str(content).unwrap();
    assert_eq!(
        inner["clusters"][0]["cluster"]["server"],
        format!("https://127.0.0.1:{port}")
    );
    let ca_data = inner["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap();
    assert_eq!(
        STANDARD.decode(ca_data).unwrap(),
        std::fs::read(root.join("pki/ca.crt")).unwrap()
    );

    // The node: a key and request made by kubepki, the CSR object created with nothing but the
    // bootstrap kubeconfig (as system:bootstrap:<id>, allowed by kubeadm:kubelet-bootstrap).
    let boot = "kit/bootstrap-kubelet.conf";
    assert_eq!(
        can_i(&cp, boot, &["create", "certificatesigningrequests"]),
        "yes"
    );
    assert_eq!(can_i(&cp, boot, &["list", "secrets", "-A"]), "no");
    let csr = kubepki()
        .args([
            "csr",
            "--cn",
            "system:node:worker-1",
            "--org",
            "system:nodes",
        ])
        .args(["--key-algorithm", "ECDSA-P256", "--out"])
        .arg(root.join("worker-1"))
        .output()
        .unwrap();
    assert!(csr.status.success(), "{}", text(&csr));
    let request = STANDARD.encode(std::fs::read(root.join("worker-1.csr")).unwrap());
    let object = format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  \
         name: node-csr-worker-1\nspec:\n  request: {request}\n  signerName: \
         kubernetes.io/kube-apiserver-client-kubelet\n  usages: [digital signature, key \
         encipherment, client auth]\n"
    );
    let created = cp.kubectl_stdin(boot, &["create", "-f", "-"], Some(&object));
    assert!(created.status.success(), "{}", text(&created));
    // The real controller manager approves it (the SubjectAccessReview on nodeclient passes
    // through kubeadm:node-autoapprove-bootstrap) and signs it; the node reads it back with
    // its bootstrap kubeconfig.
    let signed: Value = wait_for(60, "the CSR is approved and signed", || {
        let out = cp.kubectl(boot, &["get", "csr", "node-csr-worker-1", "-o", "json"]);
        assert!(out.status.success(), "{}", text(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["status"]["certificate"].is_string().then_some(v)
    });
    assert_eq!(signed["spec"]["username"], format!("system:bootstrap:{id}"));
    let groups = signed["spec"]["groups"].to_string();
    assert!(
        groups.contains("system:bootstrappers:kubeadm:default-node-token"),
        "{groups}"
    );
    let conditions = signed["status"]["conditions"].as_array().unwrap();
    let approved = conditions
        .iter()
        .find(|c| c["type"] == "Approved")
        .expect("an Approved condition");
    assert_eq!(approved["reason"], "AutoApproved", "{approved}");
    assert!(
        !conditions
            .iter()
            .any(|c| c["type"] == "Denied" || c["type"] == "Failed")
    );
    let pem = STANDARD
        .decode(signed["status"]["certificate"].as_str().unwrap())
        .unwrap();
    let crt = root.join("worker-1.crt");
    std::fs::write(&crt, &pem).unwrap();
    let verify = std::process::Command::new("openssl")
        .args(["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile"])
        .arg(root.join("pki/ca.crt"))
        .arg(&crt)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify));
    let subject = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
        .arg(&crt)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&subject).trim(),
        "subject=CN=system:node:worker-1,O=system:nodes"
    );

    // The node's credential, as the kubelet would hold it after bootstrapping.
    std::fs::write(
        root.join("worker-1.conf"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: \
             https://127.0.0.1:{port}\n    certificate-authority: {ca}\nusers:\n- name: worker\n  \
             user:\n    client-certificate: {crt}\n    client-key: {key}\ncontexts:\n- name: \
             worker\n  context: {{cluster: c, user: worker}}\ncurrent-context: worker\n",
            ca = root.join("pki/ca.crt").display(),
            crt = crt.display(),
            key = root.join("worker-1.key").display()
        ),
    )
    .unwrap();
    let node = "worker-1.conf";
    let nodes = cp.kubectl(node, &["get", "nodes"]);
    assert!(nodes.status.success(), "{}", text(&nodes));
    // v1.22's Node authorizer: a node may read every Node and create its own; NodeRestriction
    // (admission) keeps it from creating another; secrets are not listable by any node.
    let object = |name: &str| format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n");
    let own = cp.kubectl_stdin(node, &["create", "-f", "-"], Some(&object("worker-1")));
    assert!(own.status.success(), "{}", text(&own));
    let other = cp.kubectl_stdin(node, &["create", "-f", "-"], Some(&object("worker-2")));
    assert!(
        stderr(&other).contains("is not allowed to modify node \"worker-2\""),
        "{}",
        text(&other)
    );
    let listed = cp.kubectl(node, &["get", "nodes", "-o", "name"]);
    assert_eq!(stdout(&listed).trim(), "node/worker-1", "{}", text(&listed));
    let secrets = cp.kubectl(node, &["get", "secrets", "-n", "kube-system"]);
    assert!(
        stderr(&secrets).contains(
            "User \"system:node:worker-1\" cannot list resource \"secrets\" in API group \"\" \
             in the namespace \"kube-system\""
        ),
        "{}",
        text(&secrets)
    );
    // What the Node authorizer of v1.22 answers for a node (SelfSubjectAccessReview; writes to
    // other Nodes pass the authorizer and are stopped by NodeRestriction, as above).
    let expected = [
        ("get nodes/worker-1", "yes"),
        ("get nodes/worker-2", "yes"),
        ("list nodes", "yes"),
        ("watch nodes", "yes"),
        ("create nodes", "yes"),
        ("update nodes/worker-1", "yes"),
        ("patch nodes/worker-1 --subresource status", "yes"),
        ("patch nodes/worker-2 --subresource status", "yes"),
        ("delete nodes/worker-1", "no"),
        ("list pods -A", "yes"),
        ("get secrets -n kube-system", "no - No Object name found"),
        (
            "list secrets -A",
            "no - can only read namespaced object of this type",
        ),
        (
            "list configmaps -A",
            "no - can only read namespaced object of this type",
        ),
        ("create certificatesigningrequests", "yes"),
    ];
    let verdicts: Vec<(&str, String)> = expected
        .iter()
        .map(|(q, _)| {
            let args: Vec<&str> = q.split(' ').collect();
            (*q, can_i(&cp, node, &args))
        })
        .collect();
    let want: Vec<(&str, String)> = expected.iter().map(|(q, a)| (*q, a.to_string())).collect();
    assert_eq!(
        verdicts, want,
        "the Node authorizer's verdicts for system:node:worker-1"
    );
    // It is the Node authorizer that allows, not RBAC: the review's reason is not RBAC's
    // ("RBAC: allowed by ..."), and the same user outside system:nodes is refused.
    let (allowed, reason) = access_review(
        &cp,
        "system:node:worker-1",
        &["system:nodes", "system:authenticated"],
        "list",
    );
    assert!(allowed, "{reason}");
    assert!(!reason.contains("RBAC"), "{reason}");
    let (allowed, _) = access_review(
        &cp,
        "system:node:worker-1",
        &["system:authenticated"],
        "list",
    );
    assert!(!allowed, "outside system:nodes the node is nobody");

    // The short token has expired by now: the API server refuses it (401), while the kit's
    // 24-hour token still works. (kube-apiserver caches a successful token authentication for
    // 10 s, `TokenSuccessCacheTTL`: an expired token works until its cached success lapses.)
    let cached_until = short_used + time::Duration::seconds(10);
    let until =
        expires.max(cached_until) - time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    if until.is_positive() {
        std::thread::sleep(until.unsigned_abs());
    }
    let refused = cp.kubectl("short/bootstrap-kubelet.conf", &["get", "csr"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("Unauthorized"),
        "{}",
        text(&refused)
    );
    let still = cp.kubectl(boot, &["get", "csr"]);
    assert!(still.status.success(), "{}", text(&still));
    eprintln!(
        "bootstrap end to end: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
