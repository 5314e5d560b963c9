//! The external-CA flow of issue 14, checked by independent tools only:
//!
//! - `generate-csr` writes what kubeadm's `certs generate-csr` writes (kubeadm-pki.md §8): the
//!   same files and modes, requests with the catalog's subjects and SANs and nothing else
//!   (openssl verifies them, x509-parser reads them), kubeconfigs with server, cluster, context
//!   and user and only their key (kubectl reads them), refusing to overwrite.
//! - An openssl CA (made by openssl, signing with extfiles as the Kubernetes docs do) signs
//!   every request; `import-signed` puts the certificates in place; `init` then reuses every
//!   file and writes nothing, `check-expiration` is clean, a real etcd serves with the imported
//!   etcd certificates and etcdctl health-checks it with the imported health-check client, and
//!   kubectl completes a TLS handshake with every imported kubeconfig.
//! - Certificates that do not fit are refused with the file named, writing nothing: for another
//!   key, without a SAN the request asked for, from a foreign CA, with the wrong usage.
//! - The members of an HA etcd get their certificates from one `issue` call, each in a
//!   directory of its own, and form a healthy 3-member cluster over mutual TLS from them.

mod common;
mod etcd_support;
mod fake_apiserver;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use common::{
    OID_CN, OID_O, assert_same_tree, assert_success, free_port, mode, openssl, openssl_ok,
    pem_block, ps, snapshot, stderr, stdout, x509,
};
use etcd_support::{Cluster, require_etcd};
use fake_apiserver::{FakeApiServer, Identity as SeenIdentity};

const NODE: &str = "node-1";
const ALG: &str = "ECDSA-P256";

/// The control-plane leaves, as kubeadm names their files (§2), with the CA that signs each
/// and the extended key usages its role needs.
const LEAVES: [(&str, Ca, &str); 7] = [
    ("apiserver", Ca::Cluster, "serverAuth"),
    ("apiserver-kubelet-client", Ca::Cluster, "clientAuth"),
    ("front-proxy-client", Ca::FrontProxy, "clientAuth"),
    ("etcd/server", Ca::Etcd, "serverAuth, clientAuth"),
    ("etcd/peer", Ca::Etcd, "serverAuth, clientAuth"),
    ("etcd/healthcheck-client", Ca::Etcd, "clientAuth"),
    ("apiserver-etcd-client", Ca::Etcd, "clientAuth"),
];

