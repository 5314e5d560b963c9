//! Cross-checks the tree `kubepki init` writes against the kubeadm reference
//! (shared/reference/kubeadm-pki.md §1-3, 11, 12), reading every certificate twice: with
//! x509-parser and with the openssl command line tool, and finally using the certificates in a
//! real TLS handshake between `openssl s_server` and `openssl s_client`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Write;
use std::net::{IpAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;

// ---------------------------------------------------------------------------------------------
// What the tree must hold (reference §2, §3, §12)
// ---------------------------------------------------------------------------------------------

/// One certificate of kubeadm's catalog, with the exact contents expected for node `node-1`
/// advertising 192.168.1.10 with the default service CIDR and DNS domain.
#[derive(Debug)]
struct Want {
    name: &'static str,
    /// File stem below the certificate directory.
    base: &'static str,
    /// File stem of the signing CA (the entry's own stem for a CA).
    ca: &'static str,
    cn: &'static str,
    o: Option<&'static str>,
    eku: &'static [&'static str],
    dns: &'static [&'static str],
    ips: &'static [&'static str],
}

impl Want {
    fn is_ca(&self) -> bool {
        self.ca == self.base
    }
    fn crt(&self, pki: &Path) -> PathBuf {
        pki.join(format!("{}.crt", self.base))
    }
    fn key(&self, pki: &Path) -> PathBuf {
        pki.join(format!("{}.key", self.base))
    }
    fn ca_crt(&self, pki: &Path) -> PathBuf {
        pki.join(format!("{}.crt", self.ca))
    }
}

const SERVER: &[&str] = &["serverAuth"];
const CLIENT: &[&str] = &["clientAuth"];
const SERVER_CLIENT: &[&str] = &["serverAuth", "clientAuth"];
const ETCD_DNS: &[&str] = &["localhost", "node-1"];
const ETCD_IPS: &[&str] = &["192.168.1.10", "127.0.0.1", "::1"];

/// kubeadm's GetDefaultCertList, in its order.
const CATALOG: &[Want] = &[
    Want {
        name: "ca",
        base: "ca",
        ca: "ca",
        cn: "kubernetes",
        o: None,
        eku: &[],
        dns: &["kubernetes"],
        ips: &[],
    },
    Want {
        name: "apiserver",
        base: "apiserver",
        ca: "ca",
        cn: "kube-apiserver",
        o: None,
        eku: SERVER,
        dns: &[
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "node-1",
        ],
        ips: &["10.96.0.1", "192.168.1.10"],
    },
    Want {
        name: "apiserver-kubelet-client",
        base: "apiserver-kubelet-client",
        ca: "ca",
        cn: "kube-apiserver-kubelet-client",
        o: Some("kubeadm:cluster-admins"),
        eku: CLIENT,
        dns: &[],
        ips: &[],
    },
    Want {
        name: "front-proxy-ca",
        base: "front-proxy-ca",
        ca: "front-proxy-ca",
        cn: "front-proxy-ca",
        o: None,
        eku: &[],
        dns: &["front-proxy-ca"],
        ips: &[],
    },
    Want {
        name: "front-proxy-client",
        base: "front-proxy-client",
        ca: "front-proxy-ca",
        cn: "front-proxy-client",
        o: None,
        eku: CLIENT,
        dns: &[],
        ips: &[],
    },
    Want {
        name: "etcd-ca",
        base: "etcd/ca",
        ca: "etcd/ca",
        cn: "etcd-ca",
        o: None,
        eku: &[],
        dns: &["etcd-ca"],
        ips: &[],
    },
    Want {
        name: "etcd-server",
        base: "etcd/server",
        ca: "etcd/ca",
        cn: "node-1",
        o: None,
        eku: SERVER_CLIENT,
        dns: ETCD_DNS,
        ips: ETCD_IPS,
    },
    Want {
        name: "etcd-peer",
        base: "etcd/peer",
        ca: "etcd/ca",
        cn: "node-1",
        o: None,
        eku: SERVER_CLIENT,
        dns: ETCD_DNS,
        ips: ETCD_IPS,
    },
    Want {
        name: "etcd-healthcheck-client",
        base: "etcd/healthcheck-client",
        ca: "etcd/ca",
        cn: "kube-etcd-healthcheck-client",
        o: None,
        eku: CLIENT,
        dns: &[],
        ips: &[],
    },
    Want {
        name: "apiserver-etcd-client",
        base: "apiserver-etcd-client",
        ca: "etcd/ca",
        cn: "kube-apiserver-etcd-client",
        o: None,
        eku: CLIENT,
        dns: &[],
        ips: &[],
    },
];

fn want(name: &str) -> &'static Want {
    CATALOG
        .iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no catalog entry {name}"))
}

fn leaves() -> impl Iterator<Item = &'static Want> {
    CATALOG.iter().filter(|w| !w.is_ca())
}

const OID_EXT_SKI: &str = "2.5.29.14";
const OID_EXT_KU: &str = "2.5.29.15";
const OID_EXT_SAN: &str = "2.5.29.17";
const OID_EXT_BC: &str = "2.5.29.19";
const OID_EXT_EKU: &str = "2.5.29.37";
const OID_EXT_AKI: &str = "2.5.29.35";

