//! A real etcd for the tests: members started on 127.0.0.1 (or another loopback address) with
//! the certificates under test, always stopped by their own pid; etcdctl with a client identity;
//! every wait bounded. Shared by `etcd_cluster.rs` (a cluster made one member at a time, rolled)
//! and `external_ca.rs` (a member on an imported external-CA tree, and a cluster from one
//! `issue` call for several members).
//!
//! Needs `etcd` and `etcdctl` on PATH (Debian: `apt-get install -y etcd-server etcd-client`,
//! etcd 3.4). A missing tool fails the test; nothing is skipped.
//!
//! Ports come from `common::free_ports`, so a crate including this module declares `mod common;`
//! too.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::free_ports;

pub const INSTALL: &str = "apt-get install -y etcd-server etcd-client";
pub const ADDRESS: &str = "127.0.0.1";

/// How long a cluster may take to form, or a restarted member to rejoin.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a member may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound for any one command (kubepki, etcdctl) to finish.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The key every test writes first and must be able to read at the end.
pub const KEY: &str = "/kubepki/e2e";

pub const SIGTERM: i32 = 15;

unsafe extern "C" {
    /// kill(2) from the C library std already links.
    fn kill(pid: i32, sig: i32) -> i32;
}

// ------------------------------------------------------------------------------------------
// Running commands, every wait bounded
// ------------------------------------------------------------------------------------------

/// Runs `cmd` to completion, capturing its output; kills it and panics after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {desc}: {e}"));
    let reader = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = reader(Box::new(child.stdout.take().unwrap()));
    let stderr = reader(Box::new(child.stderr.take().unwrap()));
    let status = match wait_bounded(&mut child, timeout) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{desc} did not finish within {timeout:?}");
        }
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Polls `child` until it exits or `timeout` passes.
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("waitpid on our own child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fails (never skips) when etcd or etcdctl is missing; returns etcd's version line.
pub fn require_etcd() -> String {
    let version = |tool: &str, args: &[&str]| -> String {
        let out = Command::new(tool)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("ETCDCTL_API", "3")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("`{tool}` cannot run ({e}); this test needs etcd 3.4+: {INSTALL}")
            });
        assert!(
            out.status.success(),
            "`{tool} {args:?}` failed: {}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let etcd = version("etcd", &["--version"]);
    version("etcdctl", &["version"]);
    etcd.lines().next().unwrap_or_default().to_string()
}

pub fn kubepki(args: &[&str], cert_dir: &Path, alg: &str) {
    let out = run(
        Command::new(env!("CARGO_BIN_EXE_kubepki"))
            .args(args)
            .arg("--cert-dir")
            .arg(cert_dir)
            .args(["--key-algorithm", alg])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default()),
        COMMAND_TIMEOUT,
    );
    assert!(out.status.success(), "kubepki {args:?}: {}", text(&out));
}

// ------------------------------------------------------------------------------------------
// The cluster
// ------------------------------------------------------------------------------------------

/// A client identity: a certificate and its key.
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Identity {
    pub fn new(dir: &Path, stem: &str) -> Self {
        Identity {
            cert: dir.join(format!("{stem}.crt")),
            key: dir.join(format!("{stem}.key")),
        }
    }
}

pub struct Member {
    pub name: &'static str,
    /// The member's own kubepki cert dir (etcd/ca.*, etcd/server.*, etcd/peer.*).
    pub cert_dir: PathBuf,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub client_url: String,
    pub peer_url: String,
    pub child: Option<Child>,
    pub starts: u32,
}

impl Member {
    pub fn etcd_file(&self, file: &str) -> PathBuf {
        self.cert_dir.join("etcd").join(file)
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn log_len(&self) -> usize {
        fs::read(&self.log).map(|b| b.len()).unwrap_or(0)
    }

    /// Sends SIGTERM, by pid, if the member is running (forgets it if it has exited).
    pub fn sigterm(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if !matches!(child.try_wait(), Ok(None)) {
            self.child = None;
            return;
        }
        let pid = i32::try_from(child.id()).expect("pid fits in pid_t");
        // SAFETY: kill(2) touches no memory of ours. The pid is our own child, not yet reaped
        // (try_wait above saw it running), so it cannot have been reused by another process.
        unsafe { kill(pid, SIGTERM) };
    }

    /// SIGTERM, then up to `timeout` for the exit; None if it is still running.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.sigterm();
        let status = wait_bounded(self.child.as_mut()?, timeout)?;
        self.child = None;
        Some(status)
    }
}

pub struct Cluster {
    pub alg: String,
    /// The CA dir: all CAs, the etcd client certificates and front-proxy-client.
    pub ca_dir: PathBuf,
    pub members: Vec<Member>,
    pub initial_cluster: String,
    pub token: String,
    /// Removed (after `Drop::drop` has stopped every member) when the cluster is dropped.
    pub _tmp: tempfile::TempDir,
}

