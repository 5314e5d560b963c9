//! Helpers shared by the integration tests: running kubepki and openssl, reading certificates
//! with x509-parser, and snapshotting a directory to prove a failed run wrote nothing.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

pub mod control_plane;

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command as StdCommand, Output};
use std::sync::{Mutex, OnceLock};

use assert_cmd::Command;
use clap::Parser;
use kubepki::cli::{self, Cli};
use kubepki::exit::ExitStatus;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use yaml_serde::Value;

/// The node name and advertise address every test tree is made for.
pub const NODE: &str = "node-1";
pub const ADVERTISE: &str = "192.168.1.10";

/// The kubepki binary with an empty environment except PATH, so nothing from the user's
/// environment (clap `env` fallbacks, locale, HOME) can change what a test sees.
pub fn kubepki() -> Command {
    let mut cmd = Command::cargo_bin("kubepki").expect("the kubepki binary is built by cargo");
    cmd.env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}

/// The cluster flags every control-plane command of the tests uses.
pub fn cluster_args() -> [&'static str; 4] {
    [
        "--node-name",
        NODE,
        "--apiserver-advertise-address",
        ADVERTISE,
    ]
}

/// `kubepki init` into `dir` with key algorithm `alg`; panics with kubepki's output on failure.
pub fn init_tree(dir: &Path, alg: &str) -> Output {
    let out = kubepki()
        .arg("init")
        .arg("--cert-dir")
        .arg(dir)
        .args(cluster_args())
        .args(["--key-algorithm", alg])
        .output()
        .expect("kubepki runs");
    assert_success("kubepki init", &out);
    out
}

/// `kubepki init-ca` into `dir` with key algorithm `alg`.
pub fn init_ca(dir: &Path, alg: &str) -> Output {
    let out = kubepki()
        .arg("init-ca")
        .arg("--cert-dir")
        .arg(dir)
        .args(["--key-algorithm", alg])
        .output()
        .expect("kubepki runs");
    assert_success("kubepki init-ca", &out);
    out
}

/// `kubepki issue NAMES... --cert-dir DIR <cluster flags> EXTRA...` (not asserted).
pub fn issue(dir: &Path, names: &[&str], extra: &[&str]) -> Output {
    kubepki()
        .arg("issue")
        .args(names)
        .arg("--cert-dir")
        .arg(dir)
        .args(cluster_args())
        .args(extra)
        .output()
        .expect("kubepki runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Fails the test (never skips it) when openssl is not installed.
fn require_openssl() {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = CHECKED.get_or_init(
        || match StdCommand::new("openssl").arg("version").output() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "`openssl version` failed ({:?}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => Err(format!("cannot run openssl: {e}")),
        },
    );
    if let Err(e) = result {
        panic!(
            "these tests cross-check kubepki's output with the openssl command line tool, \
             which is missing: {e}. Install it (Debian/Ubuntu: `apt-get install -y openssl`) \
             and run the tests again."
        );
    }
}

/// A `openssl` command to configure further (for s_server/s_client); checks it is installed.
pub fn openssl_command() -> StdCommand {
    require_openssl();
    StdCommand::new("openssl")
}

/// Runs the system `openssl` with `args` and returns its output (not asserted).
pub fn openssl<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    openssl_command().args(args).output().expect("openssl runs")
}

/// Runs openssl, asserts it succeeded, and returns its stdout.
pub fn openssl_ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = openssl(&args);
    assert_success(&format!("openssl {args:?}"), &out);
    stdout(&out)
}

/// One extension as x509-parser reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ext<T> {
    pub critical: bool,
    pub value: T,
}

/// basicConstraints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basic {
    pub ca: bool,
    pub path_len: Option<u32>,
}

/// The facts of one certificate the tests check, read with x509-parser.
#[derive(Debug, Clone)]
pub struct X509 {
    pub der: Vec<u8>,
    pub version: u32,
    /// The subject's attributes in DER order: (dotted OID, value); one attribute per RDN is
    /// asserted while reading.
    pub subject: Vec<(String, String)>,
    pub subject_raw: Vec<u8>,
    pub issuer_raw: Vec<u8>,
    /// The serial's DER INTEGER content bytes (a leading 0x00 keeps it positive).
    pub serial: Vec<u8>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub signature_algorithm: String,
    /// Dotted OID of the subject public key's algorithm.
    pub key_algorithm: String,
    /// Key size in bits (RSA modulus, EC field); 0 for Ed25519.
    pub key_bits: usize,
    /// DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// Dotted OIDs of all extensions, in order.
    pub extension_oids: Vec<String>,
    pub san: Option<Ext<(Vec<String>, Vec<IpAddr>)>>,
    /// keyUsage bit names as RFC 5280 spells them, in bit order.
    pub key_usage: Option<Ext<Vec<&'static str>>>,
    /// EKU names (serverAuth, clientAuth, ...; other OIDs dotted).
    pub ext_key_usage: Option<Ext<Vec<String>>>,
    pub basic_constraints: Option<Ext<Basic>>,
    pub ski: Option<Vec<u8>>,
    pub aki: Option<Vec<u8>>,
}