/// A key type kubepki can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Rsa(usize),
    P256,
    P384,
    Ed25519,
}

impl Key {
    fn flag(self) -> String {
        match self {
            Key::Rsa(bits) => format!("RSA-{bits}"),
            Key::P256 => "ECDSA-P256".into(),
            Key::P384 => "ECDSA-P384".into(),
            Key::Ed25519 => "ED25519".into(),
        }
    }

    fn spki_oid(self) -> &'static str {
        match self {
            Key::Rsa(_) => "1.2.840.113549.1.1.1",
            Key::P256 | Key::P384 => "1.2.840.10045.2.1",
            Key::Ed25519 => "1.3.101.112",
        }
    }

    fn bits(self) -> usize {
        match self {
            Key::Rsa(bits) => bits,
            Key::P256 => 256,
            Key::P384 => 384,
            Key::Ed25519 => 0,
        }
    }

    /// The signature algorithm of a certificate *signed by* a key of this type (reference §3).
    fn signature_oid(self) -> &'static str {
        match self {
            Key::Rsa(_) => "1.2.840.113549.1.1.11", // sha256WithRSAEncryption
            Key::P256 => "1.2.840.10045.4.3.2",     // ecdsa-with-SHA256
            Key::P384 => "1.2.840.10045.4.3.3",     // ecdsa-with-SHA384
            Key::Ed25519 => "1.3.101.112",
        }
    }

    /// kubeadm's private key PEM labels (reference §1); Ed25519 only has PKCS#8.
    fn pem_label(self) -> &'static str {
        match self {
            Key::Rsa(_) => "RSA PRIVATE KEY",
            Key::P256 | Key::P384 => "EC PRIVATE KEY",
            Key::Ed25519 => "PRIVATE KEY",
        }
    }

    fn curve(self) -> Option<&'static str> {
        match self {
            Key::P256 => Some("prime256v1"),
            Key::P384 => Some("secp384r1"),
            _ => None,
        }
    }

    fn is_rsa(self) -> bool {
        matches!(self, Key::Rsa(_))
    }
}

/// The keyUsage bits a certificate with key `own` must carry: digitalSignature, keyEncipherment
/// only for RSA keys (deliberate deviation, reference §12), keyCertSign only on CAs.
fn key_usage(want: &Want, own: Key) -> Vec<&'static str> {
    let mut ku = vec!["digitalSignature"];
    if own.is_rsa() {
        ku.push("keyEncipherment");
    }
    if want.is_ca() {
        ku.push("keyCertSign");
    }
    ku
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// The exact set of files and directories `init` leaves, with their modes (reference §1, with
/// sa.pub 0644 per §12).
fn check_files_and_modes(pki: &Path) {
    let snap = snapshot(pki);
    let mut expected: BTreeMap<String, u32> = BTreeMap::new();
    for w in CATALOG {
        expected.insert(format!("{}.crt", w.base), 0o644);
        expected.insert(format!("{}.key", w.base), 0o600);
    }
    expected.insert("sa.key".into(), 0o600);
    expected.insert("sa.pub".into(), 0o644);
    expected.insert("etcd".into(), 0o755);
    let actual: BTreeMap<String, u32> = snap.iter().map(|(k, v)| (k.clone(), v.mode)).collect();
    let modes = |m: &BTreeMap<String, u32>| -> Vec<String> {
        m.iter().map(|(k, v)| format!("{k} {v:o}")).collect()
    };
    assert_eq!(
        modes(&actual),
        modes(&expected),
        "files and modes below {} (no temporary or backup files may be left)",
        pki.display()
    );
    assert_eq!(mode(pki), 0o755, "{} itself", pki.display());
    assert!(snap["etcd"].contents.is_none(), "etcd is a directory");
}

