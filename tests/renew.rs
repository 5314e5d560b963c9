//! `kubepki renew`: renewed certificates keep their identity (subject, SANs, usages) and chain
//! to their CA (checked with openssl and x509-parser), get a fresh serial, validity and key (or
//! keep the key with --reuse-key), the replaced files are kept as byte-exact backups, kubeconfigs
//! keep everything but their credentials and still authenticate with the real kubectl, external
//! CAs are respected, expired trees come back to life, runs are serialised by the directory lock,
//! an interrupted batch is completed by the next run, and trees made with the openssl walkthrough
//! of the Kubernetes docs can be renewed.
//!
//! Trees "in the past" are made in-process with `kubepki::cli::run` and a pinned clock; the
//! renewals themselves run the real binary with the real clock (unless a test needs the library,
//! e.g. for fault injection).

mod common;
mod fake_apiserver;

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output, Stdio};
use std::time::{Duration as StdDuration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use fake_apiserver::{FakeApiServer, Identity};
use kubepki::exit::ExitStatus;
use kubepki::pki::store;
use time::{Duration, OffsetDateTime};
use yaml_serde::Value;

const ALG: &str = "ECDSA-P256";
/// The worker node that gets kubelet certificates and a node kubeconfig.
const WORKER: &str = "w1";
const WORKER_IP: &str = "10.0.0.11";
const EXTRA_SANS: &str = "lb.example.com,10.1.2.3";
const YEAR: i64 = 365 * 24 * 3600;

// ---------------------------------------------------------------------------------------------
// What a full tree holds.

/// Something `renew all` renews: a certificate with its key (paths relative to the cert dir,
/// without extension, and its CA's), or a kubeconfig (relative to the kubeconfig dir).
#[derive(Debug, Clone, Copy)]
enum Item {
    Cert {
        stem: &'static str,
        ca: &'static str,
    },
    Kubeconfig {
        file: &'static str,
    },
}

const ITEMS: &[Item] = &[
    Item::Cert {
        stem: "apiserver",
        ca: "ca",
    },
    Item::Cert {
        stem: "apiserver-kubelet-client",
        ca: "ca",
    },
    Item::Cert {
        stem: "front-proxy-client",
        ca: "front-proxy-ca",
    },
    Item::Cert {
        stem: "etcd/server",
        ca: "etcd/ca",
    },
    Item::Cert {
        stem: "etcd/peer",
        ca: "etcd/ca",
    },
    Item::Cert {
        stem: "etcd/healthcheck-client",
        ca: "etcd/ca",
    },
    Item::Cert {
        stem: "apiserver-etcd-client",
        ca: "etcd/ca",
    },
    Item::Cert {
        stem: "kubelet/w1/kubelet-client",
        ca: "ca",
    },
    Item::Cert {
        stem: "kubelet/w1/kubelet",
        ca: "ca",
    },
    Item::Kubeconfig { file: "admin.conf" },
    Item::Kubeconfig {
        file: "super-admin.conf",
    },
    Item::Kubeconfig {
        file: "kubelet.conf",
    },
    Item::Kubeconfig {
        file: "controller-manager.conf",
    },
    Item::Kubeconfig {
        file: "scheduler.conf",
    },
    Item::Kubeconfig {
        file: "nodes/w1/kubelet.conf",
    },
];

const CA_STEMS: [&str; 3] = ["ca", "front-proxy-ca", "etcd/ca"];

impl Item {
    fn label(&self) -> &'static str {
        match self {
            Item::Cert { stem, .. } => stem,
            Item::Kubeconfig { file } => file,
        }
    }

    /// The CA certificate that signs this item.
    fn ca_cert(&self, t: &Tree) -> PathBuf {
        match self {
            Item::Cert { ca, .. } => t.pki.join(format!("{ca}.crt")),
            Item::Kubeconfig { .. } => t.pki.join("ca.crt"),
        }
    }

    fn signed_by_cluster_ca(&self) -> bool {
        match self {
            Item::Cert { ca, .. } => *ca == "ca",
            Item::Kubeconfig { .. } => true,
        }
    }

    /// The files `renew` replaces for this item (without --reuse-key), relative to the root.
    fn files(&self) -> Vec<String> {
        match self {
            Item::Cert { stem, .. } => vec![format!("pki/{stem}.crt"), format!("pki/{stem}.key")],
            Item::Kubeconfig { file } => vec![file.to_string()],
        }
    }

    /// The certificate and key as files: the tree's own files, or for a kubeconfig its
    /// embedded client certificate and key written to `scratch` (named with `tag`).
    fn pair(&self, t: &Tree, scratch: &Path, tag: &str) -> (PathBuf, PathBuf) {
        match self {
            Item::Cert { stem, .. } => (
                t.pki.join(format!("{stem}.crt")),
                t.pki.join(format!("{stem}.key")),
            ),
            Item::Kubeconfig { file } => {
                let creds = kubeconfig_creds(&t.root.join(file));
                let base = format!("{}-{tag}", file.replace('/', "_"));
                let crt = scratch.join(format!("{base}.crt"));
                let key = scratch.join(format!("{base}.key"));
                fs::write(&crt, &creds.cert_pem).unwrap();
                fs::write(&key, &creds.key_pem).unwrap();
                (crt, key)
            }
        }
    }
}

/// A tree in a temporary directory: `<root>/pki` and the kubeconfigs in `<root>`.
struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
    pki: PathBuf,
}