/// kubeadm's five kubeconfigs: file, user (= client CN), groups (O).
const KUBECONFIGS: [(&str, &str, &[&str]); 5] = [
    (
        "admin.conf",
        "kubernetes-admin",
        &["kubeadm:cluster-admins"],
    ),
    (
        "super-admin.conf",
        "kubernetes-super-admin",
        &["system:masters"],
    ),
    ("kubelet.conf", "system:node:node-1", &["system:nodes"]),
    (
        "controller-manager.conf",
        "system:kube-controller-manager",
        &[],
    ),
    ("scheduler.conf", "system:kube-scheduler", &[]),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ca {
    Cluster,
    FrontProxy,
    Etcd,
}

// ------------------------------------------------------------------------------------------
// Running things
// ------------------------------------------------------------------------------------------

fn kubepki(args: &[&str]) -> Output {
    common::kubepki().args(args).output().expect("kubepki runs")
}

fn kubepki_ok(args: &[&str]) -> Output {
    let out = kubepki(args);
    assert_success(&format!("kubepki {args:?}"), &out);
    out
}

fn kubectl(args: &[&str]) -> Output {
    Command::new("kubectl")
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap_or_else(|e| {
            panic!("kubectl cannot run ({e}); install it: apt-get install -y kubernetes-client")
        })
}

/// `kubectl config view --raw -o json` of one kubeconfig.
fn kubeconfig_json(path: &Path) -> serde_json::Value {
    let out = kubectl(&[
        "config",
        "view",
        "--kubeconfig",
        ps(path),
        "--raw",
        "-o",
        "json",
    ]);
    assert_success(&format!("kubectl config view {}", path.display()), &out);
    serde_json::from_slice(&out.stdout).expect("kubectl prints JSON")
}

/// Every file below `root` with its modification time.
fn mtimes(root: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                dirs.push(entry.path());
            } else {
                out.insert(entry.path(), meta.modified().unwrap());
            }
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// Requests, read with x509-parser
// ------------------------------------------------------------------------------------------

/// What a PKCS#10 request holds.
#[derive(Debug)]
struct Csr {
    /// Subject attributes in DER order: (OID, value).
    subject: Vec<(String, String)>,
    dns: Vec<String>,
    ips: Vec<String>,
    /// The OIDs of every extension it requests.
    extensions: Vec<String>,
}

impl Csr {
    fn read(path: &Path) -> Csr {
        let (label, der) = pem_block(path);
        assert_eq!(label, "CERTIFICATE REQUEST", "{}", path.display());
        let (rest, csr) = X509CertificationRequest::from_der(&der)
            .unwrap_or_else(|e| panic!("{}: not PKCS#10: {e}", path.display()));
        assert!(rest.is_empty());
        let info = &csr.certification_request_info;
        let subject = info
            .subject
            .iter()
            .flat_map(|rdn| rdn.iter())
            .map(|a| {
                (
                    a.attr_type().to_id_string(),
                    a.as_str().unwrap().to_string(),
                )
            })
            .collect();
        let (mut dns, mut ips, mut extensions) = (Vec::new(), Vec::new(), Vec::new());
        for attr in info.iter_attributes() {
            if let x509_parser::cri_attributes::ParsedCriAttribute::ExtensionRequest(req) =
                attr.parsed_attribute()
            {
                for ext in &req.extensions {
                    extensions.push(ext.oid.to_id_string());
                    if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
                        for name in &san.general_names {
                            match name {
                                GeneralName::DNSName(d) => dns.push(d.to_string()),
                                GeneralName::IPAddress(b) => ips.push(ip_text(b)),
                                other => panic!("{}: unexpected SAN {other:?}", path.display()),
                            }
                        }
                    }
                }
            }
        }
        Csr {
            subject,
            dns,
            ips,
            extensions,
        }
    }

    /// The subject as kubeadm (Go) writes it: O values, then CN.
    fn expect_subject(&self, cn: &str, orgs: &[&str], what: &str) {
        let mut want: Vec<(String, String)> = orgs
            .iter()
            .map(|o| (OID_O.to_string(), o.to_string()))
            .collect();
        want.push((OID_CN.to_string(), cn.to_string()));
        assert_eq!(self.subject, want, "{what}: subject");
    }

    /// The SANs as an openssl extfile line: `DNS:a, IP:1.2.3.4`.
    fn san_line(&self) -> String {
        self.dns
            .iter()
            .map(|d| format!("DNS:{d}"))
            .chain(self.ips.iter().map(|i| format!("IP:{i}")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn ip_text(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::IpAddr::from(<[u8; 4]>::try_from(b).unwrap()).to_string(),
        16 => std::net::IpAddr::from(<[u8; 16]>::try_from(b).unwrap()).to_string(),
        n => panic!("IP SAN of {n} bytes"),
    }
}

/// The public key of a key file or of a request, as openssl prints it.
fn openssl_public_key_of_key(key: &Path) -> String {
    openssl_ok(["pkey", "-in", ps(key), "-pubout"])
}

fn openssl_public_key_of_csr(csr: &Path) -> String {
    openssl_ok(["req", "-in", ps(csr), "-noout", "-pubkey"])
}

/// `openssl req -verify`: the request's self-signature verifies.
fn assert_openssl_verifies_request(csr: &Path) {
    let out = openssl(["req", "-verify", "-noout", "-text", "-in", ps(csr)]);
    assert_success(&format!("openssl req -verify {}", csr.display()), &out);
    assert!(
        format!("{}{}", stdout(&out), stderr(&out)).contains("verify OK"),
        "{}: {}",
        csr.display(),
        stderr(&out)
    );
}

// ------------------------------------------------------------------------------------------
// An external CA, made and run by openssl
// ------------------------------------------------------------------------------------------

/// A CA made by `openssl req -x509` (RSA 2048, as the docs' `openssl genrsa -out ca.key 2048`),
/// signing with `openssl x509 -req` and an extfile.
struct OpensslCa {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl OpensslCa {
    fn new(root: &Path, name: &str) -> OpensslCa {
        let dir = root.join(name);
        fs::create_dir_all(&dir).unwrap();
        let config = dir.join("ca.cnf");
        fs::write(
            &config,
            format!(
                "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = {name}\n\
                 [v3_ca]\nbasicConstraints = critical, CA:TRUE\n\
                 keyUsage = critical, keyCertSign, cRLSign, digitalSignature\n\
                 subjectKeyIdentifier = hash\n"
            ),
        )
        .unwrap();
        let (cert, key) = (dir.join("ca.crt"), dir.join("ca.key"));
        openssl_ok([
            "req",
            "-x509",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            ps(&key),
            "-out",
            ps(&cert),
            "-days",
            "3650",
            "-config",
            ps(&config),
            "-extensions",
            "v3_ca",
        ]);
        OpensslCa { dir, cert, key }
    }

    /// Signs `csr` into `out` with `eku` and `sans` (an extfile's subjectAltName value; none
    /// when empty), as the docs' `openssl x509 -req ... -extfile` does.
    fn sign(&self, csr: &Path, out: &Path, eku: &str, sans: &str) {
        let ext = self.dir.join("ext.cnf");
        let mut text = format!(
            "basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature, keyEncipherment\n\
             extendedKeyUsage = {eku}\n\
             authorityKeyIdentifier = keyid\n"
        );
        if !sans.is_empty() {
            text.push_str(&format!("subjectAltName = {sans}\n"));
        }
        fs::write(&ext, text).unwrap();
        fs::create_dir_all(out.parent().unwrap()).unwrap();
        openssl_ok([
            "x509",
            "-req",
            "-in",
            ps(csr),
            "-CA",
            ps(&self.cert),
            "-CAkey",
            ps(&self.key),
            "-CAcreateserial",
            "-CAserial",
            ps(&self.dir.join("ca.srl")),
            "-days",
            "365",
            "-sha256",
            "-extfile",
            ps(&ext),
            "-out",
            ps(out),
        ]);
    }
}

/// The three CAs of a cluster, as the kubeadm external-CA docs expect them.
struct ExternalCas {
    cluster: OpensslCa,
    front_proxy: OpensslCa,
    etcd: OpensslCa,
    /// All three certificates in one PEM, for `--ca-bundle`.
    bundle: PathBuf,
}

impl ExternalCas {
    fn new(root: &Path) -> ExternalCas {
        let cas = ExternalCas {
            cluster: OpensslCa::new(root, "external-kubernetes-ca"),
            front_proxy: OpensslCa::new(root, "external-front-proxy-ca"),
            etcd: OpensslCa::new(root, "external-etcd-ca"),
            bundle: root.join("bundle.pem"),
        };
        let pem: String = [&cas.cluster, &cas.front_proxy, &cas.etcd]
            .iter()
            .map(|ca| fs::read_to_string(&ca.cert).unwrap())
            .collect();
        fs::write(&cas.bundle, pem).unwrap();
        cas
    }

    fn of(&self, ca: Ca) -> &OpensslCa {
        match ca {
            Ca::Cluster => &self.cluster,
            Ca::FrontProxy => &self.front_proxy,
            Ca::Etcd => &self.etcd,
        }
    }

    /// Signs every request of the tree into `out`, named as the files they become
    /// (`<base>.crt`, `<kubeconfig>.crt`), each with its role's usages and its request's SANs.
    fn sign_all(&self, tree: &Tree, out: &Path) {
        for (base, ca, eku) in LEAVES {
            let csr = tree.pki.join(format!("{base}.csr"));
            let sans = Csr::read(&csr).san_line();
            self.of(ca)
                .sign(&csr, &out.join(format!("{base}.crt")), eku, &sans);
        }
        for (file, _, _) in KUBECONFIGS {
            let csr = tree.kube.join(format!("{file}.csr"));
            self.cluster
                .sign(&csr, &out.join(format!("{file}.crt")), "clientAuth", "");
        }
    }
}

// ------------------------------------------------------------------------------------------
// A tree made by generate-csr
// ------------------------------------------------------------------------------------------

struct Tree {
    _tmp: tempfile::TempDir,
    /// Scratch space for CAs and signed certificates, outside the tree.
    work: PathBuf,
    /// The kubeconfig directory (kubeadm's /etc/kubernetes) and the certificate directory.
    kube: PathBuf,
    pki: PathBuf,
    /// The cluster flags every command of this tree uses.
    flags: Vec<String>,
}

impl Tree {
    /// `generate-csr` for a cluster whose API server is 127.0.0.1:`port`.
    fn generate(port: u16) -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let kube = tmp.path().join("kubernetes");
        let work = tmp.path().join("work");
        fs::create_dir_all(&work).unwrap();
        let pki = kube.join("pki");
        let flags = [
            "--cert-dir",
            ps(&pki),
            "--node-name",
            NODE,
            "--apiserver-advertise-address",
            "127.0.0.1",
            "--apiserver-bind-port",
            &port.to_string(),
            "--key-algorithm",
            ALG,
        ]
        .map(str::to_string)
        .to_vec();
        let tree = Tree {
            _tmp: tmp,
            work,
            kube,
            pki,
            flags,
        };
        tree.run_ok("generate-csr", &[]);
        tree
    }

    fn args<'a>(&'a self, command: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![command];
        args.extend(extra);
        args.extend(self.flags.iter().map(String::as_str));
        args
    }

    fn run_ok(&self, command: &str, extra: &[&str]) -> Output {
        kubepki_ok(&self.args(command, extra))
    }

    /// `import-signed` with the tree's cert dir (the other cluster flags do not apply to it).
    fn import(&self, inputs: &[&Path], extra: &[&str]) -> Output {
        let mut args = vec!["import-signed"];
        args.extend(inputs.iter().map(|p| ps(p)));
        args.extend(["--cert-dir", ps(&self.pki), "--key-algorithm", ALG]);
        args.extend(extra);
        kubepki(&args)
    }
}

// ------------------------------------------------------------------------------------------
// generate-csr is kubeadm's certs generate-csr
// ------------------------------------------------------------------------------------------

/// A kubeadm v1beta4 config that sets every field the requests depend on.
fn kubeadm_config(pki: &Path) -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 192.168.1.10
  bindPort: 6443
nodeRegistration:
  name: node-1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: prod
controlPlaneEndpoint: lb.example.com:8443
certificatesDir: {}
encryptionAlgorithm: ECDSA-P256
networking:
  serviceSubnet: 10.96.0.0/12
  dnsDomain: cluster.example
apiServer:
  certSANs: [10.0.0.5, api.example.com]
etcd:
  local:
    serverCertSANs: [etcd.example.com]
    peerCertSANs: [10.0.0.9]
",
        pki.display()
    )
}