/// `openssl verify` of every certificate against its CA (each CA against itself), strictly, and
/// with the purpose its EKU allows; against every other CA it must fail. One openssl run per CA
/// and check, with all its certificates, to keep the test fast.
fn check_openssl_verify(pki: &Path, entries: &[&Want]) {
    for ca in CATALOG.iter().filter(|w| w.is_ca()) {
        let signed: Vec<&Want> = entries
            .iter()
            .copied()
            .filter(|w| w.ca == ca.base)
            .collect();
        let server: Vec<&Want> = signed
            .iter()
            .copied()
            .filter(|w| w.eku.contains(&"serverAuth"))
            .collect();
        let client: Vec<&Want> = signed
            .iter()
            .copied()
            .filter(|w| w.eku.contains(&"clientAuth"))
            .collect();
        for (purpose, group) in [
            (None, &signed),
            (Some("sslserver"), &server),
            (Some("sslclient"), &client),
        ] {
            if group.is_empty() {
                continue;
            }
            let mut args: Vec<String> = vec!["verify".into(), "-x509_strict".into()];
            if let Some(p) = purpose {
                args.extend(["-purpose".into(), p.into()]);
            }
            args.extend(["-CAfile".into(), ca.crt(pki).display().to_string()]);
            args.extend(group.iter().map(|w| w.crt(pki).display().to_string()));
            let out = openssl(&args);
            assert_success(&format!("openssl {}", args.join(" ")), &out);
            let want: Vec<String> = group
                .iter()
                .map(|w| format!("{}: OK", w.crt(pki).display()))
                .collect();
            assert_eq!(
                stdout(&out).lines().collect::<Vec<_>>(),
                want,
                "openssl {}",
                args.join(" ")
            );
        }

        let others: Vec<&Want> = entries
            .iter()
            .copied()
            .filter(|w| w.ca != ca.base)
            .collect();
        if others.is_empty() || !ca.crt(pki).exists() {
            continue;
        }
        let mut args: Vec<String> = vec!["verify".into(), "-CAfile".into()];
        args.push(ca.crt(pki).display().to_string());
        args.extend(others.iter().map(|w| w.crt(pki).display().to_string()));
        let out = openssl(&args);
        assert!(
            !out.status.success(),
            "openssl {}: must fail",
            args.join(" ")
        );
        let err = stderr(&out);
        for w in &others {
            let crt = w.crt(pki).display().to_string();
            assert!(
                !stdout(&out).contains(&format!("{crt}: OK")),
                "{} must not verify against {} (another CA)\n{}",
                w.name,
                ca.name,
                stdout(&out)
            );
            assert!(
                err.contains(&format!("error {crt}: verification failed")),
                "{} against {}:\n{err}",
                w.name,
                ca.name
            );
        }
    }
}

/// Subject, issuer, SANs, usages, basicConstraints, key identifiers, key and signature algorithms
/// of one certificate, read with x509-parser.
fn check_x509(pki: &Path, w: &Want, own: Key, signer: Key) {
    let cert = x509(&w.crt(pki));
    let ca = x509(&w.ca_crt(pki));
    let n = w.name;
    assert_eq!(cert.version, 2, "{n}: X.509 v3 (version field 2)");

    // Subject: O then CN in DER order, as Go writes pkix.Name; nothing else.
    let mut subject = Vec::new();
    if let Some(o) = w.o {
        subject.push((OID_O.to_string(), o.to_string()));
    }
    subject.push((OID_CN.to_string(), w.cn.to_string()));
    assert_eq!(
        cert.subject, subject,
        "{n}: subject attributes in DER order (O before CN)"
    );
    assert_eq!(cert.common_name(), Some(w.cn), "{n}: CN");
    assert_eq!(
        cert.issuer_raw, ca.subject_raw,
        "{n}: issuer is the CA's subject, byte for byte"
    );

    // Keys and signature.
    assert_eq!(
        cert.key_algorithm,
        own.spki_oid(),
        "{n}: public key algorithm"
    );
    assert_eq!(cert.key_bits, own.bits(), "{n}: key size");
    assert_eq!(
        cert.signature_algorithm,
        signer.signature_oid(),
        "{n}: signature algorithm"
    );
    cert.verify_signed_by(&ca)
        .unwrap_or_else(|e| panic!("{n}: signature does not verify with {}: {e}", w.ca));

    // SANs: exact, in order; non-critical; absent on client certificates.
    let want_ips: Vec<IpAddr> = w.ips.iter().map(|i| i.parse().unwrap()).collect();
    if w.dns.is_empty() && w.ips.is_empty() {
        assert!(
            cert.san.is_none(),
            "{n}: no SAN extension expected, got {:?}",
            cert.san
        );
    } else {
        let san = cert
            .san
            .as_ref()
            .unwrap_or_else(|| panic!("{n}: SAN extension missing"));
        assert!(
            !san.critical,
            "{n}: SAN must not be critical (the subject is not empty)"
        );
        assert_eq!(san.value.0, w.dns, "{n}: DNS SANs (sorted)");
        assert_eq!(san.value.1, want_ips, "{n}: IP SANs (first-seen order)");
    }

    // keyUsage: critical, exact bits.
    let ku = cert
        .key_usage
        .as_ref()
        .unwrap_or_else(|| panic!("{n}: keyUsage missing"));
    assert!(ku.critical, "{n}: keyUsage must be critical");
    assert_eq!(
        ku.value,
        key_usage(w, own),
        "{n}: keyUsage bits ({own:?} key)"
    );

    // extKeyUsage: non-critical, exact; absent on CAs.
    if w.is_ca() {
        assert!(cert.ext_key_usage.is_none(), "{n}: a CA has no extKeyUsage");
    } else {
        let eku = cert
            .ext_key_usage
            .as_ref()
            .unwrap_or_else(|| panic!("{n}: extKeyUsage missing"));
        assert!(!eku.critical, "{n}: extKeyUsage must not be critical");
        assert_eq!(eku.value, w.eku, "{n}: extKeyUsage");
    }

    // basicConstraints: critical; CA:TRUE without pathLen, or an explicit CA:FALSE.
    let bc = cert
        .basic_constraints
        .as_ref()
        .unwrap_or_else(|| panic!("{n}: basicConstraints missing (leaves carry CA:FALSE)"));
    assert!(bc.critical, "{n}: basicConstraints must be critical");
    assert_eq!(bc.value.ca, w.is_ca(), "{n}: basicConstraints CA flag");
    assert_eq!(bc.value.path_len, None, "{n}: no pathLen");

    // Key identifiers: every cert has an SKI (leaves too: deviation, reference §12); a leaf's
    // AKI is its CA's SKI; a self-signed CA has no AKI.
    let ski = cert
        .ski
        .as_ref()
        .unwrap_or_else(|| panic!("{n}: SKI missing"));
    assert!(!ski.is_empty(), "{n}: empty SKI");
    if w.is_ca() {
        assert_eq!(cert.aki, None, "{n}: a self-signed CA has no AKI");
    } else {
        assert_eq!(
            cert.aki.as_ref(),
            ca.ski.as_ref(),
            "{n}: AKI = {}'s SKI",
            w.ca
        );
        assert!(ca.ski.is_some(), "{n}: its CA has an SKI");
    }

    // Nothing else, nothing twice.
    let mut want_exts = vec![OID_EXT_KU, OID_EXT_BC, OID_EXT_SKI];
    if !w.dns.is_empty() || !w.ips.is_empty() {
        want_exts.push(OID_EXT_SAN);
    }
    if !w.is_ca() {
        want_exts.extend([OID_EXT_EKU, OID_EXT_AKI]);
    }
    let have: BTreeSet<&str> = cert.extension_oids.iter().map(String::as_str).collect();
    assert_eq!(
        have.len(),
        cert.extension_oids.len(),
        "{n}: an extension appears twice"
    );
    assert_eq!(
        have,
        want_exts.into_iter().collect(),
        "{n}: the set of extensions"
    );
}

