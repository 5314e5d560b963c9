//! A real control plane on a kubepki tree: Debian's etcd, and the real kube-apiserver and
//! kube-controller-manager v1.22.3 from `../shared/k8s/` (found through `KUBE_APISERVER` and
//! `KUBE_CONTROLLER_MANAGER`, which `.ci/run` sets). Everything binds to 127.0.0.1 on free ports
//! and every process is killed by its PID when the harness is dropped, on every exit path.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::free_ports;

/// The two Kubernetes binaries, or `None` (with the reason printed) when they are not installed
/// outside CI. Under `CI=true` a missing binary fails the test.
pub fn k8s_binaries(test: &str) -> Option<(PathBuf, PathBuf)> {
    let find = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_file())
    };
    match (find("KUBE_APISERVER"), find("KUBE_CONTROLLER_MANAGER")) {
        (Some(a), Some(c)) => Some((a, c)),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "{test}: KUBE_APISERVER/KUBE_CONTROLLER_MANAGER are not set to the binaries; \
             .ci/run sets them with `eval \"$(../shared/k8s/install)\"`"
        ),
        _ => {
            eprintln!(
                "{test}: NOT RUN: KUBE_APISERVER/KUBE_CONTROLLER_MANAGER are not set (run \
                 `eval \"$(../shared/k8s/install)\"` first, as .ci/run does)"
            );
            None
        }
    }
}

/// A process started by a test, killed by its PID when dropped; its output goes to `log`.
pub struct Proc {
    pub name: &'static str,
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn start(name: &'static str, program: &Path, args: &[String], log: PathBuf) -> Proc {
        let out = fs::File::create(&log).expect("create the log");
        let err = out.try_clone().expect("clone the log handle");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        Proc { name, child, log }
    }

    /// The last lines of its log, for failure messages.
    pub fn tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM by PID and waits up to `wait` for it to exit; its exit status, or `None`
    /// when it had to be killed.
    pub fn terminate(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
        None
    }

