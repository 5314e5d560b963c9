//! A real control plane on a tree kubepki made: Debian's etcd, the real kube-apiserver and
//! kube-controller-manager v1.22.3 (`../shared/k8s/`), and the real kubectl. Each kubeconfig
//! authenticates with the identity the catalog gives it and gets the rights the cluster's
//! default RBAC gives that identity; admin.conf gets its rights from the ClusterRoleBinding
//! kubepki prints; and the controller manager, running on controller-manager.conf and the
//! cluster CA, signs a CSR that verifies against the tree's ca.crt.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::control_plane::{ControlPlane, k8s_binaries};
use common::free_ports;
use common::kubepki;

fn text(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `kubectl auth can-i VERB RESOURCE` as the kubeconfig's user: "yes" or "no".
fn can_i(cp: &ControlPlane, kubeconfig: &str, verb: &str, resource: &str) -> String {
    let out = cp.kubectl(kubeconfig, &["auth", "can-i", verb, resource]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_kubepki_tree_runs_a_real_control_plane() {
    let Some((apiserver, controller_manager)) = k8s_binaries("control_plane") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let [port] = free_ports(1)[..] else {
        unreachable!()
    };
    let init = kubepki()
        .arg("init")
        .arg("--cert-dir")
        .arg(root.join("pki"))
        .args([
            "--node-name",
            "cp-1",
            "--apiserver-advertise-address",
            "127.0.0.1",
        ])
        .args(["--apiserver-bind-port", &port.to_string()])
        .args(["--key-algorithm", "ECDSA-P256"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", text(&init));
    let mut cp = ControlPlane::start(root, port, &apiserver);

    // Every kubeconfig authenticates as the identity the catalog gives it (`auth whoami` is
    // newer than v1.22: ask for a right only that identity has).
    assert_eq!(can_i(&cp, "super-admin.conf", "*", "*"), "yes");
    assert_eq!(
        can_i(&cp, "scheduler.conf", "create", "bindings"),
        "yes",
        "system:kube-scheduler"
    );
    assert_eq!(
        can_i(
            &cp,
            "controller-manager.conf",
            "create",
            "serviceaccounts/token"
        ),
        "yes",
        "system:kube-controller-manager"
    );
    // admin.conf (O=kubeadm:cluster-admins) has no rights until the binding exists ...
    assert_eq!(can_i(&cp, "admin.conf", "list", "namespaces"), "no");
    // ... and the manifest kubepki printed makes it cluster-admin.
    let stdout = String::from_utf8_lossy(&init.stdout).into_owned();
    let manifest = stdout
        .split_once("<<'EOF'\n")
        .and_then(|(_, rest)| rest.split_once("EOF"))
        .map(|(m, _)| m.to_string())
        .unwrap_or_else(|| panic!("init printed no ClusterRoleBinding manifest:\n{stdout}"));
    let applied = cp.kubectl_stdin("super-admin.conf", &["apply", "-f", "-"], Some(&manifest));
    assert!(applied.status.success(), "{}", text(&applied));
    let deadline = Instant::now() + Duration::from_secs(20);
    while can_i(&cp, "admin.conf", "list", "namespaces") != "yes" {
        assert!(Instant::now() < deadline, "admin.conf never got its rights");
        std::thread::sleep(Duration::from_millis(200));
    }
    let ns = cp.kubectl("admin.conf", &["get", "namespaces", "-o", "name"]);
    assert!(
        String::from_utf8_lossy(&ns.stdout).contains("namespace/kube-system"),
        "{}",
        text(&ns)
    );

    // The controller manager, on controller-manager.conf and the tree's CA, signs a CSR.
    cp.start_controller_manager(&controller_manager);
    let key = root.join("jane.key");
    let csr = root.join("jane.csr");
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-subj", "/O=dev/CN=jane", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let request = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&csr).unwrap());
    let object = format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  \
         name: jane\nspec:\n  request: {request}\n  signerName: \
         kubernetes.io/kube-apiserver-client\n  usages: [digital signature, key encipherment, \
         client auth]\n"
    );
    let created = cp.kubectl_stdin("super-admin.conf", &["apply", "-f", "-"], Some(&object));
    assert!(created.status.success(), "{}", text(&created));
    let approved = cp.kubectl("super-admin.conf", &["certificate", "approve", "jane"]);
    assert!(approved.status.success(), "{}", text(&approved));
    let deadline = Instant::now() + Duration::from_secs(60);
    let issued = loop {
        let out = cp.kubectl(
            "super-admin.conf",
            &["get", "csr", "jane", "-o", "jsonpath={.status.certificate}"],
        );
        let b64 = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !b64.is_empty() {
            break base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("status.certificate is base64");
        }
        assert!(
            Instant::now() < deadline,
            "the controller manager never signed the CSR:\n{}",
            cp.controller_manager
                .as_ref()
                .map(|p| p.tail())
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let crt = root.join("jane.crt");
    std::fs::write(&crt, &issued).unwrap();
    let verify = std::process::Command::new("openssl")
        .args(["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile"])
        .arg(root.join("pki/ca.crt"))
        .arg(&crt)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify));
    // And the certificate works: jane is authenticated (and, without a binding, forbidden).
    let jane = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: \
         https://127.0.0.1:{port}\n    certificate-authority: {ca}\nusers:\n- name: jane\n  \
         user:\n    client-certificate: {crt}\n    client-key: {key}\ncontexts:\n- name: j\n  \
         context: {{cluster: k, user: jane}}\ncurrent-context: j\n",
        ca = root.join("pki/ca.crt").display(),
        crt = crt.display(),
        key = key.display()
    );
    std::fs::write(root.join("jane.conf"), jane).unwrap();
    let out = cp.kubectl("jane.conf", &["get", "pods"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("User \"jane\" cannot list resource \"pods\""),
        "{}",
        text(&out)
    );
}