/// The same facts as `openssl x509` prints them.
#[derive(Debug, Default)]
struct OpensslText {
    subject: String,
    /// Extension display name → (critical, value text).
    exts: BTreeMap<String, (bool, String)>,
}

fn openssl_text(crt: &Path) -> OpensslText {
    let text = openssl_ok([
        "x509",
        "-in",
        ps(crt),
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
        "-ext",
        "subjectAltName,keyUsage,extendedKeyUsage,basicConstraints",
    ]);
    let mut parsed = OpensslText::default();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("subject=") {
            parsed.subject = s.trim().to_string();
            current = None;
        } else if line.starts_with(char::is_whitespace) {
            let name = current.as_ref().unwrap_or_else(|| {
                panic!(
                    "{}: value without a header: {line:?}\n{text}",
                    crt.display()
                )
            });
            let entry = parsed.exts.get_mut(name).expect("header seen");
            if !entry.1.is_empty() {
                entry.1.push_str(", ");
            }
            entry.1.push_str(line.trim());
        } else if let Some((name, rest)) = line.split_once(':') {
            let critical = match rest.trim() {
                "critical" => true,
                "" => false,
                other => panic!(
                    "{}: unexpected header {line:?} ({other})\n{text}",
                    crt.display()
                ),
            };
            parsed
                .exts
                .insert(name.trim().to_string(), (critical, String::new()));
            current = Some(name.trim().to_string());
        } else if !line.trim().is_empty() {
            panic!(
                "{}: unexpected openssl output line {line:?}\n{text}",
                crt.display()
            );
        }
    }
    parsed
}