impl Drop for Cluster {
    /// Stops every member still running, by pid: SIGTERM, a bounded wait, then SIGKILL. On a
    /// failing test, prints the tail of each member's log.
    fn drop(&mut self) {
        for m in &mut self.members {
            m.sigterm();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                let left = deadline.saturating_duration_since(Instant::now());
                if wait_bounded(&mut child, left).is_none() {
                    let _ = child.kill(); // SIGKILL
                    let _ = child.wait();
                }
            }
        }
        if thread::panicking() {
            for m in &self.members {
                eprintln!(
                    "===== etcd {} ({}) log tail =====\n{}",
                    m.name,
                    self.alg,
                    m.log_tail(30)
                );
            }
        }
    }
}

impl Cluster {
    /// A cluster of members whose certificates are already made: `(name, address, cert dir)`,
    /// each cert dir holding `etcd/ca.crt`, `etcd/server.*` and `etcd/peer.*`; `ca_dir` holds
    /// `etcd/ca.crt`, `etcd/healthcheck-client.*` and `apiserver-etcd-client.*`. Each member
    /// listens on its own address (any 127.0.0.0/8 address works on Linux) and two free ports.
    /// `label` names the cluster in messages; `tmp` holds the data dirs and logs.
    pub fn from_dirs(
        label: &str,
        ca_dir: PathBuf,
        members: &[(&'static str, &str, PathBuf)],
        tmp: tempfile::TempDir,
    ) -> Self {
        let ports = free_ports(2 * members.len());
        let members: Vec<Member> = members
            .iter()
            .enumerate()
            .map(|(i, (name, address, cert_dir))| Member {
                name,
                cert_dir: cert_dir.clone(),
                data_dir: tmp.path().join(format!("{name}.data")),
                log: tmp.path().join(format!("{name}.log")),
                client_url: format!("https://{address}:{}", ports[2 * i]),
                peer_url: format!("https://{address}:{}", ports[2 * i + 1]),
                child: None,
                starts: 0,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        Cluster {
            alg: label.to_string(),
            token: format!("kubepki-{}", label.to_lowercase()),
            ca_dir,
            members,
            initial_cluster,
            _tmp: tmp,
        }
    }

    pub fn ca(&self) -> PathBuf {
        self.ca_dir.join("etcd/ca.crt")
    }

    pub fn healthcheck_client(&self) -> Identity {
        Identity::new(&self.ca_dir.join("etcd"), "healthcheck-client")
    }

    pub fn apiserver_etcd_client(&self) -> Identity {
        Identity::new(&self.ca_dir, "apiserver-etcd-client")
    }

    /// A valid clientAuth certificate, but from front-proxy-ca, not the etcd CA.
    pub fn front_proxy_client(&self) -> Identity {
        Identity::new(&self.ca_dir, "front-proxy-client")
    }

    /// Starts member `i` with its own certificates and data dir; its log is appended to.
    pub fn start(&mut self, i: usize) {
        let (initial_cluster, token) = (self.initial_cluster.clone(), self.token.clone());
        let m = &mut self.members[i];
        assert!(m.child.is_none(), "{} is already running", m.name);
        m.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .unwrap();
        writeln!(log, "===== start #{} of {} =====", m.starts, m.name).unwrap();
        let mut cmd = Command::new("etcd");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .arg("--name")
            .arg(m.name)
            .arg("--data-dir")
            .arg(&m.data_dir)
            .args(["--listen-client-urls", &m.client_url])
            .args(["--advertise-client-urls", &m.client_url])
            .args(["--listen-peer-urls", &m.peer_url])
            .args(["--initial-advertise-peer-urls", &m.peer_url])
            .args(["--initial-cluster", &initial_cluster])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", &token])
            .arg("--cert-file")
            .arg(m.etcd_file("server.crt"))
            .arg("--key-file")
            .arg(m.etcd_file("server.key"))
            .arg("--peer-cert-file")
            .arg(m.etcd_file("peer.crt"))
            .arg("--peer-key-file")
            .arg(m.etcd_file("peer.key"))
            .arg("--client-cert-auth")
            .arg("--trusted-ca-file")
            .arg(m.etcd_file("ca.crt"))
            .arg("--peer-client-cert-auth")
            .arg("--peer-trusted-ca-file")
            .arg(m.etcd_file("ca.crt"))
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // etcd refuses to start on architectures other than amd64 unless told.
        match std::env::consts::ARCH {
            "x86_64" => {}
            "aarch64" => {
                cmd.env("ETCD_UNSUPPORTED_ARCH", "arm64");
            }
            arch => {
                cmd.env("ETCD_UNSUPPORTED_ARCH", arch);
            }
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start etcd ({e}): {INSTALL}"));
        m.child = Some(child);
    }

    /// Stops member `i` with SIGTERM and asserts it exits in time, and cleanly.
    pub fn stop(&mut self, i: usize) {
        let m = &mut self.members[i];
        let status = m.terminate(STOP_TIMEOUT).unwrap_or_else(|| {
            panic!("{} did not exit within {STOP_TIMEOUT:?} of SIGTERM", m.name)
        });
        assert!(
            status.success() || status.signal() == Some(SIGTERM),
            "{} exited badly on SIGTERM: {status}",
            m.name
        );
    }

    pub fn endpoints(&self, which: impl Fn(usize) -> bool) -> Vec<&str> {
        (0..self.members.len())
            .filter(|&i| which(i))
            .map(|i| self.members[i].client_url.as_str())
            .collect()
    }

    pub fn all(&self) -> Vec<&str> {
        self.endpoints(|_| true)
    }

    /// etcdctl (v3 API) against `endpoints`, trusting the etcd CA, as `who` (None: no client
    /// certificate), with a command timeout of `timeout`.
    pub fn etcdctl(
        &self,
        endpoints: &[&str],
        who: Option<&Identity>,
        timeout: &str,
        args: &[&str],
    ) -> Output {
        let mut cmd = Command::new("etcdctl");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(endpoints.join(","))
            .arg("--cacert")
            .arg(self.ca())
            .args(["--dial-timeout", "1s", "--command-timeout", timeout]);
        if let Some(id) = who {
            cmd.arg("--cert").arg(&id.cert).arg("--key").arg(&id.key);
        }
        cmd.args(args);
        run(&mut cmd, COMMAND_TIMEOUT)
    }

    /// Panics, naming the member and its exit status, if a started member has died.
    pub fn assert_running(&mut self) {
        for m in &mut self.members {
            let exited = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                m.child = None;
                panic!("etcd {} exited unexpectedly: {status}", m.name);
            }
        }
    }

    /// Waits (bounded) until `endpoint health --cluster`, as the healthcheck client, reports
    /// every member healthy.
    pub fn wait_healthy(&mut self) {
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        let id = self.healthcheck_client();
        loop {
            self.assert_running();
            let out = self.etcdctl(
                &self.all(),
                Some(&id),
                "3s",
                &["endpoint", "health", "--cluster"],
            );
            let report = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let all_healthy = self
                .members
                .iter()
                .all(|m| report.contains(&format!("{} is healthy", m.client_url)));
            if out.status.success() && all_healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: the cluster was not healthy within {HEALTH_TIMEOUT:?}; last check: {}",
                self.alg,
                text(&out)
            );
            thread::sleep(Duration::from_millis(250));
        }
    }

    /// `put key value` as apiserver-etcd-client; must succeed.
    pub fn put(&self, endpoints: &[&str], key: &str, value: &str) {
        let out = self.etcdctl(
            endpoints,
            Some(&self.apiserver_etcd_client()),
            "5s",
            &["put", key, value],
        );
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "OK",
            "{}: put {key} via {endpoints:?} failed: {}",
            self.alg,
            text(&out)
        );
    }

    /// `get key` as apiserver-etcd-client; must succeed; the value (empty if absent).
    /// `consistency` is "l" (linearizable, through the leader) or "s" (serializable: the local
    /// store of the member asked).
    pub fn get(&self, endpoints: &[&str], key: &str, consistency: &str) -> String {
        let out = self.etcdctl(
            endpoints,
            Some(&self.apiserver_etcd_client()),
            "5s",
            &[
                "get",
                key,
                "--print-value-only",
                &format!("--consistency={consistency}"),
            ],
        );
        assert!(
            out.status.success(),
            "{}: get {key} via {endpoints:?} failed: {}",
            self.alg,
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    /// A `put` as `who` (a client etcd must refuse) fails, member m1 logs that it rejected the
    /// TLS connection with `reason`, and the key keeps `expected`.
    pub fn assert_rejected(
        &self,
        who: Option<&Identity>,
        what: &str,
        reason: &str,
        expected: &str,
    ) {
        let m1 = &self.members[0];
        let log_before = m1.log_len();
        let out = self.etcdctl(
            &[&m1.client_url],
            who,
            "2s",
            &["put", KEY, "written-by-an-intruder"],
        );
        assert!(
            !out.status.success(),
            "{}: etcd accepted a put with {what}: {}",
            self.alg,
            text(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Error"),
            "{}: etcdctl with {what} failed without an error: {}",
            self.alg,
            text(&out)
        );
        // etcdctl 3.4 only reports "context deadline exceeded" (the TLS 1.3 client sees a
        // reset); the TLS reason is in the server's log.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = fs::read(&m1.log).unwrap_or_default();
            let new = String::from_utf8_lossy(&log[log_before.min(log.len())..]).into_owned();
            if new
                .lines()
                .any(|l| l.contains("rejected connection") && l.contains(reason))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: with {what}, m1 logged no `rejected connection` for `{reason}`; its new log:\n{new}",
                self.alg
            );
            thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            self.get(&self.all(), KEY, "l"),
            expected,
            "{}: the rejected put with {what} changed the value",
            self.alg
        );
    }
}