impl Tree {
    fn empty() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        Tree {
            pki: root.join("pki"),
            root,
            _dir: dir,
        }
    }

    /// A full tree made `age_days` ago: `init` with extra apiserver SANs, kubelet certificates
    /// and a node kubeconfig for the worker, leaves valid for `validity`.
    fn made_ago(age_days: i64, validity: &str) -> Tree {
        Tree::made_ago_for(age_days, validity, ADVERTISE, 6443)
    }

    fn made_ago_for(age_days: i64, validity: &str, advertise: &str, port: u16) -> Tree {
        let t = Tree::empty();
        let then = OffsetDateTime::now_utc() - Duration::days(age_days);
        let port = port.to_string();
        let pki = ps(&t.pki);
        run_ok(
            then,
            &[
                "init",
                "--cert-dir",
                pki,
                "--node-name",
                NODE,
                "--apiserver-advertise-address",
                advertise,
                "--apiserver-bind-port",
                &port,
                "--apiserver-cert-extra-sans",
                EXTRA_SANS,
                "--key-algorithm",
                ALG,
                "--validity",
                validity,
            ],
        );
        run_ok(
            then,
            &[
                "issue",
                "kubelet",
                "--cert-dir",
                pki,
                "--node-name",
                &format!("{WORKER}={WORKER_IP}"),
                "--key-algorithm",
                ALG,
                "--validity",
                validity,
            ],
        );
        run_ok(
            then,
            &[
                "write-kubeconfig",
                "node-kubelet",
                "--cert-dir",
                pki,
                "--node-name",
                WORKER,
                "--apiserver-advertise-address",
                advertise,
                "--apiserver-bind-port",
                &port,
                "--key-algorithm",
                ALG,
                "--validity",
                validity,
            ],
        );
        t
    }

    /// `kubepki renew ARGS... --cert-dir <pki>` with the real binary and clock (not asserted).
    fn renew(&self, args: &[&str]) -> Output {
        kubepki()
            .arg("renew")
            .args(args)
            .arg("--cert-dir")
            .arg(&self.pki)
            .output()
            .expect("kubepki runs")
    }

    fn renew_ok(&self, args: &[&str]) -> Output {
        let out = self.renew(args);
        assert_success(&format!("kubepki renew {args:?}"), &out);
        out
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        let p = self.root.join(rel);
        fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    /// The snapshot of the whole tree without the backup directories.
    fn snapshot(&self) -> BTreeMap<String, Entry> {
        without_backups(snapshot(&self.root))
    }

    /// The backup directories of the runs so far: (cert-dir one, kubeconfig-dir one) per stamp.
    fn backup_stamps(&self) -> Vec<String> {
        let mut stamps: Vec<String> = fs::read_dir(self.pki.join(store::BACKUP_DIR))
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        stamps.sort();
        stamps
    }
}

// ---------------------------------------------------------------------------------------------
// Running kubepki in-process with a pinned clock.