fn check_openssl_text(pki: &Path, w: &Want, own: Key) {
    let n = w.name;
    let t = openssl_text(&w.crt(pki));

    // RFC 2253 prints the RDNs last-first, so "CN=…,O=…" means O comes first in the DER.
    let subject = match w.o {
        Some(o) => format!("CN={},O={}", w.cn, o),
        None => format!("CN={}", w.cn),
    };
    assert_eq!(t.subject, subject, "{n}: openssl -subject -nameopt RFC2253");

    let mut headers: Vec<&str> = vec!["X509v3 Key Usage", "X509v3 Basic Constraints"];

    if !w.dns.is_empty() || !w.ips.is_empty() {
        headers.push("X509v3 Subject Alternative Name");
        let (critical, value) = &t.exts["X509v3 Subject Alternative Name"];
        assert!(!critical, "{n}: openssl: SAN not critical");
        // openssl spells IPv6 differently across versions (0:0:0:0:0:0:0:1 or ::1): normalise.
        let have: Vec<String> = value
            .split(", ")
            .map(|item| match item.strip_prefix("IP Address:") {
                Some(ip) => format!(
                    "IP:{}",
                    ip.parse::<IpAddr>()
                        .unwrap_or_else(|e| panic!("{n}: openssl IP {ip:?}: {e}"))
                ),
                None => item.to_string(),
            })
            .collect();
        let want: Vec<String> = w
            .dns
            .iter()
            .map(|d| format!("DNS:{d}"))
            .chain(
                w.ips
                    .iter()
                    .map(|i| format!("IP:{}", i.parse::<IpAddr>().unwrap())),
            )
            .collect();
        assert_eq!(have, want, "{n}: openssl: SANs in order");
    }

    let (critical, value) = &t.exts["X509v3 Key Usage"];
    assert!(critical, "{n}: openssl: keyUsage critical");
    let want_ku: Vec<&str> = key_usage(w, own)
        .into_iter()
        .map(|k| match k {
            "digitalSignature" => "Digital Signature",
            "keyEncipherment" => "Key Encipherment",
            "keyCertSign" => "Certificate Sign",
            other => panic!("unmapped {other}"),
        })
        .collect();
    assert_eq!(
        value,
        &want_ku.join(", "),
        "{n}: openssl: keyUsage ({own:?} key)"
    );
    if !own.is_rsa() {
        assert!(
            !value.contains("Key Encipherment"),
            "{n}: no keyEncipherment on a {own:?} key"
        );
    }

    if !w.is_ca() {
        headers.push("X509v3 Extended Key Usage");
        let (critical, value) = &t.exts["X509v3 Extended Key Usage"];
        assert!(!critical, "{n}: openssl: extKeyUsage not critical");
        let want_eku: Vec<&str> = w
            .eku
            .iter()
            .map(|e| match *e {
                "serverAuth" => "TLS Web Server Authentication",
                "clientAuth" => "TLS Web Client Authentication",
                other => panic!("unmapped {other}"),
            })
            .collect();
        assert_eq!(value, &want_eku.join(", "), "{n}: openssl: extKeyUsage");
    }

    let (critical, value) = &t.exts["X509v3 Basic Constraints"];
    assert!(critical, "{n}: openssl: basicConstraints critical");
    assert_eq!(
        value,
        if w.is_ca() { "CA:TRUE" } else { "CA:FALSE" },
        "{n}: openssl: basicConstraints (no pathlen)"
    );

    let have: BTreeSet<&str> = t.exts.keys().map(String::as_str).collect();
    assert_eq!(
        have,
        headers.into_iter().collect(),
        "{n}: openssl: extensions printed"
    );
}

/// Serials, validity windows and key identifiers across the whole tree.
fn check_serials_and_validity(pki: &Path, started: i64, finished: i64) {
    let certs: Vec<(&Want, X509)> = CATALOG.iter().map(|w| (w, x509(&w.crt(pki)))).collect();

    let mut serials = BTreeSet::new();
    for (w, c) in &certs {
        let n = w.name;
        assert!(!c.serial.is_empty(), "{n}: empty serial");
        assert!(
            c.serial[0] & 0x80 == 0,
            "{n}: serial {:02x?} is negative",
            c.serial
        );
        let digits: Vec<u8> = c.serial.iter().copied().skip_while(|b| *b == 0).collect();
        assert!(
            digits.len() <= 8,
            "{n}: serial {:02x?} is longer than 63 bits",
            c.serial
        );
        let mut be = [0u8; 8];
        be[8 - digits.len()..].copy_from_slice(&digits);
        let value = u64::from_be_bytes(be);
        assert!(value >= 1, "{n}: serial must be positive, is 0");
        assert!(value < 1 << 63, "{n}: serial {value} must be < 2^63");
        assert!(serials.insert(value), "{n}: serial {value} is used twice");
    }

    // NotBefore = run start − 5 min (to the second), shared by every certificate of the run;
    // NotAfter = start + 1 y (leaves) or 10 y (CAs).
    const BACKDATE: i64 = 5 * 60;
    const YEAR: i64 = 8760 * 3600;
    let not_before = certs[0].1.not_before;
    for (w, c) in &certs {
        let n = w.name;
        assert_eq!(c.not_before, not_before, "{n}: one run, one NotBefore");
        let lower = started - BACKDATE - 2;
        let upper = finished - BACKDATE + 2;
        assert!(
            (lower..=upper).contains(&c.not_before),
            "{n}: NotBefore {} should be 5 minutes before the run ({lower}..={upper})",
            c.not_before
        );
        // The brief's looser bound, stated explicitly: 4 to 6 minutes before the test started.
        let ago = started - c.not_before;
        assert!(
            (4 * 60 - 5..=6 * 60 + 5).contains(&ago),
            "{n}: NotBefore {ago} s before start"
        );
        let period = if w.is_ca() { 10 * YEAR } else { YEAR };
        assert_eq!(
            c.not_after - c.not_before,
            period + BACKDATE,
            "{n}: NotAfter − NotBefore = {} + 5 min",
            if w.is_ca() { "10 y" } else { "1 y" }
        );
    }
}