#[test]
fn generate_csr_writes_what_kubeadm_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let kube = tmp.path().join("kubernetes");
    let pki = kube.join("pki");
    let config = tmp.path().join("kubeadm.yaml");
    fs::write(&config, kubeadm_config(&pki)).unwrap();

    // --dry-run -o json is the plan: twelve items, each with what its request asks for.
    let out = kubepki_ok(&[
        "generate-csr",
        "--config",
        ps(&config),
        "--dry-run",
        "-o",
        "json",
    ]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = plan["items"].as_array().unwrap();
    assert_eq!(items.len(), 12, "{plan:#}");
    assert!(items.iter().all(|i| i["action"] == "create"));
    assert_eq!(items[0]["request"]["commonName"], "kube-apiserver");
    assert!(!kube.exists(), "a dry run wrote something");

    kubepki_ok(&["generate-csr", "--config", ps(&config)]);

    // The files, names and modes of kubeadm-pki.md §8: a 0600 key and a 0600 request per leaf,
    // a 0600 kubeconfig and request per kubeconfig; no CA, no sa.key, nothing else.
    let tree = snapshot(&kube);
    let mut want: Vec<String> = vec!["pki".into(), "pki/etcd".into()];
    for (base, _, _) in LEAVES {
        want.push(format!("pki/{base}.key"));
        want.push(format!("pki/{base}.csr"));
    }
    for (file, _, _) in KUBECONFIGS {
        want.push(file.to_string());
        want.push(format!("{file}.csr"));
    }
    want.sort();
    assert_eq!(tree.keys().cloned().collect::<Vec<_>>(), want);
    for (path, entry) in &tree {
        let expected = if entry.contents.is_none() {
            0o755
        } else {
            0o600
        };
        assert_eq!(entry.mode, expected, "mode of {path}");
    }

    // Subjects and SANs by kubeadm's rules (§2): DNS names sorted, IPs in kubeadm's order.
    // (file stem, CN, O, DNS SANs, IP SANs)
    type Expected<'a> = (
        &'a str,
        &'a str,
        &'a [&'a str],
        &'a [&'a str],
        &'a [&'a str],
    );
    let leaves: [Expected<'_>; 7] = [
        (
            "apiserver",
            "kube-apiserver",
            &[],
            &[
                "api.example.com",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.example",
                "lb.example.com",
                "node-1",
            ],
            &["10.96.0.1", "192.168.1.10", "10.0.0.5"],
        ),
        (
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            &["kubeadm:cluster-admins"],
            &[],
            &[],
        ),
        ("front-proxy-client", "front-proxy-client", &[], &[], &[]),
        (
            "etcd/server",
            "node-1",
            &[],
            &["etcd.example.com", "localhost", "node-1"],
            &["192.168.1.10", "127.0.0.1", "::1"],
        ),
        (
            "etcd/peer",
            "node-1",
            &[],
            &["localhost", "node-1"],
            &["192.168.1.10", "127.0.0.1", "::1", "10.0.0.9"],
        ),
        (
            "etcd/healthcheck-client",
            "kube-etcd-healthcheck-client",
            &[],
            &[],
            &[],
        ),
        (
            "apiserver-etcd-client",
            "kube-apiserver-etcd-client",
            &[],
            &[],
            &[],
        ),
    ];
    for (base, cn, orgs, dns, ips) in leaves {
        let csr_path = pki.join(format!("{base}.csr"));
        let key_path = pki.join(format!("{base}.key"));
        assert_openssl_verifies_request(&csr_path);
        let csr = Csr::read(&csr_path);
        csr.expect_subject(cn, orgs, base);
        assert_eq!(csr.dns, dns, "{base}: DNS SANs");
        assert_eq!(csr.ips, ips, "{base}: IP SANs");
        // Only the SANs are requested: no key usage, no extended key usage (NewCSR).
        let want_ext: Vec<&str> = if dns.is_empty() {
            vec![]
        } else {
            vec!["2.5.29.17"]
        };
        assert_eq!(csr.extensions, want_ext, "{base}: requested extensions");
        // The key is kubeadm's encoding of the configured algorithm, and the request's key.
        assert_eq!(pem_block(&key_path).0, "EC PRIVATE KEY", "{base}.key");
        assert_eq!(
            openssl_public_key_of_key(&key_path),
            openssl_public_key_of_csr(&csr_path),
            "{base}: the request is not for its key"
        );
    }

    // The kubeconfigs, as kubectl reads them: server, cluster, context and user filled, no CA
    // and no client certificate, the new key in client-key-data, and the request for that key.
    for (file, user, groups) in KUBECONFIGS {
        let path = kube.join(file);
        let csr_path = kube.join(format!("{file}.csr"));
        let server = match file {
            "controller-manager.conf" | "scheduler.conf" => "https://192.168.1.10:6443",
            _ => "https://lb.example.com:8443",
        };
        let json = kubeconfig_json(&path);
        let context = format!("{user}@prod");
        assert_eq!(json["current-context"], context.as_str(), "{file}");
        assert_eq!(json["clusters"][0]["name"], "prod", "{file}");
        assert_eq!(
            json["clusters"][0]["cluster"],
            serde_json::json!({ "server": server }),
            "{file}: a cluster with its server and no CA"
        );
        assert_eq!(json["contexts"][0]["name"], context.as_str(), "{file}");
        assert_eq!(
            json["contexts"][0]["context"],
            serde_json::json!({ "cluster": "prod", "user": user }),
            "{file}"
        );
        assert_eq!(json["users"][0]["name"], user, "{file}");
        let user_entry = json["users"][0]["user"].as_object().unwrap();
        assert_eq!(
            user_entry.keys().collect::<Vec<_>>(),
            ["client-key-data"],
            "{file}: only the key"
        );
        let key_pem = BASE64
            .decode(user_entry["client-key-data"].as_str().unwrap())
            .unwrap();
        let key_file = tmp.path().join("client.key");
        fs::write(&key_file, &key_pem).unwrap();
        assert_eq!(pem_block(&key_file).0, "EC PRIVATE KEY", "{file}");
        assert_openssl_verifies_request(&csr_path);
        assert_eq!(
            openssl_public_key_of_key(&key_file),
            openssl_public_key_of_csr(&csr_path),
            "{file}: the request is not for the kubeconfig's key"
        );
        let csr = Csr::read(&csr_path);
        csr.expect_subject(user, groups, file);
        assert!(csr.extensions.is_empty(), "{file}: requests extensions");
    }

    // kubeadm's rule: never overwrite. A second run is refused and changes nothing.
    let out = kubepki(&["generate-csr", "--config", ps(&config)]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("file already exists")
            && stderr(&out).contains(ps(&pki.join("apiserver.key"))),
        "{}",
        stderr(&out)
    );
    assert_same_tree(&tree, &snapshot(&kube), "a refused generate-csr");

    // --force keeps what matches (everything here) byte for byte...
    kubepki_ok(&["generate-csr", "--config", ps(&config), "--force"]);
    assert_same_tree(
        &tree,
        &snapshot(&kube),
        "generate-csr --force on a matching tree",
    );

    // ... and makes again only what does not: a lost request means a new key and request, the
    // old key kept as a backup.
    fs::remove_file(pki.join("etcd/peer.csr")).unwrap();
    let out = kubepki_ok(&["generate-csr", "--config", ps(&config), "--force"]);
    assert!(
        stdout(&out).contains("1 written, 11 reused"),
        "{}",
        stdout(&out)
    );
    let after = snapshot(&kube);
    for (path, entry) in &tree {
        match path.as_str() {
            "pki/etcd/peer.key" => assert_ne!(after[path], *entry, "{path} was not replaced"),
            "pki/etcd/peer.csr" => {}
            _ => assert_eq!(after[path], *entry, "{path} changed"),
        }
    }
    assert!(after.contains_key("pki/etcd/peer.csr"));
    let backups: Vec<&String> = after
        .keys()
        .filter(|k| k.starts_with("pki/kubepki-backup/") && k.ends_with("etcd/peer.key"))
        .collect();
    assert_eq!(backups.len(), 1, "{:?}", after.keys());
    assert_eq!(
        after[backups[0]].contents,
        tree["pki/etcd/peer.key"].contents
    );
}

