//! `kubepki component-flags` runs real components: etcd started from exactly the printed etcd
//! flags (plus its own name, data directory and URLs) serves the tree's health-check client and
//! refuses TLS 1.1 and clients without a certificate; and the real kube-apiserver started from
//! the printed kube-apiserver flags (plus its port and cluster settings) becomes ready with the
//! tree's kubeconfigs.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::control_plane::{Proc, k8s_binaries};
use common::free_ports;
use common::kubepki;
use serde_json::Value;

fn flags(root: &Path, component: &str, etcd_servers: &str) -> Vec<String> {
    let out = kubepki()
        .args(["component-flags", component, "-o", "json", "--cert-dir"])
        .arg(root.join("pki"))
        .args(["--etcd-servers", etcd_servers])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["components"][0]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}={}",
                f["flag"].as_str().unwrap(),
                f["value"].as_str().unwrap()
            )
        })
        .collect()
}

fn etcdctl_health(root: &Path, url: &str) -> std::process::Output {
    let pki = root.join("pki");
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            url,
            "--dial-timeout=3s",
            "--command-timeout=5s",
        ])
        .arg(format!("--cacert={}", pki.join("etcd/ca.crt").display()))
        .arg(format!(
            "--cert={}",
            pki.join("etcd/healthcheck-client.crt").display()
        ))
        .arg(format!(
            "--key={}",
            pki.join("etcd/healthcheck-client.key").display()
        ))
        .args(["endpoint", "health"])
        .output()
        .expect("etcdctl runs")
}

#[test]
fn the_printed_flags_run_etcd_and_the_api_server() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let [client, peer, api] = free_ports(3)[..] else {
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
        .args(["--apiserver-bind-port", &api.to_string()])
        .args(["--key-algorithm", "ECDSA-P256"])
        .output()
        .unwrap();
    assert!(init.status.success());
    let url = format!("https://127.0.0.1:{client}");
    let mut etcd_args = flags(root, "etcd", &url);
    etcd_args.extend([
        "--name=m1".to_string(),
        format!("--data-dir={}", root.join("etcd-data").display()),
        format!("--listen-client-urls={url}"),
        format!("--advertise-client-urls={url}"),
        format!("--listen-peer-urls=https://127.0.0.1:{peer}"),
        format!("--initial-advertise-peer-urls=https://127.0.0.1:{peer}"),
        format!("--initial-cluster=m1=https://127.0.0.1:{peer}"),
    ]);
    let etcd = Proc::start("etcd", Path::new("etcd"), &etcd_args, root.join("etcd.log"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = etcdctl_health(root, &url);
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "etcd never became healthy:\n{}",
            etcd.tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The hardening holds: no TLS 1.1, and no client without a certificate.
    let tls11 = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{client}"),
            "-tls1_1",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!tls11.status.success(), "etcd accepted TLS 1.1");
    let anonymous = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &url,
            "--dial-timeout=3s",
            "--command-timeout=5s",
        ])
        .arg(format!(
            "--cacert={}",
            root.join("pki/etcd/ca.crt").display()
        ))
        .args(["endpoint", "health"])
        .output()
        .unwrap();
    assert!(
        !anonymous.status.success(),
        "etcd served a client without a certificate"
    );

    let Some((apiserver, _)) = k8s_binaries("component_flags") else {
        return;
    };
    let mut api_args = flags(root, "kube-apiserver", &url);
    api_args.extend([
        "--advertise-address=127.0.0.1".to_string(),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={api}"),
        "--endpoint-reconciler-type=none".into(),
        "--service-cluster-ip-range=10.96.0.0/12".into(),
        "--authorization-mode=Node,RBAC".into(),
    ]);
    let server = Proc::start(
        "kube-apiserver",
        &apiserver,
        &api_args,
        root.join("kube-apiserver.log"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(root.join("super-admin.conf"))
            .args(["get", "--raw", "/readyz", "--request-timeout=5s"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", root)
            .output()
            .unwrap();
        if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "kube-apiserver from the printed flags never became ready:\n{}",
            server.tail()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(server);
    drop(etcd);
}