/// Each key against its certificate (openssl), and the key encodings.
fn check_keys(pki: &Path, entries: &[&Want], own: Key) {
    for w in entries {
        let n = w.name;
        let (label, _) = pem_block(&w.key(pki));
        assert_eq!(label, own.pem_label(), "{n}: private key PEM label");
        let raw = fs::read_to_string(w.key(pki)).unwrap();
        assert!(
            raw.starts_with(&format!("-----BEGIN {}-----\n", own.pem_label())),
            "{n}: the key file starts with its PEM header (no EC PARAMETERS block etc.)"
        );
        let blocks = pem::parse_many(raw.as_bytes()).expect("PEM");
        assert_eq!(
            blocks.len(),
            1,
            "{n}: the key file holds exactly one PEM block"
        );
        let from_key = openssl_ok(["pkey", "-in", ps(&w.key(pki)), "-pubout"]);
        let from_crt = openssl_ok(["x509", "-in", ps(&w.crt(pki)), "-pubkey", "-noout"]);
        assert_eq!(
            from_key, from_crt,
            "{n}: the key's public half is the certificate's key"
        );
        assert_eq!(
            pem_der(&from_crt),
            x509(&w.crt(pki)).spki,
            "{n}: openssl and x509-parser agree"
        );
        check_key_text(&w.key(pki), own, n);
        if own.curve().is_some() {
            assert_sec1_has_public_point(
                &pem_block(&w.key(pki)).1,
                &x509(&w.crt(pki)).spki,
                own,
                n,
            );
        }
    }
}

/// sa.key in the run's key encoding; sa.pub is its PKIX public half.
fn check_service_account(pki: &Path, own: Key) {
    let sa_key = pki.join("sa.key");
    let sa_pub = pki.join("sa.pub");
    assert_eq!(pem_block(&sa_key).0, own.pem_label(), "sa.key PEM label");
    check_key_text(&sa_key, own, "sa.key");
    if own.curve().is_some() {
        assert_sec1_has_public_point(&pem_block(&sa_key).1, &pem_block(&sa_pub).1, own, "sa.key");
    }
    let pub_text = fs::read_to_string(&sa_pub).unwrap();
    assert!(
        pub_text.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "sa.pub is PKIX PUBLIC KEY:\n{pub_text}"
    );
    assert_eq!(pem_block(&sa_pub).0, "PUBLIC KEY");
    let derived = openssl_ok(["pkey", "-in", ps(&sa_key), "-pubout"]);
    assert_eq!(
        pem_der(&derived),
        pem_block(&sa_pub).1,
        "sa.pub holds the public half of sa.key"
    );
    let reread = openssl_ok(["pkey", "-pubin", "-in", ps(&sa_pub)]);
    assert_eq!(
        pem_der(&reread),
        pem_block(&sa_pub).1,
        "openssl reads sa.pub"
    );
}

/// What openssl says about the private key itself.
fn check_key_text(key: &Path, own: Key, n: &str) {
    match own {
        Key::Rsa(bits) => {
            let text = openssl_ok(["rsa", "-in", ps(key), "-noout", "-text", "-check"]);
            assert!(
                text.contains("RSA key ok"),
                "{n}: openssl rsa -check:\n{text}"
            );
            assert!(
                text.contains(&format!("({bits} bit")),
                "{n}: RSA-{bits}:\n{text}"
            );
        }
        Key::P256 | Key::P384 => {
            let out = openssl(["ec", "-in", ps(key), "-noout", "-text", "-check"]);
            assert_success(&format!("{n}: openssl ec -check"), &out);
            let text = stdout(&out);
            let curve = own.curve().unwrap();
            assert!(
                text.contains(&format!("ASN1 OID: {curve}")),
                "{n}: the EC key names its curve {curve}:\n{text}"
            );
        }
        Key::Ed25519 => {
            let text = openssl_ok(["pkey", "-in", ps(key), "-noout", "-text"]);
            assert!(
                text.contains("ED25519 Private-Key"),
                "{n}: an Ed25519 key:\n{text}"
            );
        }
    }
}

/// A SEC1 EC key holds its public point (as Go's MarshalECPrivateKey writes it), which is the
/// tail of the SubjectPublicKeyInfo.
fn assert_sec1_has_public_point(key_der: &[u8], spki: &[u8], own: Key, n: &str) {
    let point_len = 1 + 2 * own.bits() / 8;
    let point = &spki[spki.len() - point_len..];
    assert_eq!(point[0], 0x04, "{n}: uncompressed point");
    assert!(
        key_der.windows(point_len).any(|w| w == point),
        "{n}: the EC private key includes its public key"
    );
}

/// `kubepki init` with `alg`, then every check of the brief on the whole tree.
fn full_tree(alg: Key) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    let started = now_unix();
    init_tree(&pki, &alg.flag());
    let finished = now_unix();

    let all: Vec<&Want> = CATALOG.iter().collect();
    check_files_and_modes(&pki);
    check_openssl_verify(&pki, &all);
    for w in CATALOG {
        check_x509(&pki, w, alg, alg);
        check_openssl_text(&pki, w, alg);
    }
    check_serials_and_validity(&pki, started, finished);
    check_keys(&pki, &all, alg);
    check_service_account(&pki, alg);
}

#[test]
fn rsa_2048_tree_matches_kubeadm_and_openssl() {
    full_tree(Key::Rsa(2048));
}

#[test]
fn ecdsa_p256_tree_matches_kubeadm_and_openssl() {
    full_tree(Key::P256);
}

#[test]
fn ecdsa_p384_tree_matches_kubeadm_and_openssl() {
    full_tree(Key::P384);
}