impl X509 {
    pub fn common_name(&self) -> Option<&str> {
        self.subject
            .iter()
            .find(|(oid, _)| oid == OID_CN)
            .map(|(_, v)| v.as_str())
    }

    pub fn dns_sans(&self) -> Vec<String> {
        self.san
            .as_ref()
            .map(|s| s.value.0.clone())
            .unwrap_or_default()
    }

    pub fn ip_sans(&self) -> Vec<IpAddr> {
        self.san
            .as_ref()
            .map(|s| s.value.1.clone())
            .unwrap_or_default()
    }

    /// Verifies this certificate's signature with `issuer`'s public key (x509-parser, aws-lc).
    pub fn verify_signed_by(&self, issuer: &X509) -> Result<(), String> {
        let (_, child) = X509Certificate::from_der(&self.der).map_err(|e| e.to_string())?;
        let (_, parent) = X509Certificate::from_der(&issuer.der).map_err(|e| e.to_string())?;
        child
            .verify_signature(Some(parent.public_key()))
            .map_err(|e| e.to_string())
    }
}

pub const OID_CN: &str = "2.5.4.3";
pub const OID_O: &str = "2.5.4.10";

/// Reads the first certificate of a PEM file with x509-parser.
pub fn x509(path: &Path) -> X509 {
    let data = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let blocks =
        pem::parse_many(&data).unwrap_or_else(|e| panic!("{}: bad PEM: {e}", path.display()));
    let der = blocks
        .iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .unwrap_or_else(|| panic!("{}: no CERTIFICATE block", path.display()))
        .contents()
        .to_vec();
    x509_from_der(&der).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn x509_from_der(der: &[u8]) -> Result<X509, String> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| format!("not X.509: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the certificate", rest.len()));
    }
    let mut subject = Vec::new();
    for rdn in cert.subject().iter() {
        let attrs: Vec<_> = rdn.iter().collect();
        if attrs.len() != 1 {
            return Err(format!(
                "multi-valued RDN in the subject: {}",
                cert.subject()
            ));
        }
        let value = attrs[0]
            .as_str()
            .map_err(|e| format!("subject attribute is not a string: {e}"))?;
        subject.push((attrs[0].attr_type().to_id_string(), value.to_string()));
    }
    let mut out = X509 {
        der: der.to_vec(),
        version: cert.version().0,
        subject,
        subject_raw: cert.subject().as_raw().to_vec(),
        issuer_raw: cert.issuer().as_raw().to_vec(),
        serial: cert.raw_serial().to_vec(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        signature_algorithm: cert.signature_algorithm.algorithm.to_id_string(),
        key_algorithm: cert.public_key().algorithm.algorithm.to_id_string(),
        key_bits: match cert.public_key().parsed() {
            Ok(PublicKey::RSA(rsa)) => rsa.key_size(),
            Ok(PublicKey::EC(ec)) => ec.key_size(),
            _ => 0,
        },
        spki: cert.public_key().raw.to_vec(),
        extension_oids: cert
            .extensions()
            .iter()
            .map(|e| e.oid.to_id_string())
            .collect(),
        san: None,
        key_usage: None,
        ext_key_usage: None,
        basic_constraints: None,
        ski: None,
        aki: None,
    };
    for ext in cert.extensions() {
        let critical = ext.critical;
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                let mut dns = Vec::new();
                let mut ips = Vec::new();
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(d) => dns.push(d.to_string()),
                        GeneralName::IPAddress(b) => ips.push(match b.len() {
                            4 => IpAddr::from(<[u8; 4]>::try_from(*b).expect("4 bytes")),
                            16 => IpAddr::from(<[u8; 16]>::try_from(*b).expect("16 bytes")),
                            n => return Err(format!("IP SAN of {n} bytes")),
                        }),
                        other => return Err(format!("unexpected SAN type {other:?}")),
                    }
                }
                out.san = Some(Ext {
                    critical,
                    value: (dns, ips),
                });
            }
            ParsedExtension::KeyUsage(ku) => {
                let bits = [
                    (ku.digital_signature(), "digitalSignature"),
                    (ku.non_repudiation(), "nonRepudiation"),
                    (ku.key_encipherment(), "keyEncipherment"),
                    (ku.data_encipherment(), "dataEncipherment"),
                    (ku.key_agreement(), "keyAgreement"),
                    (ku.key_cert_sign(), "keyCertSign"),
                    (ku.crl_sign(), "cRLSign"),
                    (ku.encipher_only(), "encipherOnly"),
                    (ku.decipher_only(), "decipherOnly"),
                ];
                out.key_usage = Some(Ext {
                    critical,
                    value: bits.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect(),
                });
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                let mut names = Vec::new();
                for (on, name) in [
                    (eku.any, "anyExtendedKeyUsage"),
                    (eku.server_auth, "serverAuth"),
                    (eku.client_auth, "clientAuth"),
                    (eku.code_signing, "codeSigning"),
                    (eku.email_protection, "emailProtection"),
                    (eku.time_stamping, "timeStamping"),
                    (eku.ocsp_signing, "OCSPSigning"),
                ] {
                    if on {
                        names.push(name.to_string());
                    }
                }
                names.extend(eku.other.iter().map(|o| o.to_id_string()));
                out.ext_key_usage = Some(Ext {
                    critical,
                    value: names,
                });
            }
            ParsedExtension::BasicConstraints(bc) => {
                out.basic_constraints = Some(Ext {
                    critical,
                    value: Basic {
                        ca: bc.ca,
                        path_len: bc.path_len_constraint,
                    },
                });
            }
            ParsedExtension::SubjectKeyIdentifier(id) => out.ski = Some(id.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                out.aki = aki.key_identifier.as_ref().map(|k| k.0.to_vec());
            }
            ParsedExtension::ParseError { error } => {
                return Err(format!("extension {} does not parse: {error}", ext.oid));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The permission bits (`& 0o777`) of a file or directory.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// One entry of a [`snapshot`]: a directory (`contents: None`) or a file with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub mode: u32,
    pub contents: Option<Vec<u8>>,
}