    /// Stops it now (SIGKILL by PID) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// etcd and kube-apiserver (and optionally kube-controller-manager) serving a kubepki tree made
/// by `kubepki init` into `<root>/pki` with the kubeconfigs in `<root>`.
pub struct ControlPlane {
    pub root: PathBuf,
    pub port: u16,
    pub etcd: Proc,
    pub apiserver: Proc,
    pub controller_manager: Option<Proc>,
    apiserver_bin: PathBuf,
    apiserver_args: Vec<String>,
    /// etcd's client port (`https://127.0.0.1:<port>`).
    pub etcd_client_port: u16,
    etcd_args: Vec<String>,
}

impl ControlPlane {
    /// Starts etcd and the API server on the tree in `root` (made with
    /// `--apiserver-advertise-address 127.0.0.1 --apiserver-bind-port <port>`).
    pub fn start(root: &Path, port: u16, apiserver_bin: &Path) -> ControlPlane {
        let pki = root.join("pki");
        let p = |f: &str| pki.join(f).display().to_string();
        let [client, peer] = free_ports(2)[..] else {
            unreachable!()
        };
        let etcd_args: Vec<String> = [
            "--name=m1".to_string(),
            format!("--data-dir={}", root.join("etcd-data").display()),
            format!("--listen-client-urls=https://127.0.0.1:{client}"),
            format!("--advertise-client-urls=https://127.0.0.1:{client}"),
            format!("--listen-peer-urls=https://127.0.0.1:{peer}"),
            format!("--initial-advertise-peer-urls=https://127.0.0.1:{peer}"),
            format!("--initial-cluster=m1=https://127.0.0.1:{peer}"),
            format!("--cert-file={}", p("etcd/server.crt")),
            format!("--key-file={}", p("etcd/server.key")),
            format!("--trusted-ca-file={}", p("etcd/ca.crt")),
            "--client-cert-auth=true".into(),
            format!("--peer-cert-file={}", p("etcd/peer.crt")),
            format!("--peer-key-file={}", p("etcd/peer.key")),
            format!("--peer-trusted-ca-file={}", p("etcd/ca.crt")),
            "--peer-client-cert-auth=true".into(),
        ]
        .into();
        let etcd = Proc::start("etcd", Path::new("etcd"), &etcd_args, root.join("etcd.log"));
        let apiserver_args: Vec<String> = [
            "--advertise-address=127.0.0.1".to_string(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            "--endpoint-reconciler-type=none".into(),
            format!("--etcd-servers=https://127.0.0.1:{client}"),
            format!("--etcd-cafile={}", p("etcd/ca.crt")),
            format!("--etcd-certfile={}", p("apiserver-etcd-client.crt")),
            format!("--etcd-keyfile={}", p("apiserver-etcd-client.key")),
            format!("--client-ca-file={}", p("ca.crt")),
            format!("--tls-cert-file={}", p("apiserver.crt")),
            format!("--tls-private-key-file={}", p("apiserver.key")),
            format!(
                "--kubelet-client-certificate={}",
                p("apiserver-kubelet-client.crt")
            ),
            format!("--kubelet-client-key={}", p("apiserver-kubelet-client.key")),
            format!("--proxy-client-cert-file={}", p("front-proxy-client.crt")),
            format!("--proxy-client-key-file={}", p("front-proxy-client.key")),
            format!("--requestheader-client-ca-file={}", p("front-proxy-ca.crt")),
            "--requestheader-allowed-names=front-proxy-client".into(),
            "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
            "--requestheader-group-headers=X-Remote-Group".into(),
            "--requestheader-username-headers=X-Remote-User".into(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            "--service-cluster-ip-range=10.96.0.0/12".into(),
            "--authorization-mode=Node,RBAC".into(),
            "--enable-bootstrap-token-auth=true".into(),
            "--enable-admission-plugins=NodeRestriction".into(),
            "--allow-privileged=true".into(),
            "--vmodule=secure_serving=5".into(),
        ]
        .into();
        let apiserver = Proc::start(
            "kube-apiserver",
            apiserver_bin,
            &apiserver_args,
            root.join("kube-apiserver.log"),
        );
        let cp = ControlPlane {
            root: root.to_path_buf(),
            port,
            etcd,
            apiserver,
            controller_manager: None,
            apiserver_bin: apiserver_bin.to_path_buf(),
            apiserver_args,
            etcd_client_port: client,
            etcd_args,
        };
        cp.wait_ready();
        cp
    }

    /// Restarts kube-apiserver (killed by its PID, started again with the same flags, its log
    /// kept as `kube-apiserver-<n>.log`) and waits until it is ready.
    pub fn restart_apiserver(&mut self, n: usize) {
        self.apiserver.stop();
        self.apiserver = Proc::start(
            "kube-apiserver",
            &self.apiserver_bin,
            &self.apiserver_args,
            self.root.join(format!("kube-apiserver-{n}.log")),
        );
        self.wait_ready();
    }

    /// Restarts etcd (killed by its PID, started again with the same flags and data directory,
    /// its log kept as `etcd-<n>.log`) and waits until it is healthy: a restart is how etcd
    /// rereads its certificate and CA files.
    pub fn restart_etcd(&mut self, n: usize) {
        self.etcd.stop();
        self.etcd = Proc::start(
            "etcd",
            Path::new("etcd"),
            &self.etcd_args,
            self.root.join(format!("etcd-{n}.log")),
        );
        self.wait_etcd_healthy();
    }

    /// Waits (up to 30 s) until `etcdctl endpoint health` succeeds over mutual TLS with the
    /// tree's etcd/ca.crt and etcd/healthcheck-client certificate (what kubeadm's probe uses).
    pub fn wait_etcd_healthy(&self) {
        let pki = self.root.join("pki/etcd");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new("etcdctl")
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("ETCDCTL_API", "3")
                .arg(format!(
                    "--endpoints=https://127.0.0.1:{}",
                    self.etcd_client_port
                ))
                .arg(format!("--cacert={}", pki.join("ca.crt").display()))
                .arg(format!(
                    "--cert={}",
                    pki.join("healthcheck-client.crt").display()
                ))
                .arg(format!(
                    "--key={}",
                    pki.join("healthcheck-client.key").display()
                ))
                .args(["--command-timeout=2s", "endpoint", "health"])
                .output()
                .expect("etcdctl runs");
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not become healthy in 30 s:\n{}\n--- etcdctl:\n{}",
                self.etcd.tail(),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Has the running controller manager sign a client certificate for `/CN=<name>` through
    /// the CSR API: openssl makes a P-256 key and request in `dir`, `kubeconfig` (a file name in
    /// `root`, or a path) creates and approves it, and the issued certificate is written to
    /// `<dir>/<name>.crt`, whose path is returned. Fails the test if nothing is issued in 60 s.
    pub fn controller_manager_signs(&self, kubeconfig: &str, name: &str, dir: &Path) -> PathBuf {
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD as BASE64;
        let (key, csr, crt) = (
            dir.join(format!("{name}.key")),
            dir.join(format!("{name}.csr")),
            dir.join(format!("{name}.crt")),
        );
        let out = Command::new("openssl")
            .args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-subj"])
            .arg(format!("/CN={name}"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr)
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "openssl req: {out:?}");
        let request = BASE64.encode(fs::read(&csr).expect("read the CSR"));
        let object = format!(
            "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  \
             name: {name}\nspec:\n  request: {request}\n  signerName: \
             kubernetes.io/kube-apiserver-client\n  usages: [digital signature, client auth]\n"
        );
        let created = self.kubectl_stdin(kubeconfig, &["apply", "-f", "-"], Some(&object));
        assert!(created.status.success(), "create CSR {name}: {created:?}");
        let approved = self.kubectl(kubeconfig, &["certificate", "approve", name]);
        assert!(
            approved.status.success(),
            "approve CSR {name}: {approved:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.kubectl(
                kubeconfig,
                &["get", "csr", name, "-o", "jsonpath={.status.certificate}"],
            );
            let b64 = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !b64.is_empty() {
                let issued = BASE64
                    .decode(b64)
                    .expect("the issued certificate is base64");
                fs::write(&crt, issued).expect("write the issued certificate");
                return crt;
            }
            assert!(
                Instant::now() < deadline,
                "the controller manager never signed {name}:\n{}",
                self.controller_manager
                    .as_ref()
                    .map(|p| p.tail())
                    .unwrap_or_else(|| "(not running)".into())
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Starts the controller manager with controller-manager.conf, signing with the cluster CA.
    pub fn start_controller_manager(&mut self, bin: &Path) {
        self.start_controller_manager_signing_with(bin, "ca.crt");
    }

    /// Starts (or restarts) the controller manager, its `--cluster-signing-cert-file` the file
    /// `signing_cert` of the tree (with `ca.key`).
    pub fn start_controller_manager_signing_with(&mut self, bin: &Path, signing_cert: &str) {
        if let Some(mut old) = self.controller_manager.take() {
            old.stop();
        }
        let pki = self.root.join("pki");
        let p = |f: &str| pki.join(f).display().to_string();
        let conf = self
            .root
            .join("controller-manager.conf")
            .display()
            .to_string();
        let [secure] = free_ports(1)[..] else {
            unreachable!()
        };
        let args: Vec<String> = [
            format!("--kubeconfig={conf}"),
            format!("--authentication-kubeconfig={conf}"),
            format!("--authorization-kubeconfig={conf}"),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={secure}"),
            "--leader-elect=false".into(),
            "--use-service-account-credentials=true".into(),
            "--controllers=*,bootstrapsigner,tokencleaner".into(),
            format!("--cluster-signing-cert-file={}", p(signing_cert)),
            format!("--cluster-signing-key-file={}", p("ca.key")),
            format!("--root-ca-file={}", p("ca.crt")),
            format!("--service-account-private-key-file={}", p("sa.key")),
            format!("--requestheader-client-ca-file={}", p("front-proxy-ca.crt")),
        ]
        .into();
        self.controller_manager = Some(Proc::start(
            "kube-controller-manager",
            bin,
            &args,
            self.root.join("kube-controller-manager.log"),
        ));
    }

    /// Waits (up to 60 s) until `/readyz` answers ok to super-admin.conf.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.kubectl("super-admin.conf", &["get", "--raw", "/readyz"]);
            if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver did not become ready in 60 s:\n{}\n--- etcd:\n{}\n--- last kubectl:\n{}",
                self.apiserver.tail(),
                self.etcd.tail(),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Runs kubectl with one of the tree's kubeconfigs (a file name in `root`, or a path).
    pub fn kubectl(&self, kubeconfig: &str, args: &[&str]) -> Output {
        self.kubectl_stdin(kubeconfig, args, None)
    }

    /// Runs kubectl with `stdin` as its input (for `apply -f -`).
    pub fn kubectl_stdin(&self, kubeconfig: &str, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let config = self.root.join(kubeconfig);
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&config)
            .arg("--request-timeout=10s")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        if let Some(text) = stdin
            && let Some(mut input) = child.stdin.take()
        {
            input
                .write_all(text.as_bytes())
                .expect("write kubectl's input");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("kubectl finishes")
    }
}