/// RSA-3072/4096 are slow to generate: one leaf each, under fast P-256 CAs.
fn big_rsa_leaf(bits: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    init_ca(&pki, "ECDSA-P256");
    let own = Key::Rsa(bits);
    let out = issue(&pki, &["apiserver"], &["--key-algorithm", &own.flag()]);
    assert_success("kubepki issue apiserver", &out);
    assert!(
        stdout(&out).contains(&format!("RSA-{bits}")),
        "{}",
        stdout(&out)
    );
    let w = want("apiserver");
    check_openssl_verify(&pki, &[w]);
    check_x509(&pki, w, own, Key::P256);
    check_openssl_text(&pki, w, own);
    check_keys(&pki, &[w], own);
    assert_eq!(mode(&w.key(&pki)), 0o600);
    assert_eq!(mode(&w.crt(&pki)), 0o644);
}

#[test]
fn rsa_3072_leaf_issues_and_verifies() {
    big_rsa_leaf(3072);
}

#[test]
fn rsa_4096_leaf_issues_and_verifies() {
    big_rsa_leaf(4096);
}

#[test]
fn ed25519_init_is_refused_because_of_sa_key() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    let out = kubepki()
        .arg("init")
        .arg("--cert-dir")
        .arg(&pki)
        .args(cluster_args())
        .args(["--key-algorithm", "ED25519"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "usage error\n{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("sa.key"), "the error names sa.key: {err}");
    assert!(
        err.contains("--key-algorithm"),
        "the error names the flag: {err}"
    );
    assert!(!pki.exists(), "nothing is written when init is refused");
    assert!(snapshot(tmp.path()).is_empty());
}

#[test]
fn ed25519_leaves_signed_by_rsa_cas_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    init_ca(&pki, "RSA-2048");
    let out = issue(&pki, &["all"], &["--key-algorithm", "ED25519"]);
    assert_success("kubepki issue all --key-algorithm ED25519", &out);
    let all_leaves: Vec<&Want> = leaves().collect();
    assert_eq!(all_leaves.len(), 7);
    check_openssl_verify(&pki, &all_leaves);
    for w in &all_leaves {
        check_x509(&pki, w, Key::Ed25519, Key::Rsa(2048));
        check_openssl_text(&pki, w, Key::Ed25519);
        assert_eq!(mode(&w.key(&pki)), 0o600, "{}", w.name);
        assert_eq!(mode(&w.crt(&pki)), 0o644, "{}", w.name);
    }
    for w in CATALOG.iter().filter(|w| w.is_ca()) {
        check_x509(&pki, w, Key::Rsa(2048), Key::Rsa(2048));
    }
    // The leaf keys are Ed25519 (PKCS#8 is its only encoding); sa.key stays the RSA key
    // init-ca made.
    check_keys(&pki, &all_leaves, Key::Ed25519);
    check_service_account(&pki, Key::Rsa(2048));
}

// ---------------------------------------------------------------------------------------------
// Idempotence
// ---------------------------------------------------------------------------------------------

fn rerun_is_idempotent(alg: Key) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    init_tree(&pki, &alg.flag());
    let before = snapshot(tmp.path());
    let out = init_tree(&pki, &alg.flag());
    let after = snapshot(tmp.path());
    assert_same_tree(&before, &after, "a second identical init");

    let text = stdout(&out);
    // Item lines read "[<kind>] <action> <name>: ...".
    let items: Vec<(&str, &str, &str)> = text
        .lines()
        .filter_map(|line| {
            let (kind, rest) = line.strip_prefix('[')?.split_once("] ")?;
            let mut words = rest.split_whitespace();
            let action = words.next()?;
            let name = words.next()?.strip_suffix(':')?;
            Some((kind, action, name))
        })
        .collect();
    // The PKI items come first, in kubeadm's order; whatever init writes after them (the
    // kubeconfigs, since write-kubeconfig landed) must be reused as well.
    let mut names: Vec<&str> = CATALOG.iter().map(|w| w.name).collect();
    names.push("sa");
    assert!(items.len() >= names.len(), "one line per item:\n{text}");
    for (item, name) in items.iter().zip(&names) {
        assert_eq!(
            *item,
            ("certs", "reused", *name),
            "{name} must be reused\n{text}"
        );
    }
    for item in &items {
        assert_eq!(item.1, "reused", "{item:?} must be reused\n{text}");
    }
    assert!(
        text.contains(&format!("0 written, {} reused", items.len())),
        "the summary counts every item as reused:\n{text}"
    );
}

#[test]
fn rerun_reuses_every_file_rsa_2048() {
    rerun_is_idempotent(Key::Rsa(2048));
}

#[test]
fn rerun_reuses_every_file_ecdsa_p256() {
    rerun_is_idempotent(Key::P256);
}

#[test]
fn rerun_reuses_every_file_ecdsa_p384() {
    rerun_is_idempotent(Key::P384);
}

// ---------------------------------------------------------------------------------------------
// A real TLS handshake
// ---------------------------------------------------------------------------------------------