fn run_ok(now: OffsetDateTime, args: &[&str]) {
    match run_at(now, args) {
        Ok(ExitStatus::Success) => {}
        other => panic!("kubepki {args:?} at {now}: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// openssl views of certificates and keys.

fn assert_key_matches(cert: &Path, key: &Path, what: &str) {
    assert_eq!(
        key_pubkey(key),
        cert_pubkey(cert),
        "{what}: the key {} does not match the certificate {}",
        key.display(),
        cert.display()
    );
}

fn subject_rfc2253(cert: &Path) -> String {
    openssl_ok([
        "x509",
        "-in",
        ps(cert),
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ])
}

/// `openssl x509 -ext subjectAltName` and `-ext extendedKeyUsage` texts, each on its own (the
/// order of the extensions in the certificate is not part of its identity).
fn san_eku_text(cert: &Path) -> String {
    ["subjectAltName", "extendedKeyUsage"]
        .map(|ext| openssl_ok(["x509", "-in", ps(cert), "-noout", "-ext", ext]))
        .concat()
}

fn openssl_verify(ca: &Path, cert: &Path, what: &str) {
    let out = openssl(["verify", "-CAfile", ps(ca), ps(cert)]);
    assert!(
        out.status.success() && stdout(&out).trim_end().ends_with(": OK"),
        "{what}: openssl verify -CAfile {} failed:\n{}{}",
        ca.display(),
        stdout(&out),
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// Kubeconfigs as plain YAML (read independently of kubepki's own types).

/// The (cluster, user) names that current-context selects.
fn current_names(v: &Value) -> (String, String) {
    let ctx_name = v["current-context"].as_str().expect("current-context");
    let ctx = v["contexts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some(ctx_name))
        .expect("the current context exists");
    (
        ctx["context"]["cluster"].as_str().unwrap().to_string(),
        ctx["context"]["user"].as_str().unwrap().to_string(),
    )
}

fn named_mut<'a>(v: &'a mut Value, list: &str, name: &str) -> &'a mut Value {
    v[list]
        .as_sequence_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {list} entry named {name}"))
}

struct Creds {
    ca_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

fn kubeconfig_creds(path: &Path) -> Creds {
    let mut v = read_yaml(path);
    let (cluster, user) = current_names(&v);
    let decode = |val: &Value, what: &str| -> Vec<u8> {
        BASE64
            .decode(
                val.as_str()
                    .unwrap_or_else(|| panic!("{}: no {what}", path.display())),
            )
            .unwrap()
    };
    let ca_pem = decode(
        &named_mut(&mut v, "clusters", &cluster)["cluster"]["certificate-authority-data"],
        "certificate-authority-data",
    );
    let u = named_mut(&mut v, "users", &user)["user"].clone();
    Creds {
        ca_pem,
        cert_pem: decode(&u["client-certificate-data"], "client-certificate-data"),
        key_pem: decode(&u["client-key-data"], "client-key-data"),
    }
}

/// The kubeconfig with the current user's credentials (and, with `ca`, the current cluster's
/// embedded CA) taken out: what `renew` must leave exactly as it was.
fn without_credentials(mut v: Value, ca: bool) -> Value {
    let (cluster, user) = current_names(&v);
    let u = named_mut(&mut v, "users", &user)["user"]
        .as_mapping_mut()
        .unwrap();
    assert!(u.remove("client-certificate-data").is_some());
    assert!(u.remove("client-key-data").is_some());
    if ca {
        let c = named_mut(&mut v, "clusters", &cluster)["cluster"]
            .as_mapping_mut()
            .unwrap();
        assert!(c.remove("certificate-authority-data").is_some());
    }
    v
}

// ---------------------------------------------------------------------------------------------
// What a certificate looked like, to compare before and after a renewal.

struct Seen {
    x: X509,
    subject: String,
    san_eku: String,
    pubkey: String,
}

fn seen(cert: &Path) -> Seen {
    Seen {
        x: x509(cert),
        subject: subject_rfc2253(cert),
        san_eku: san_eku_text(cert),
        pubkey: cert_pubkey(cert),
    }
}

fn seen_all(t: &Tree, scratch: &Path, tag: &str) -> Vec<Seen> {
    ITEMS
        .iter()
        .map(|item| seen(&item.pair(t, scratch, tag).0))
        .collect()
}

fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

// ---------------------------------------------------------------------------------------------
// 1. renew all: identity kept, fresh serial, validity and key.

#[test]
fn renew_all_keeps_identity_with_fresh_serial_validity_and_key() {
    let t = Tree::made_ago(200, "1y");
    let scratch = tempfile::tempdir().unwrap();
    let before = seen_all(&t, scratch.path(), "before");
    let ca_bytes: Vec<Vec<u8>> = CA_STEMS
        .iter()
        .flat_map(|s| [format!("pki/{s}.crt"), format!("pki/{s}.key")])
        .map(|f| t.read(&f))
        .collect();
    let sa = (t.read("pki/sa.key"), t.read("pki/sa.pub"));

    // The tree really has what must survive: extra SANs and the worker's address.
    let apiserver = &before[0].x;
    assert!(apiserver.dns_sans().contains(&"lb.example.com".to_string()));
    assert!(
        apiserver
            .ip_sans()
            .contains(&"10.1.2.3".parse::<IpAddr>().unwrap())
    );
    assert!(
        before[8]
            .x
            .ip_sans()
            .contains(&WORKER_IP.parse::<IpAddr>().unwrap())
    );

    let t0 = unix_now();
    let out = t.renew_ok(&["all"]);
    let t1 = unix_now();
    let text = stdout(&out);

    for (item, old) in ITEMS.iter().zip(&before) {
        let what = item.label();
        assert!(
            text.lines()
                .any(|l| l.contains("renewed") && l.contains(what)),
            "{what} is not reported renewed:\n{text}"
        );
        let (crt, key) = item.pair(&t, scratch.path(), "after");
        let ca = item.ca_cert(&t);
        openssl_verify(&ca, &crt, what);
        let new = seen(&crt);
        let ca_x = x509(&ca);

        // Identity: subject, SANs, EKUs, as x509-parser and openssl see them.
        assert_eq!(new.subject, old.subject, "{what}: subject");
        assert_eq!(new.x.subject, old.x.subject, "{what}: subject attributes");
        assert_eq!(new.x.dns_sans(), old.x.dns_sans(), "{what}: DNS SANs");
        assert_eq!(new.x.ip_sans(), old.x.ip_sans(), "{what}: IP SANs");
        assert_eq!(
            new.x.ext_key_usage.as_ref().map(|e| &e.value),
            old.x.ext_key_usage.as_ref().map(|e| &e.value),
            "{what}: EKUs"
        );
        assert_eq!(new.san_eku, old.san_eku, "{what}: openssl -ext text");
        assert_eq!(
            new.x.basic_constraints.as_ref().map(|b| b.value.ca),
            Some(false),
            "{what}: a leaf"
        );
        // Chains by name and key id as Go would look it up.
        assert_eq!(new.x.issuer_raw, ca_x.subject_raw, "{what}: issuer name");
        assert_eq!(new.x.aki, ca_x.ski, "{what}: AKI = the CA's SKI");

        // Fresh serial and validity.
        assert_ne!(new.x.serial, old.x.serial, "{what}: serial");
        assert!(
            new.x.not_after > old.x.not_after,
            "{what}: NotAfter {} is not later than {}",
            new.x.not_after,
            old.x.not_after
        );
        assert!(
            (t0 - 300..=t1 - 300).contains(&new.x.not_before),
            "{what}: NotBefore {} is not the run time minus 5 minutes ({t0}..{t1})",
            new.x.not_before
        );
        assert!(
            (t0 + YEAR..=t1 + YEAR).contains(&new.x.not_after),
            "{what}: NotAfter {} is not the run time plus a year",
            new.x.not_after
        );

        // A new key of the same algorithm, and the key file holds it.
        assert_ne!(new.pubkey, old.pubkey, "{what}: the key was not replaced");
        assert_eq!(new.x.key_algorithm, old.x.key_algorithm, "{what}");
        assert_eq!(new.x.key_bits, old.x.key_bits, "{what}");
        assert_key_matches(&crt, &key, what);

        match item {
            Item::Cert { .. } => {
                assert_eq!(mode(&crt), 0o644, "{what}");
                assert_eq!(mode(&key), 0o600, "{what}");
            }
            Item::Kubeconfig { file } => {
                let path = t.root.join(file);
                assert_eq!(mode(&path), 0o600, "{what}");
                assert_eq!(
                    kubeconfig_creds(&path).ca_pem,
                    t.read("pki/ca.crt"),
                    "{what}: embedded CA"
                );
            }
        }
    }

    // CAs and the service-account pair are never touched.
    let ca_after: Vec<Vec<u8>> = CA_STEMS
        .iter()
        .flat_map(|s| [format!("pki/{s}.crt"), format!("pki/{s}.key")])
        .map(|f| t.read(&f))
        .collect();
    assert!(ca_after == ca_bytes, "a CA file changed");
    assert!(
        (t.read("pki/sa.key"), t.read("pki/sa.pub")) == sa,
        "sa.key/sa.pub changed"
    );
    assert!(!t.pki.join(store::JOURNAL).exists());
}

// ---------------------------------------------------------------------------------------------
// 2. --reuse-key, and --key-algorithm.

#[test]
fn reuse_key_keeps_the_keys_and_renews_the_certificates() {
    let t = Tree::made_ago(200, "1y");
    let scratch = tempfile::tempdir().unwrap();
    let before = seen_all(&t, scratch.path(), "before");
    let keys_before: Vec<Vec<u8>> = ITEMS
        .iter()
        .map(|i| fs::read(i.pair(&t, scratch.path(), "kb").1).unwrap())
        .collect();

    t.renew_ok(&["all", "--reuse-key"]);

    for ((item, old), old_key) in ITEMS.iter().zip(&before).zip(&keys_before) {
        let what = item.label();
        let (crt, key) = item.pair(&t, scratch.path(), "after");
        openssl_verify(&item.ca_cert(&t), &crt, what);
        let new = seen(&crt);
        assert_eq!(new.pubkey, old.pubkey, "{what}: the public key changed");
        assert_eq!(
            &fs::read(&key).unwrap(),
            old_key,
            "{what}: the key file changed"
        );
        assert_ne!(new.x.serial, old.x.serial, "{what}: serial");
        assert!(new.x.not_after > old.x.not_after, "{what}: NotAfter");
        assert_eq!(new.subject, old.subject, "{what}");
        assert_eq!(new.san_eku, old.san_eku, "{what}");
    }
    // Only certificates were replaced, so only they are in the backup.
    let stamp = &t.backup_stamps()[0];
    let backup = t.pki.join(store::BACKUP_DIR).join(stamp);
    assert!(backup.join("apiserver.crt").exists());
    assert!(!backup.join("apiserver.key").exists());

    // --reuse-key and --key-algorithm contradict each other.
    let out = t.renew(&["apiserver", "--reuse-key", "--key-algorithm", "RSA-2048"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn key_algorithm_changes_the_algorithm_of_the_new_key() {
    let t = Tree::made_ago(10, "1y");
    let old = x509(&t.pki.join("apiserver.crt"));
    t.renew_ok(&["apiserver", "--key-algorithm", "ECDSA-P384"]);
    let crt = t.pki.join("apiserver.crt");
    let new = x509(&crt);
    assert_eq!(new.key_algorithm, "1.2.840.10045.2.1", "an EC key");
    assert_eq!((old.key_bits, new.key_bits), (256, 384));
    assert_eq!(new.dns_sans(), old.dns_sans());
    assert_key_matches(&crt, &t.pki.join("apiserver.key"), "apiserver");
    openssl_verify(&t.pki.join("ca.crt"), &crt, "apiserver");
    assert!(
        openssl_ok([
            "pkey",
            "-in",
            ps(&t.pki.join("apiserver.key")),
            "-noout",
            "-text"
        ])
        .contains("P-384")
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Backups.

#[test]
fn backups_hold_every_replaced_file_and_restoring_them_gives_the_old_tree() {
    let t = Tree::made_ago(200, "1y");
    let before = t.snapshot();
    t.renew_ok(&["all"]);
    let after = t.snapshot();

    // Exactly the leaves and kubeconfigs changed.
    let mut changed: Vec<String> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    changed.sort();
    let mut expected: Vec<String> = ITEMS.iter().flat_map(Item::files).collect();
    expected.sort();
    assert_eq!(changed, expected, "the files renew replaced");
    assert!(
        after.keys().all(|k| before.contains_key(k)),
        "renew added files outside the backups"
    );

    let stamps = t.backup_stamps();
    assert_eq!(stamps.len(), 1, "one backup directory per run: {stamps:?}");
    let stamp = &stamps[0];
    let pki_backup = t.pki.join(store::BACKUP_DIR).join(stamp);
    let kc_backup = t.root.join(store::BACKUP_DIR).join(stamp);
    // Where each replaced file (relative to the root) is kept.
    let backup_of = |rel: &str| -> PathBuf {
        match rel.strip_prefix("pki/") {
            Some(in_pki) => pki_backup.join(in_pki),
            None => kc_backup.join(rel),
        }
    };
    for rel in &expected {
        let b = backup_of(rel);
        let old = &before[rel];
        assert_eq!(
            fs::read(&b).ok().as_ref(),
            old.contents.as_ref(),
            "{rel}: the backup {} is not the old file",
            b.display()
        );
        assert_eq!(mode(&b), old.mode, "{rel}: backup mode");
    }
    // The backups hold nothing else (no CA, no sa.key).
    let backed_up: usize = [&pki_backup, &kc_backup]
        .iter()
        .map(|d| {
            snapshot(d)
                .values()
                .filter(|e| e.contents.is_some())
                .count()
        })
        .sum();
    assert_eq!(backed_up, expected.len(), "files in the backups");

    // Copying the backups back gives the old tree exactly.
    for rel in &expected {
        fs::copy(backup_of(rel), t.root.join(rel)).unwrap();
    }
    assert_same_tree(&before, &t.snapshot(), "after restoring the backups");
}

/// Every run must keep the files it replaces, even two runs whose clocks read the same
/// millisecond. KUBEPKI BUG (this test fails): the backup directory is named after the run's
/// clock to the millisecond, taken before the lock, so two runs started together (the second
/// waiting for the lock, as in `two_renewals_at_once_both_succeed`) can share it; the second
/// run's hard link fails with EEXIST, the copy fallback in `store::keep_backup` overwrites the
/// first run's backup, and the original files are gone. The pinned clock makes it deterministic;
/// with the binary, `kubepki renew all & kubepki renew all & wait` loses the originals in about
/// 1 run of 10.
#[test]
fn two_renewals_in_the_same_millisecond_keep_the_original_files() {
    let t = Tree::made_ago(10, "1y");
    let original_key = t.read("pki/apiserver.key");
    let original_conf = t.read("admin.conf");
    let now = OffsetDateTime::now_utc();
    run_ok(
        now,
        &["renew", "apiserver", "admin.conf", "--cert-dir", ps(&t.pki)],
    );
    run_ok(
        now,
        &["renew", "apiserver", "admin.conf", "--cert-dir", ps(&t.pki)],
    );
    let keys: Vec<Vec<u8>> = fs::read_dir(t.pki.join(store::BACKUP_DIR))
        .unwrap()
        .filter_map(|e| fs::read(e.unwrap().path().join("apiserver.key")).ok())
        .collect();
    let confs: Vec<Vec<u8>> = fs::read_dir(t.root.join(store::BACKUP_DIR))
        .unwrap()
        .filter_map(|e| fs::read(e.unwrap().path().join("admin.conf")).ok())
        .collect();
    assert!(
        keys.contains(&original_key) && confs.contains(&original_conf),
        "the original apiserver.key / admin.conf is in no backup ({} key backups, {} \
         admin.conf backups under {:?}): the second run overwrote the first run's backups",
        keys.len(),
        confs.len(),
        t.backup_stamps()
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Kubeconfigs: the real kubectl handshake, and everything but the credentials kept.

fn kubectl_version(kubeconfig: &Path) -> Output {
    StdCommand::new("kubectl")
        .args([
            "--kubeconfig",
            ps(kubeconfig),
            "version",
            "-o",
            "json",
            "--request-timeout",
            "10s",
        ])
        .env_remove("KUBECONFIG")
        .output()
        .unwrap_or_else(|e| {
            panic!("kubectl cannot run ({e}); install it: apt-get install -y kubernetes-client")
        })
}

fn identity(user: &str, groups: &[&str]) -> Identity {
    Identity {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

/// kubectl succeeds with `file` and the server saw exactly `expected`.
fn assert_handshake(server: &FakeApiServer, file: &Path, expected: &Identity) {
    let seen_before = server.seen().len();
    let out = kubectl_version(file);
    assert!(
        out.status.success(),
        "{}: kubectl version failed: {}",
        file.display(),
        stderr(&out)
    );
    assert!(stdout(&out).contains("\"gitVersion\": \"v1.31.0\""));
    let seen = server.seen();
    assert!(
        seen.len() > seen_before && seen[seen_before..].iter().all(|id| id == expected),
        "{}: the server saw {:?}, expected {expected:?}",
        file.display(),
        &seen[seen_before..]
    );
}

#[test]
fn renewed_kubeconfigs_authenticate_and_keep_everything_else() {
    let port = free_port();
    let t = Tree::made_ago_for(200, "1y", "127.0.0.1", port);
    let admin = t.root.join("admin.conf");
    let super_admin = t.root.join("super-admin.conf");

    // Hand edits kubepki must keep: a namespace in the context, preferences, an extension, a
    // second user and context that are not current.
    let mut v = read_yaml(&admin);
    let (_, user) = current_names(&v);
    let ctx_name = v["current-context"].as_str().unwrap().to_string();
    named_mut(&mut v, "contexts", &ctx_name)["context"]["namespace"] = "kube-system".into();
    v["preferences"]["colors"] = true.into();
    v["extensions"] = yaml_serde::from_str("[{name: audit, extension: {team: platform}}]").unwrap();
    let extra_user: Value = yaml_serde::from_str("{name: robot, user: {token: abc123}}").unwrap();
    v["users"].as_sequence_mut().unwrap().push(extra_user);
    let extra_ctx: Value = yaml_serde::from_str(
        "{name: robot@kubernetes, context: {cluster: kubernetes, user: robot}}",
    )
    .unwrap();
    v["contexts"].as_sequence_mut().unwrap().push(extra_ctx);
    write_yaml(&admin, &v);
    assert_eq!(mode(&admin), 0o600);
    let admin_before = read_yaml(&admin);
    let admin_creds_before = kubeconfig_creds(&admin);

    // super-admin.conf trusts another cluster's CA: stale.
    let other = Tree::empty();
    init_tree(&other.pki, ALG);
    let mut s = read_yaml(&super_admin);
    let (cluster, _) = current_names(&s);
    named_mut(&mut s, "clusters", &cluster)["cluster"]["certificate-authority-data"] =
        BASE64.encode(other.read("pki/ca.crt")).into();
    write_yaml(&super_admin, &s);
    let super_before = read_yaml(&super_admin);

    {
        // Before: admin.conf works, the stale super-admin.conf does not.
        let server = FakeApiServer::start(&t.pki, port);
        assert_handshake(
            &server,
            &admin,
            &identity("kubernetes-admin", &["kubeadm:cluster-admins"]),
        );
        let out = kubectl_version(&super_admin);
        assert!(!out.status.success(), "a stale CA was accepted");
        assert!(stderr(&out).contains("x509"), "{}", stderr(&out));
    }

    t.renew_ok(&["all"]);

    // After: the renewed apiserver certificate serves, the renewed identities authenticate.
    let server = FakeApiServer::start(&t.pki, port);
    assert_handshake(
        &server,
        &admin,
        &identity("kubernetes-admin", &["kubeadm:cluster-admins"]),
    );
    assert_handshake(
        &server,
        &super_admin,
        &identity("kubernetes-super-admin", &["system:masters"]),
    );
    assert_handshake(
        &server,
        &t.root.join("nodes/w1/kubelet.conf"),
        &identity("system:node:w1", &["system:nodes"]),
    );

    // admin.conf: new credentials, everything else as it was.
    let admin_creds = kubeconfig_creds(&admin);
    assert_ne!(admin_creds.cert_pem, admin_creds_before.cert_pem);
    assert_ne!(admin_creds.key_pem, admin_creds_before.key_pem);
    assert_eq!(admin_creds.ca_pem, admin_creds_before.ca_pem);
    assert_eq!(
        without_credentials(read_yaml(&admin), false),
        without_credentials(admin_before, false),
        "admin.conf: something besides the client credentials changed"
    );
    let after = read_yaml(&admin);
    assert_eq!(after["preferences"]["colors"], Value::from(true));
    assert_eq!(
        named_mut(&mut after.clone(), "users", "robot")["user"]["token"],
        Value::from("abc123")
    );
    assert_eq!(
        current_names(&after).1,
        user,
        "the current user is the same"
    );
    assert_eq!(mode(&admin), 0o600);

    // super-admin.conf: the current CA now, and nothing else changed.
    let creds = kubeconfig_creds(&super_admin);
    assert_eq!(creds.ca_pem, t.read("pki/ca.crt"), "the embedded CA");
    assert_eq!(
        without_credentials(read_yaml(&super_admin), true),
        without_credentials(super_before, true),
        "super-admin.conf: something besides credentials and CA changed"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. External CA.

#[test]
fn external_ca_leaves_are_skipped_in_all_and_refused_by_name() {
    let t = Tree::made_ago(200, "1y");
    fs::remove_file(t.pki.join("ca.key")).unwrap();
    let before = t.snapshot();

    let out = t.renew_ok(&["all"]);
    let text = stdout(&out);
    let after = t.snapshot();
    for item in ITEMS {
        let what = item.label();
        let unchanged = item.files().iter().all(|f| before.get(f) == after.get(f));
        if item.signed_by_cluster_ca() {
            assert!(unchanged, "{what} changed although its CA key is absent");
        } else {
            assert!(!unchanged, "{what} was not renewed");
            openssl_verify(&item.ca_cert(&t), &t.root.join(&item.files()[0]), what);
        }
    }
    // The report says which and why; labels are catalog names or kubeconfig files.
    for label in [
        "apiserver:",
        "apiserver-kubelet-client:",
        "kubelet-client (w1):",
        "kubelet-server (w1):",
        "admin.conf:",
        "super-admin.conf:",
        "kubelet.conf:",
        "controller-manager.conf:",
        "scheduler.conf:",
        "node-kubelet (w1):",
    ] {
        assert!(
            text.lines().any(|l| l.contains("skipped")
                && l.contains(&format!(" {label}"))
                && l.contains("externally managed")),
            "{label} is not reported skipped as externally managed:\n{text}"
        );
    }
    for label in [
        "front-proxy-client:",
        "etcd-server:",
        "etcd-peer:",
        "etcd-healthcheck-client:",
        "apiserver-etcd-client:",
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains("renewed") && l.contains(&format!(" {label}"))),
            "{label} is not reported renewed:\n{text}"
        );
    }

    // Asked for by name: exit 4, naming the absent CA key, nothing written.
    let before = t.snapshot();
    for name in ["apiserver", "admin.conf"] {
        let out = t.renew(&[name]);
        assert_eq!(out.status.code(), Some(4), "renew {name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("CA key is absent"),
            "renew {name}: {}",
            stderr(&out)
        );
    }
    assert_same_tree(&before, &t.snapshot(), "refused renewals");
}

// ---------------------------------------------------------------------------------------------
// 6. Expired certificates.

fn check_expiration(t: &Tree) -> Output {
    kubepki()
        .arg("check-expiration")
        .arg("--cert-dir")
        .arg(&t.pki)
        .output()
        .expect("kubepki runs")
}

#[test]
fn expired_certificates_are_renewed() {
    let t = Tree::made_ago(400, "1y");
    let out = check_expiration(&t);
    assert_eq!(
        out.status.code(),
        Some(5),
        "the tree is expired:\n{}",
        stdout(&out)
    );
    t.renew_ok(&["all"]);
    let out = check_expiration(&t);
    assert_eq!(
        out.status.code(),
        Some(0),
        "after renew all:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let scratch = tempfile::tempdir().unwrap();
    let now = unix_now();
    for item in ITEMS {
        let (crt, key) = item.pair(&t, scratch.path(), "after");
        let x = x509(&crt);
        assert!(x.not_after > now + YEAR - 3600, "{}", item.label());
        assert_key_matches(&crt, &key, item.label());
        openssl_verify(&item.ca_cert(&t), &crt, item.label());
    }
}

// ---------------------------------------------------------------------------------------------
// 7. The lock.

#[test]
fn a_held_lock_stops_renew_with_exit_7_naming_the_holder() {
    let t = Tree::made_ago(10, "1y");
    let before = t.snapshot();
    let lock = store::Lock::acquire(&t.pki, StdDuration::ZERO).unwrap();
    let start = Instant::now();
    let out = t.renew(&["all"]);
    let waited = start.elapsed();
    drop(lock);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(
        (StdDuration::from_millis(4500)..StdDuration::from_secs(8)).contains(&waited),
        "renew gave up after {waited:?}; it should wait about 5 s"
    );
    assert!(
        stderr(&out).contains(&format!("pid {}", std::process::id())),
        "the holder (this test, pid {}) is not named: {}",
        std::process::id(),
        stderr(&out)
    );
    assert_same_tree(&before, &t.snapshot(), "a locked-out renew");
    assert!(!t.pki.join(store::BACKUP_DIR).exists());
}

#[test]
fn two_renewals_at_once_both_succeed() {
    let t = Tree::made_ago(10, "1y");
    let spawn = || {
        StdCommand::new(env!("CARGO_BIN_EXE_kubepki"))
            .args(["renew", "all", "--cert-dir", ps(&t.pki)])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubepki starts")
    };
    // (Whether the original files survive in a backup here depends on the two clocks reading
    // different milliseconds; see `two_renewals_in_the_same_millisecond_keep_the_original_files`.)
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_success("a concurrent renew all", &out);
        assert_eq!(
            stdout(&out).matches("renewed").count(),
            ITEMS.len(),
            "{}",
            stdout(&out)
        );
    }
    let scratch = tempfile::tempdir().unwrap();
    for item in ITEMS {
        let (crt, key) = item.pair(&t, scratch.path(), "after");
        assert_key_matches(&crt, &key, item.label());
        openssl_verify(&item.ca_cert(&t), &crt, item.label());
    }
    assert!(!t.pki.join(store::JOURNAL).exists());
    let leftovers: Vec<String> = snapshot(&t.root)
        .into_keys()
        .filter(|k| k.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

// ---------------------------------------------------------------------------------------------
// 8. A crash in the middle of a batch.

fn journal(t: &Tree) -> Vec<(PathBuf, PathBuf)> {
    // One journal per directory kubepki writes in (the PKI tree and the kubeconfig directory),
    // entries relative to it (issue 13: a journal never names anything outside its own tree).
    let mut all = Vec::new();
    for root in [&t.pki, &t.root] {
        let Ok(bytes) = fs::read(root.join(store::JOURNAL)) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        all.extend(v["entries"].as_array().unwrap().iter().map(|e| {
            (
                root.join(e["staged"].as_str().unwrap()),
                root.join(e["target"].as_str().unwrap()),
            )
        }));
    }
    all
}

fn tmp_files(dir: &Path) -> Vec<String> {
    snapshot(dir)
        .into_keys()
        .filter(|k| k.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_crash_after_the_key_rename_is_completed_by_the_next_run() {
    let t = Tree::empty();
    init_tree(&t.pki, ALG);
    let (crt, key) = (t.pki.join("apiserver.crt"), t.pki.join("apiserver.key"));
    let old_crt = fs::read(&crt).unwrap();
    let old_key = fs::read(&key).unwrap();
    let old_front_proxy = x509(&t.pki.join("front-proxy-client.crt"));

    store::inject_crash_after_renames(Some(1));
    let err = run_at(
        OffsetDateTime::now_utc(),
        &["renew", "apiserver", "--cert-dir", ps(&t.pki)],
    )
    .expect_err("the injected crash fails the run");
    assert!(format!("{err:#}").contains("injected crash"), "{err:#}");

    // Torn: the new key beside the old certificate, and the journal.
    assert_ne!(fs::read(&key).unwrap(), old_key, "the key was renamed");
    assert_eq!(fs::read(&crt).unwrap(), old_crt, "the certificate was not");
    assert_ne!(key_pubkey(&key), cert_pubkey(&crt), "key and cert are torn");
    assert!(t.pki.join(store::JOURNAL).exists(), "the journal is left");
    let entries = journal(&t);
    assert_eq!(entries.len(), 2, "{entries:?}");

    // A dry run cannot complete it and says so.
    let out = t.renew(&["all", "--dry-run"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(store::JOURNAL) && stderr(&out).contains("interrupted"),
        "{}",
        stderr(&out)
    );
    assert!(t.pki.join(store::JOURNAL).exists());

    // Any mutating run completes the batch first, then does its own work.
    let out = t.renew_ok(&["front-proxy-client"]);
    assert!(
        stderr(&out).contains("completed an interrupted run: ")
            && stderr(&out).contains("renamed 1 of the 2 files its journal lists"),
        "{}",
        stderr(&out)
    );
    assert_key_matches(&crt, &key, "apiserver");
    openssl_verify(&t.pki.join("ca.crt"), &crt, "apiserver");
    assert_ne!(
        fs::read(&crt).unwrap(),
        old_crt,
        "the new certificate is in place"
    );
    assert!(!t.pki.join(store::JOURNAL).exists(), "the journal is gone");
    assert!(tmp_files(&t.pki).is_empty(), "{:?}", tmp_files(&t.pki));
    let front_proxy = x509(&t.pki.join("front-proxy-client.crt"));
    assert_ne!(front_proxy.serial, old_front_proxy.serial);
    assert_key_matches(
        &t.pki.join("front-proxy-client.crt"),
        &t.pki.join("front-proxy-client.key"),
        "front-proxy-client",
    );
}

#[test]
fn a_crash_before_any_rename_keeps_the_old_pair_and_recovery_puts_the_new_one() {
    let t = Tree::empty();
    init_tree(&t.pki, ALG);
    let (crt, key) = (t.pki.join("apiserver.crt"), t.pki.join("apiserver.key"));
    let old_crt = fs::read(&crt).unwrap();
    let old_key = fs::read(&key).unwrap();

    store::inject_crash_after_renames(Some(0));
    run_at(
        OffsetDateTime::now_utc(),
        &["renew", "apiserver", "--cert-dir", ps(&t.pki)],
    )
    .expect_err("the injected crash fails the run");

    // The old pair is intact and still matches; the new pair is staged, named by the journal.
    assert_eq!(fs::read(&crt).unwrap(), old_crt);
    assert_eq!(fs::read(&key).unwrap(), old_key);
    assert_key_matches(&crt, &key, "the old pair");
    let entries = journal(&t);
    let staged: BTreeMap<PathBuf, Vec<u8>> = entries
        .iter()
        .map(|(staged, target)| {
            (
                target.clone(),
                fs::read(staged).unwrap_or_else(|e| panic!("staged {}: {e}", staged.display())),
            )
        })
        .collect();
    let abs = |p: &Path| std::path::absolute(p).unwrap();
    assert_eq!(
        staged.keys().cloned().collect::<Vec<_>>(),
        {
            let mut v = vec![abs(&crt), abs(&key)];
            v.sort();
            v
        },
        "the journal names the apiserver pair"
    );
    // The backup of the old pair was made before the journal.
    let backup = t.pki.join(store::BACKUP_DIR).join(&t.backup_stamps()[0]);
    assert_eq!(fs::read(backup.join("apiserver.key")).unwrap(), old_key);
    assert_eq!(fs::read(backup.join("apiserver.crt")).unwrap(), old_crt);

    // Recovery by the next mutating run puts the staged (new) pair in place.
    let out = t.renew_ok(&["front-proxy-client"]);
    assert!(stderr(&out).contains("[recover]"), "{}", stderr(&out));
    assert_eq!(
        fs::read(&crt).unwrap(),
        staged[&abs(&crt)],
        "the staged cert"
    );
    assert_eq!(
        fs::read(&key).unwrap(),
        staged[&abs(&key)],
        "the staged key"
    );
    assert_ne!(fs::read(&crt).unwrap(), old_crt);
    assert_key_matches(&crt, &key, "the new pair");
    openssl_verify(&t.pki.join("ca.crt"), &crt, "apiserver");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&crt), 0o644);
    assert!(!t.pki.join(store::JOURNAL).exists());
    assert!(tmp_files(&t.pki).is_empty(), "{:?}", tmp_files(&t.pki));
}

#[test]
fn a_crash_in_the_middle_of_renew_all_is_completed_by_the_next_run() {
    let t = Tree::made_ago(200, "1y");
    let scratch = tempfile::tempdir().unwrap();
    let before = seen_all(&t, scratch.path(), "before");

    // The batch is [key, cert] per certificate, then one file per kubeconfig: after 7 renames
    // the first three certificates are done and the fourth (etcd/server) is torn.
    store::inject_crash_after_renames(Some(7));
    run_at(
        OffsetDateTime::now_utc(),
        &["renew", "all", "--cert-dir", ps(&t.pki)],
    )
    .expect_err("the injected crash fails the run");
    let files: usize = ITEMS.iter().map(|i| i.files().len()).sum();
    assert_eq!(journal(&t).len(), files);
    assert_ne!(
        key_pubkey(&t.pki.join("etcd/server.key")),
        cert_pubkey(&t.pki.join("etcd/server.crt")),
        "etcd/server is torn"
    );

    let out = t.renew_ok(&["front-proxy-client"]);
    assert!(
        stderr(&out).contains("completed an interrupted run: ")
            && stderr(&out).matches("completed an interrupted run").count() == 2,
        "{}",
        stderr(&out)
    );
    for (item, old) in ITEMS.iter().zip(&before) {
        let what = item.label();
        let (crt, key) = item.pair(&t, scratch.path(), "after");
        assert_key_matches(&crt, &key, what);
        openssl_verify(&item.ca_cert(&t), &crt, what);
        let new = seen(&crt);
        assert_ne!(new.x.serial, old.x.serial, "{what}: renewed");
        assert_eq!(new.subject, old.subject, "{what}");
        assert_eq!(new.san_eku, old.san_eku, "{what}");
    }
    assert!(!t.pki.join(store::JOURNAL).exists());
    assert!(tmp_files(&t.root).is_empty(), "{:?}", tmp_files(&t.root));
}

// ---------------------------------------------------------------------------------------------
// 9. A tree made with openssl, as in the Kubernetes docs.

const CSR_CONF: &str = "\
[ req ]
prompt = no
default_md = sha256
req_extensions = req_ext
distinguished_name = dn

[ dn ]
O = system:masters
CN = kube-apiserver

[ req_ext ]
subjectAltName = @alt_names

[ alt_names ]
DNS.1 = kubernetes
DNS.2 = kubernetes.default
DNS.3 = kubernetes.default.svc
DNS.4 = kubernetes.default.svc.cluster.local
IP.1 = 10.96.0.1
IP.2 = 192.168.1.10

[ v3_ext ]
authorityKeyIdentifier=keyid,issuer:always
basicConstraints=CA:FALSE
keyUsage=keyEncipherment,dataEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=@alt_names
";

fn openssl_in(dir: &Path, args: &[&str]) {
    let out = openssl_command()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert_success(&format!("openssl {args:?}"), &out);
}

/// The docs' walkthrough into `<root>/pki`: a CA without SKI (and so leaves without AKI key
/// id), the apiserver certificate from a CSR with a SAN extfile and a PKCS#8 key.
fn openssl_tree(rsa: bool) -> Tree {
    let t = Tree::empty();
    fs::create_dir_all(&t.pki).unwrap();
    let pki = t.pki.as_path();
    fs::write(t.root.join("csr.conf"), CSR_CONF).unwrap();
    if rsa {
        openssl_in(pki, &["genrsa", "-out", "ca.key", "2048"]);
    } else {
        openssl_in(
            pki,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-out",
                "ca.key",
            ],
        );
        let ca_key = fs::read_to_string(pki.join("ca.key")).unwrap();
        assert!(
            ca_key.starts_with("-----BEGIN EC PARAMETERS-----"),
            "{ca_key}"
        );
    }
    openssl_in(
        pki,
        &[
            "req",
            "-x509",
            "-new",
            "-nodes",
            "-key",
            "ca.key",
            "-subj",
            "/CN=kubernetes",
            "-days",
            "3650",
            "-out",
            "ca.crt",
            "-addext",
            "subjectKeyIdentifier=none",
            "-addext",
            "authorityKeyIdentifier=none",
        ],
    );
    let key_args: &[&str] = if rsa {
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    } else {
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    };
    openssl_in(
        pki,
        &[&["genpkey"], key_args, &["-out", "apiserver.key"]].concat(),
    );
    openssl_in(
        pki,
        &[
            "req",
            "-new",
            "-key",
            "apiserver.key",
            "-out",
            "../server.csr",
            "-config",
            "../csr.conf",
        ],
    );
    openssl_in(
        pki,
        &[
            "x509",
            "-req",
            "-in",
            "../server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "apiserver.crt",
            "-days",
            "10000",
            "-extensions",
            "v3_ext",
            "-extfile",
            "../csr.conf",
            "-sha256",
        ],
    );
    // The walkthrough's shapes, as this test means them.
    assert_eq!(x509(&pki.join("ca.crt")).ski, None, "the CA has no SKI");
    assert_eq!(pem_block(&pki.join("apiserver.key")).0, "PRIVATE KEY");
    t
}

fn renew_openssl_tree(rsa: bool, extra: &[&str]) {
    let t = openssl_tree(rsa);
    let (crt, key) = (t.pki.join("apiserver.crt"), t.pki.join("apiserver.key"));
    let ca = t.pki.join("ca.crt");
    let old = seen(&crt);
    let old_key = fs::read(&key).unwrap();
    let ca_before = (t.read("pki/ca.crt"), t.read("pki/ca.key"));

    t.renew_ok(&[&["apiserver"], extra].concat());

    openssl_verify(&ca, &crt, "apiserver");
    let new = seen(&crt);
    let ca_x = x509(&ca);
    assert_eq!(new.subject, old.subject);
    assert_eq!(new.x.dns_sans(), old.x.dns_sans());
    assert_eq!(new.x.ip_sans(), old.x.ip_sans());
    assert!(
        new.san_eku
            .contains("DNS:kubernetes.default.svc.cluster.local")
            && new.san_eku.contains("IP Address:192.168.1.10"),
        "{}",
        new.san_eku
    );
    assert_eq!(
        new.san_eku, old.san_eku,
        "SANs and EKUs as openssl prints them"
    );
    assert_eq!(
        new.x.issuer_raw, ca_x.subject_raw,
        "the issuer must be the CA's subject byte for byte (openssl wrote it as UTF8String)"
    );
    assert_eq!(new.x.aki, None, "no AKI key id when the CA has no SKI");
    assert_ne!(new.x.serial, old.x.serial);
    assert_eq!(new.x.key_algorithm, old.x.key_algorithm);
    assert_eq!(new.x.key_bits, old.x.key_bits);
    assert_key_matches(&crt, &key, "apiserver");
    if extra.contains(&"--reuse-key") {
        assert_eq!(
            fs::read(&key).unwrap(),
            old_key,
            "the PKCS#8 key is kept as it was"
        );
        assert_eq!(new.pubkey, old.pubkey);
    } else {
        assert_ne!(new.pubkey, old.pubkey);
    }
    assert!(
        (t.read("pki/ca.crt"), t.read("pki/ca.key")) == ca_before,
        "the CA changed"
    );
}

#[test]
fn an_openssl_walkthrough_tree_with_an_rsa_ca_is_renewed() {
    renew_openssl_tree(true, &[]);
}

#[test]
fn an_openssl_walkthrough_tree_with_an_ec_ca_is_renewed_with_the_same_key() {
    renew_openssl_tree(false, &["--reuse-key"]);
}

#[test]
fn an_openssl_walkthrough_tree_with_an_ec_ca_is_renewed_with_a_new_key() {
    renew_openssl_tree(false, &[]);
}

// ---------------------------------------------------------------------------------------------
// 10. --dry-run.

#[test]
fn dry_run_lists_everything_and_writes_nothing() {
    let t = Tree::made_ago(200, "1y");
    let before = snapshot(&t.root);
    let out = t.renew_ok(&["all", "--dry-run"]);
    assert_same_tree(&before, &snapshot(&t.root), "renew all --dry-run");
    let text = stdout(&out);
    let would: Vec<&str> = text.lines().filter(|l| l.contains("would renew")).collect();
    assert_eq!(would.len(), ITEMS.len(), "{text}");
    for item in ITEMS {
        let file = match item {
            Item::Cert { stem, .. } => format!("{stem}.crt"),
            Item::Kubeconfig { file } => file.to_string(),
        };
        assert!(
            would.iter().any(|l| l.contains(&format!("/{file}"))),
            "{} is not listed:\n{text}",
            item.label()
        );
    }
    assert!(text.contains("nothing was written"), "{text}");

    let out = t.renew_ok(&["all", "--dry-run", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), ITEMS.len());
    assert!(items.iter().all(|i| i["action"] == "renew"), "{doc:#}");
    assert_eq!(doc["dryRun"], true);
    assert_same_tree(&before, &snapshot(&t.root), "renew all --dry-run -o json");
}

// ---------------------------------------------------------------------------------------------
// CAs and missing files.

#[test]
fn cas_are_refused_and_missing_files_are_skipped_or_refused() {
    let t = Tree::made_ago(10, "1y");
    let before = t.snapshot();
    for ca in ["ca", "front-proxy-ca", "etcd-ca"] {
        let out = t.renew(&[ca]);
        assert_eq!(out.status.code(), Some(2), "renew {ca}: {}", stderr(&out));
        assert!(stderr(&out).contains("CA rotation"), "{}", stderr(&out));
    }
    assert_same_tree(&before, &t.snapshot(), "refused CA renewals");

    fs::remove_file(t.pki.join("front-proxy-client.crt")).unwrap();
    fs::remove_file(t.pki.join("front-proxy-client.key")).unwrap();
    fs::remove_file(t.root.join("scheduler.conf")).unwrap();
    let before = t.snapshot();
    for name in ["front-proxy-client", "scheduler.conf"] {
        let out = t.renew(&[name]);
        assert_eq!(out.status.code(), Some(4), "renew {name}: {}", stderr(&out));
        assert!(stderr(&out).contains("missing"), "{}", stderr(&out));
    }
    assert_same_tree(&before, &t.snapshot(), "refused renewals of missing files");

    let out = t.renew_ok(&["all"]);
    let text = stdout(&out);
    for label in ["front-proxy-client:", "scheduler.conf:"] {
        assert!(
            text.lines()
                .any(|l| l.contains("skipped") && l.contains(label) && l.contains("missing")),
            "{label} is not reported skipped:\n{text}"
        );
    }
    assert!(!t.pki.join("front-proxy-client.crt").exists());
    assert!(!t.root.join("scheduler.conf").exists());
    assert_eq!(
        stdout(&out)
            .lines()
            .filter(|l| l.contains("renewed"))
            .count(),
        ITEMS.len() - 2
    );
}

#[test]
fn a_kubelet_conf_pointing_at_the_kubelets_rotated_file_is_skipped() {
    let t = Tree::made_ago(10, "1y");
    let conf = t.root.join("kubelet.conf");
    let mut v = read_yaml(&conf);
    let (_, user) = current_names(&v);
    let u = named_mut(&mut v, "users", &user)["user"]
        .as_mapping_mut()
        .unwrap();
    u.remove("client-certificate-data");
    u.remove("client-key-data");
    let current = "/var/lib/kubelet/pki/kubelet-client-current.pem";
    u.insert("client-certificate".into(), current.into());
    u.insert("client-key".into(), current.into());
    write_yaml(&conf, &v);
    let before = fs::read(&conf).unwrap();

    let out = t.renew_ok(&["all"]);
    assert!(
        stdout(&out).lines().any(|l| l.contains("skipped")
            && l.contains("kubelet.conf:")
            && l.contains("rotates itself")),
        "{}",
        stdout(&out)
    );
    let out = t.renew(&["kubelet.conf"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains(current), "{}", stderr(&out));
    assert_eq!(
        fs::read(&conf).unwrap(),
        before,
        "kubelet.conf is left alone"
    );
}