// ------------------------------------------------------------------------------------------
// The whole external-CA flow
// ------------------------------------------------------------------------------------------

#[test]
fn external_ca_flow_end_to_end() {
    let version = require_etcd();
    let port = free_port();
    let tree = Tree::generate(port);
    let cas = ExternalCas::new(&tree.work.join("ca"));
    let signed = tree.work.join("signed");
    cas.sign_all(&tree, &signed);
    // Names need not say what a certificate is for: two kubeconfig certificates in one PEM,
    // and the health-check client under a name of its own, are matched by their keys.
    let clients = ["controller-manager.conf.crt", "scheduler.conf.crt"]
        .map(|f| fs::read_to_string(signed.join(f)).unwrap())
        .concat();
    fs::create_dir_all(signed.join("misc")).unwrap();
    fs::write(signed.join("misc/clients.pem"), clients).unwrap();
    fs::rename(
        signed.join("etcd/healthcheck-client.crt"),
        signed.join("misc/hc.pem"),
    )
    .unwrap();
    for f in ["controller-manager.conf.crt", "scheduler.conf.crt"] {
        fs::remove_file(signed.join(f)).unwrap();
    }

    let out = tree.import(&[&signed], &["--ca-bundle", ps(&cas.bundle)]);
    assert_success("import-signed", &out);
    assert!(
        stdout(&out).contains("16 written, 0 reused"),
        "{}",
        stdout(&out)
    );

    // The CA files are the openssl CAs' certificates, without their keys: an external-CA tree.
    for (file, ca) in [
        ("ca", &cas.cluster),
        ("front-proxy-ca", &cas.front_proxy),
        ("etcd/ca", &cas.etcd),
    ] {
        assert_eq!(
            pem_block(&tree.pki.join(format!("{file}.crt"))).1,
            pem_block(&ca.cert).1,
            "{file}.crt"
        );
        assert!(!tree.pki.join(format!("{file}.key")).exists());
    }
    // Every certificate is beside its key, 0644, and openssl verifies it against the CA that
    // made it, for its purpose.
    for (base, ca, eku) in LEAVES {
        let crt = tree.pki.join(format!("{base}.crt"));
        assert_eq!(mode(&crt), 0o644, "{base}.crt");
        let purpose = if eku.starts_with("serverAuth") {
            "sslserver"
        } else {
            "sslclient"
        };
        openssl_ok([
            "verify",
            "-CAfile",
            ps(&cas.of(ca).cert),
            "-purpose",
            purpose,
            ps(&crt),
        ]);
        assert_eq!(
            x509(&crt).spki,
            x509_public_key_of(&tree.pki.join(format!("{base}.key"))),
            "{base}.crt is not for its key"
        );
    }
    // Every kubeconfig now holds its signed certificate and the cluster CA, as kubectl reads it.
    let ca_pem = fs::read(&cas.cluster.cert).unwrap();
    for (file, user, _) in KUBECONFIGS {
        let json = kubeconfig_json(&tree.kube.join(file));
        let cluster = &json["clusters"][0]["cluster"];
        let ca_data = BASE64
            .decode(cluster["certificate-authority-data"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            common::pem_der(std::str::from_utf8(&ca_data).unwrap()),
            common::pem_der(std::str::from_utf8(&ca_pem).unwrap()),
            "{file}: certificate-authority-data"
        );
        let cert = BASE64
            .decode(
                json["users"][0]["user"]["client-certificate-data"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        let cert =
            common::x509_from_der(&common::pem_der(std::str::from_utf8(&cert).unwrap())).unwrap();
        assert_eq!(cert.common_name(), Some(user), "{file}");
    }
    assert!(tree.pki.join("sa.key").exists() && tree.pki.join("sa.pub").exists());

    // init with the same settings reuses every file: nothing is written, not even touched.
    let files = snapshot(&tree.kube);
    let times = mtimes(&tree.kube);
    let out = tree.run_ok("init", &[]);
    assert!(
        stdout(&out).contains("0 written, 16 reused"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("external CA: certificate present, key absent"),
        "{}",
        stdout(&out)
    );
    assert_same_tree(&files, &snapshot(&tree.kube), "init on the imported tree");
    assert_eq!(times, mtimes(&tree.kube), "init touched a file");

    // check-expiration is clean: every row ok, every one externally managed.
    let out = kubepki(&[
        "check-expiration",
        "--cert-dir",
        ps(&tree.pki),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows: Vec<&serde_json::Value> = report["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .chain(report["certificateAuthorities"].as_array().unwrap())
        .collect();
    assert_eq!(rows.len(), 15, "{report:#}");
    for row in rows {
        assert_eq!(row["status"], "ok", "{row}");
        assert_eq!(row["externallyManaged"], true, "{row}");
    }

    // A real etcd serves with the imported etcd certificates; etcdctl health-checks it with the
    // imported health-check client and writes with apiserver-etcd-client; a client certificate
    // of the front-proxy CA is turned away.
    eprintln!("{version}");
    let mut etcd = Cluster::from_dirs(
        "external-ca",
        tree.pki.clone(),
        &[("node-1", "127.0.0.1", tree.pki.clone())],
        tempfile::tempdir().unwrap(),
    );
    etcd.start(0);
    etcd.wait_healthy();
    etcd.put(&etcd.all(), etcd_support::KEY, "imported");
    assert_eq!(etcd.get(&etcd.all(), etcd_support::KEY, "l"), "imported");
    etcd.assert_rejected(
        Some(&etcd.front_proxy_client()),
        "front-proxy-client (signed by the external front-proxy CA)",
        "certificate signed by unknown authority",
        "imported",
    );
    etcd.stop(0);
    drop(etcd);

    // kubectl completes a verified handshake with every kubeconfig: the server is the imported
    // apiserver certificate, and it sees each client as the identity its request asked for.
    let server = FakeApiServer::start(&tree.pki, port);
    for (file, user, groups) in KUBECONFIGS {
        let before = server.seen().len();
        let out = kubectl(&[
            "--kubeconfig",
            ps(&tree.kube.join(file)),
            "version",
            "-o",
            "json",
            "--request-timeout",
            "10s",
        ]);
        assert_success(&format!("kubectl version with {file}"), &out);
        let seen = server.seen();
        let expected = SeenIdentity {
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        assert!(
            seen.len() > before && seen[before..].iter().all(|id| *id == expected),
            "{file}: the server saw {:?}, expected {expected:?}",
            &seen[before..]
        );
    }
}

/// The DER SubjectPublicKeyInfo of a private key file, from openssl.
fn x509_public_key_of(key: &Path) -> Vec<u8> {
    common::pem_der(&openssl_public_key_of_key(key))
}

// ------------------------------------------------------------------------------------------
// What does not fit is refused, and nothing is written
// ------------------------------------------------------------------------------------------

#[test]
fn certificates_that_do_not_fit_are_refused_writing_nothing() {
    let tree = Tree::generate(6443);
    let cas = ExternalCas::new(&tree.work.join("ca"));
    let good = tree.work.join("good");
    cas.sign_all(&tree, &good);
    let foreign = OpensslCa::new(&tree.work, "some-other-ca");
    let before = snapshot(&tree.kube);

    let apiserver_csr = tree.pki.join("apiserver.csr");
    let apiserver_sans = Csr::read(&apiserver_csr).san_line();
    // A request for another key, with the same subject and SANs.
    let other_key = tree.work.join("other.key");
    let other_csr = tree.work.join("other.csr");
    openssl_ok([
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        ps(&other_key),
        "-subj",
        "/CN=kube-apiserver",
        "-out",
        ps(&other_csr),
    ]);
    let without_one_san = apiserver_sans.replace("DNS:kubernetes.default, ", "");
    assert_ne!(without_one_san, apiserver_sans);

    type Make<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, &str, Make<'_>, &str)> = vec![
        (
            "a certificate for another key",
            "apiserver.crt",
            Box::new(|out: &Path| {
                cas.cluster
                    .sign(&other_csr, out, "serverAuth", &apiserver_sans)
            }),
            "is named for apiserver",
        ),
        (
            "a certificate for another key, under another name",
            "unnamed.pem",
            Box::new(|out: &Path| {
                cas.cluster
                    .sign(&other_csr, out, "serverAuth", &apiserver_sans)
            }),
            "is for none of the keys generate-csr made",
        ),
        (
            "a certificate without a SAN its request asked for",
            "apiserver.crt",
            Box::new(|out: &Path| {
                cas.cluster
                    .sign(&apiserver_csr, out, "serverAuth", &without_one_san)
            }),
            "it lacks SANs DNS:kubernetes.default, which the request asked for",
        ),
        (
            "a certificate from a foreign CA",
            "apiserver.crt",
            Box::new(|out: &Path| foreign.sign(&apiserver_csr, out, "serverAuth", &apiserver_sans)),
            "it does not chain to the CA from",
        ),
        (
            "a serving certificate without serverAuth",
            "apiserver.crt",
            Box::new(|out: &Path| {
                cas.cluster
                    .sign(&apiserver_csr, out, "clientAuth", &apiserver_sans)
            }),
            "it lacks the extended key usage serverAuth, which apiserver needs",
        ),
    ];
    for (i, (what, name, make, expected)) in cases.iter().enumerate() {
        // The good certificates, with one replaced by (or joined by) the bad one.
        let dir = tree.work.join(format!("bad-{i}"));
        copy_dir(&good, &dir);
        let bad = dir.join(name);
        make(&bad);
        let out = tree.import(&[&dir], &["--ca-bundle", ps(&cas.bundle)]);
        assert_eq!(out.status.code(), Some(4), "{what}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{}: ", bad.display())) && err.contains(expected),
            "{what}: the error does not name {} and say {expected:?}:\n{err}",
            bad.display()
        );
        assert_same_tree(&before, &snapshot(&tree.kube), what);
    }

    // The good ones import; importing another certificate over one is a conflict, and --force
    // replaces it, keeping the old one.
    let out = tree.import(&[&good], &["--ca-bundle", ps(&cas.bundle)]);
    assert_success("import-signed of the good certificates", &out);
    let imported = fs::read(tree.pki.join("apiserver.crt")).unwrap();
    let again = tree.work.join("again");
    fs::create_dir_all(&again).unwrap();
    cas.cluster.sign(
        &apiserver_csr,
        &again.join("apiserver.crt"),
        "serverAuth",
        &apiserver_sans,
    );
    let settled = snapshot(&tree.kube);
    let out = tree.import(&[&again], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exists and holds another certificate"),
        "{}",
        stderr(&out)
    );
    assert_same_tree(&settled, &snapshot(&tree.kube), "a refused re-import");
    let out = tree.import(&[&again], &["--force"]);
    assert_success("import-signed --force", &out);
    assert_eq!(
        fs::read(tree.pki.join("apiserver.crt")).unwrap(),
        fs::read(again.join("apiserver.crt")).unwrap()
    );
    let backups = snapshot(&tree.pki.join("kubepki-backup"));
    assert!(
        backups
            .iter()
            .any(|(k, e)| k.ends_with("apiserver.crt") && e.contents.as_ref() == Some(&imported)),
        "no backup of the replaced apiserver.crt: {:?}",
        backups.keys()
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

// ------------------------------------------------------------------------------------------
// An HA etcd from one issue call
// ------------------------------------------------------------------------------------------

#[test]
fn ha_etcd_members_from_one_issue_call() {
    let version = require_etcd();
    eprintln!("{version}");
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    kubepki_ok(&["init-ca", "--cert-dir", ps(&pki), "--key-algorithm", ALG]);
    // Each member on its own loopback address: a member's certificates name only its own, so
    // a peer or client that reached a member with another member's certificate would fail.
    let members = [
        ("m1", "127.0.0.1"),
        ("m2", "127.0.0.2"),
        ("m3", "127.0.0.3"),
    ];
    let mut args = vec![
        "issue",
        "etcd-server",
        "etcd-peer",
        "etcd-healthcheck-client",
        "apiserver-etcd-client",
        "--cert-dir",
        ps(&pki),
        "--key-algorithm",
        ALG,
    ];
    let specs: Vec<String> = members.iter().map(|(n, ip)| format!("{n}={ip}")).collect();
    for spec in &specs {
        args.extend(["--node-name", spec.as_str()]);
    }
    let out = kubepki_ok(&args);
    assert!(
        stdout(&out).contains("11 written, 0 reused"),
        "{}",
        stdout(&out)
    );

    // The client certificates once, in the tree; the tree's own etcd/server and etcd/peer not.
    for f in ["etcd/healthcheck-client.crt", "apiserver-etcd-client.crt"] {
        assert!(pki.join(f).exists(), "{f}");
    }
    assert!(!pki.join("etcd/server.crt").exists() && !pki.join("etcd/peer.crt").exists());
    // Each member: a pki/ tree to copy as it is, with its own names and the etcd CA (not its key).
    let etcd_ca = fs::read(pki.join("etcd/ca.crt")).unwrap();
    for (name, ip) in members {
        let dir = pki.join("etcd-members").join(name);
        let files: Vec<String> = snapshot(&dir).keys().cloned().collect();
        assert_eq!(
            files,
            [
                "etcd",
                "etcd/ca.crt",
                "etcd/peer.crt",
                "etcd/peer.key",
                "etcd/server.crt",
                "etcd/server.key"
            ],
            "{name}"
        );
        assert_eq!(
            fs::read(dir.join("etcd/ca.crt")).unwrap(),
            etcd_ca,
            "{name}"
        );
        for kind in ["server", "peer"] {
            let crt = dir.join(format!("etcd/{kind}.crt"));
            assert_eq!(mode(&dir.join(format!("etcd/{kind}.key"))), 0o600);
            let cert = x509(&crt);
            assert_eq!(cert.common_name(), Some(name), "{name} {kind}");
            assert_eq!(cert.dns_sans(), ["localhost", name], "{name} {kind}");
            let ips: Vec<String> = cert.ip_sans().iter().map(|i| i.to_string()).collect();
            let mut want_ips = vec![ip.to_string()];
            for loopback in ["127.0.0.1", "::1"] {
                if !want_ips.iter().any(|i| i == loopback) {
                    want_ips.push(loopback.to_string());
                }
            }
            assert_eq!(ips, want_ips, "{name} {kind}");
            openssl_ok([
                "verify",
                "-CAfile",
                ps(&pki.join("etcd/ca.crt")),
                "-purpose",
                "sslserver",
                ps(&crt),
            ]);
        }
    }

    // Run again: every file is kept.
    let files = snapshot(&pki);
    let out = kubepki_ok(&args);
    assert!(
        stdout(&out).contains("0 written, 11 reused"),
        "{}",
        stdout(&out)
    );
    assert_same_tree(&files, &snapshot(&pki), "issue for the members again");

    // check-expiration and renew know the members.
    let out = kubepki(&["check-expiration", "--cert-dir", ps(&pki), "-o", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (name, _) in members {
        for profile in ["etcd-member-server", "etcd-member-peer"] {
            let row = report["certificates"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == profile && r["node"] == name)
                .unwrap_or_else(|| panic!("no {profile} row for {name}: {report:#}"));
            assert_eq!(row["status"], "ok", "{row}");
        }
    }
    let out = kubepki_ok(&[
        "renew",
        "all",
        "--cert-dir",
        ps(&pki),
        "--dry-run",
        "-o",
        "json",
    ]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let renewed: Vec<String> = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            i["action"] == "renew" && i["name"].as_str().unwrap().starts_with("etcd-member")
        })
        .map(|i| {
            format!(
                "{} {}",
                i["name"].as_str().unwrap(),
                i["node"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(renewed.len(), 6, "{plan:#}");

    // The three members form a cluster over mutual TLS from their own directories.
    let dirs: Vec<(&'static str, &str, PathBuf)> = members
        .iter()
        .map(|(name, ip)| (*name, *ip, pki.join("etcd-members").join(name)))
        .collect();
    let mut cluster = Cluster::from_dirs(
        "ha-members",
        pki.clone(),
        &dirs,
        tempfile::tempdir().unwrap(),
    );
    for i in 0..dirs.len() {
        cluster.start(i);
    }
    cluster.wait_healthy();
    cluster.put(&cluster.all(), etcd_support::KEY, "members");
    for i in 0..dirs.len() {
        let own = [cluster.members[i].client_url.clone()];
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while cluster.get(&own, etcd_support::KEY, "s") != "members" {
            assert!(
                std::time::Instant::now() < deadline,
                "member {i} did not catch up"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    for i in 0..dirs.len() {
        cluster.stop(i);
    }
}