/// `openssl s_server`, killed (by pid) and reaped when dropped, also when a test fails.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The API server's serving pair, asking for client certificates signed by ca.crt.
fn start_server(pki: &Path, work: &Path) -> (Server, u16) {
    // The free port may be taken by someone else before s_server binds it: then s_server exits
    // at once, and another port is tried.
    for attempt in 1..=5 {
        let port = free_port();
        let log = work.join(format!("s_server-{port}.log"));
        let log_file = File::create(&log).unwrap();
        let child = openssl_command()
            .current_dir(pki)
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
            .args(["-cert", "apiserver.crt", "-key", "apiserver.key"])
            .args([
                "-CAfile",
                "ca.crt",
                "-Verify",
                "1",
                "-verify_return_error",
                "-www",
            ])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start openssl s_server");
        let mut server = Server { child, log };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                assert!(
                    attempt < 5,
                    "openssl s_server exited early ({status}):\n{}",
                    server.log()
                );
                break;
            }
            let addr = ([127, 0, 0, 1], port).into();
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return (server, port);
            }
            assert!(
                Instant::now() < deadline,
                "openssl s_server did not accept on port {port} within 10 s:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    unreachable!("the last attempt either returns or fails")
}

/// `openssl s_client` sending one HTTP request; returns its status and output. `-ign_eof` keeps
/// it reading after stdin ends, so the server's answer (or its alert) is in the output.
fn run_client(
    pki: &Path,
    work: &Path,
    port: u16,
    verify: &[&str],
    client: &str,
) -> (ExitStatus, String) {
    let out_path = work.join(format!("s_client-{port}-{client}-{}.log", verify.join("_")));
    let out_file = File::create(&out_path).unwrap();
    let mut child = openssl_command()
        .current_dir(pki)
        .args([
            "s_client",
            "-ign_eof",
            "-connect",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["-CAfile", "ca.crt"])
        .args(verify)
        .arg("-verify_return_error")
        .args([
            "-cert",
            &format!("{client}.crt"),
            "-key",
            &format!("{client}.key"),
        ])
        .stdin(Stdio::piped())
        .stdout(out_file.try_clone().unwrap())
        .stderr(out_file)
        .spawn()
        .expect("start openssl s_client");
    {
        let mut stdin = child.stdin.take().unwrap();
        // The client may already have given up (a failed handshake): ignore EPIPE.
        let _ = stdin.write_all(b"GET / HTTP/1.0\r\n\r\n");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "openssl s_client did not finish within 20 s:\n{}",
                fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, fs::read_to_string(&out_path).unwrap())
}

fn tls_handshake(alg: Key) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    let work = tmp.path().join("logs");
    fs::create_dir(&work).unwrap();
    init_tree(&pki, &alg.flag());
    let (server, port) = start_server(&pki, &work);

    // The API server certificate is good for its in-cluster names and addresses, and the
    // server accepts the kubelet-client certificate (signed by the same CA).
    for verify in [
        &["-verify_hostname", "kubernetes.default.svc.cluster.local"][..],
        &["-verify_hostname", "node-1"],
        &["-verify_ip", "10.96.0.1"],
        &["-verify_ip", "192.168.1.10"],
    ] {
        let (status, out) = run_client(&pki, &work, port, verify, "apiserver-kubelet-client");
        assert!(
            status.success(),
            "s_client {verify:?} failed ({status}):\n{out}\nserver:\n{}",
            server.log()
        );
        assert!(
            out.contains("Verify return code: 0 (ok)"),
            "{verify:?}:\n{out}"
        );
        assert!(
            out.contains("HTTP/1.0 200 ok"),
            "the server answered {verify:?}:\n{out}"
        );
        let client_section = out
            .split("Client certificate")
            .nth(1)
            .unwrap_or_else(|| panic!("s_server -www reports the client certificate:\n{out}"));
        assert!(
            client_section.contains("kube-apiserver-kubelet-client"),
            "the server saw the kubelet-client identity:\n{out}"
        );
    }

    // A name the certificate does not carry is refused by the client.
    let (status, out) = run_client(
        &pki,
        &work,
        port,
        &["-verify_hostname", "evil.example.com"],
        "apiserver-kubelet-client",
    );
    assert!(!status.success(), "a wrong hostname must fail:\n{out}");
    assert!(out.contains("hostname mismatch"), "{out}");
    assert!(!out.contains("HTTP/1.0 200 ok"), "{out}");

    // A client certificate from another CA (front-proxy-ca) is refused by the server.
    let (status, out) = run_client(
        &pki,
        &work,
        port,
        &["-verify_hostname", "kubernetes"],
        "front-proxy-client",
    );
    assert!(
        !status.success(),
        "the server must reject a front-proxy-client certificate:\n{out}"
    );
    assert!(!out.contains("HTTP/1.0 200 ok"), "{out}");
    assert!(
        out.to_ascii_lowercase().contains("unknown ca"),
        "the server's alert says the client's CA is unknown:\n{out}\nserver:\n{}",
        server.log()
    );
    drop(server);
}

#[test]
fn tls_handshake_rsa_2048() {
    tls_handshake(Key::Rsa(2048));
}

#[test]
fn tls_handshake_ecdsa_p256() {
    tls_handshake(Key::P256);
}