/// Every file and directory below `root` (relative paths, `/`-separated), with mode and bytes.
/// A `root` that does not exist gives an empty map.
pub fn snapshot(root: &Path) -> BTreeMap<String, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.expect("read_dir entry");
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .expect("below root")
                .to_string_lossy()
                .into_owned();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                out.insert(
                    rel,
                    Entry {
                        mode,
                        contents: None,
                    },
                );
                walk(root, &path, out);
            } else {
                let contents = fs::read(&path).unwrap_or_default();
                out.insert(
                    rel,
                    Entry {
                        mode,
                        contents: Some(contents),
                    },
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Asserts two snapshots are equal, naming the paths that differ.
pub fn assert_same_tree(
    before: &BTreeMap<String, Entry>,
    after: &BTreeMap<String, Entry>,
    what: &str,
) {
    let added: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let removed: Vec<_> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let changed: Vec<_> = before
        .iter()
        .filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        added.is_empty() && removed.is_empty() && changed.is_empty(),
        "{what}: the directory changed: added {added:?}, removed {removed:?}, changed {changed:?}"
    );
}

/// The first PEM block of a file: (label, DER).
pub fn pem_block(path: &Path) -> (String, Vec<u8>) {
    let data = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let block = pem::parse(&data).unwrap_or_else(|e| panic!("{}: bad PEM: {e}", path.display()));
    (block.tag().to_string(), block.contents().to_vec())
}

/// DER of the single PEM block of a text (e.g. openssl output).
pub fn pem_der(text: &str) -> Vec<u8> {
    pem::parse(text)
        .unwrap_or_else(|e| panic!("bad PEM ({e}):\n{text}"))
        .contents()
        .to_vec()
}

/// A path as `&str`, for argument lists (test paths are UTF-8).
pub fn ps(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Runs kubepki in-process with the clock at `now` (pinned clocks, fault injection).
pub fn run_at(now: OffsetDateTime, args: &[&str]) -> anyhow::Result<ExitStatus> {
    let cli = Cli::try_parse_from(std::iter::once("kubepki").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("kubepki {args:?} does not parse: {e}"));
    cli::run(cli, now)
}

/// The snapshot of a tree without kubepki's backup directories.
pub fn without_backups(mut snap: BTreeMap<String, Entry>) -> BTreeMap<String, Entry> {
    snap.retain(|k, _| !k.split('/').any(|c| c == kubepki::pki::store::BACKUP_DIR));
    snap
}

/// The public key of a certificate, as openssl prints it (PEM).
pub fn cert_pubkey(cert: &Path) -> String {
    openssl_ok(["x509", "-in", ps(cert), "-noout", "-pubkey"])
}

/// The public half of a private key, as openssl derives it (PEM).
pub fn key_pubkey(key: &Path) -> String {
    openssl_ok(["pkey", "-in", ps(key), "-pubout"])
}

/// A YAML file (e.g. a kubeconfig) as plain YAML, read independently of kubepki's own types.
pub fn read_yaml(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn write_yaml(path: &Path, v: &Value) {
    fs::write(path, yaml_serde::to_string(v).unwrap()).unwrap();
}

/// `n` distinct free TCP ports on 127.0.0.1, never the same one twice in this process (tests
/// run in parallel, and each releases its listeners before its servers bind the ports).
pub fn free_ports(n: usize) -> Vec<u16> {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let mut listeners = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < n {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            ports.push(port);
        }
        listeners.push(listener);
    }
    ports
}

/// One free TCP port on 127.0.0.1 (see [`free_ports`]).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}
