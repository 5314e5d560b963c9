//! `kubepki inspect -o json` against independent readers: every field of every certificate of a
//! kubepki tree and of an openssl-made certificate equals what `openssl x509` reports; requests
//! equal `openssl req -text`; kubeconfigs equal `kubectl config view`; the `sha256:` pin equals
//! the one the kubeadm docs compute with openssl; no key or token ever appears in the output.

mod common;

use std::path::Path;
use std::process::Command;

use common::{init_tree, kubepki, openssl_ok};
use serde_json::Value;

fn inspect_json(files: &[&Path]) -> Value {
    let out = kubepki()
        .arg("inspect")
        .args(files)
        .args(["-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value after `label` in `openssl x509 -text` (the next non-empty line for extensions).
fn text_field(text: &str, label: &str) -> Option<String> {
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if let Some(rest) = l.trim().strip_prefix(label) {
            let rest = rest.trim_start_matches(':').trim();
            if rest.is_empty() || rest == "critical" {
                return lines.next().map(|n| n.trim().to_string());
            }
            return Some(rest.to_string());
        }
    }
    None
}

/// Checks one certificate's JSON against openssl's view of the same file.
fn same_as_openssl(cert: &Value, file: &Path) {
    let f = file.to_str().unwrap();
    let serial = openssl_ok(["x509", "-in", f, "-noout", "-serial"]);
    assert_eq!(
        serial.trim().trim_start_matches("serial="),
        cert["serial"].as_str().unwrap(),
        "{f}: serial"
    );
    let fp = openssl_ok(["x509", "-in", f, "-noout", "-fingerprint", "-sha256"]);
    assert_eq!(
        fp.trim().split_once('=').unwrap().1,
        cert["sha256Fingerprint"],
        "{f}: fingerprint"
    );
    let text = openssl_ok(["x509", "-in", f, "-noout", "-text"]);
    let sig = text_field(&text, "Signature Algorithm").unwrap();
    assert_eq!(sig, cert["signatureAlgorithm"], "{f}: signature");
    let bits = text_field(&text, "Public-Key").unwrap();
    let want_bits = cert["publicKey"]
        .as_str()
        .unwrap()
        .trim_start_matches("RSA-")
        .replace("ECDSA-P", "");
    assert!(
        bits.contains(&want_bits),
        "{f}: key {bits} vs {}",
        cert["publicKey"]
    );
    let ku = text_field(&text, "X509v3 Key Usage").unwrap_or_default();
    let ours: Vec<&str> = cert["keyUsage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ku, ours.join(", "), "{f}: key usage");
    let eku = text_field(&text, "X509v3 Extended Key Usage").unwrap_or_default();
    let ours: Vec<&str> = cert["extendedKeyUsage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(eku, ours.join(", "), "{f}: extended key usage");
    if let Some(ski) = text_field(&text, "X509v3 Subject Key Identifier") {
        assert_eq!(ski, cert["subjectKeyId"], "{f}: SKI");
    }
    if let Some(aki) = text_field(&text, "X509v3 Authority Key Identifier") {
        assert_eq!(
            aki.trim_start_matches("keyid:"),
            cert["authorityKeyId"],
            "{f}: AKI"
        );
    }
    let bc = text_field(&text, "X509v3 Basic Constraints").unwrap();
    assert_eq!(
        bc.starts_with("CA:TRUE"),
        cert["isCa"].as_bool().unwrap(),
        "{f}"
    );
    let san = text_field(&text, "X509v3 Subject Alternative Name").unwrap_or_default();
    let mut theirs: Vec<String> = san
        .split(", ")
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix("IP Address:") {
            // openssl writes IPv6 in full (0:0:0:0:0:0:0:1): compare addresses, not text.
            Some(ip) => format!("IP:{}", ip.parse::<std::net::IpAddr>().unwrap()),
            None => s.to_string(),
        })
        .collect();
    let mut ours: Vec<String> = cert["dns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("DNS:{}", d.as_str().unwrap()))
        .chain(
            cert["ips"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| format!("IP:{}", i.as_str().unwrap())),
        )
        .collect();
    theirs.sort();
    ours.sort();
    assert_eq!(theirs, ours, "{f}: SANs");
    let end = openssl_ok(["x509", "-in", f, "-noout", "-enddate"]);
    let end = end.trim().trim_start_matches("notAfter=");
    let parsed = time::PrimitiveDateTime::parse(
        end.trim_end_matches(" GMT"),
        time::macros::format_description!(
            "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
        ),
    )
    .unwrap()
    .assume_utc();
    let ours = time::OffsetDateTime::parse(
        cert["notAfter"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(parsed, ours, "{f}: notAfter");
    // notBefore, read the same way.
    let start = openssl_ok(["x509", "-in", f, "-noout", "-startdate"]);
    let start = start.trim().trim_start_matches("notBefore=");
    let parsed = time::PrimitiveDateTime::parse(
        start.trim_end_matches(" GMT"),
        time::macros::format_description!(
            "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
        ),
    )
    .unwrap()
    .assume_utc();
    let ours = time::OffsetDateTime::parse(
        cert["notBefore"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(parsed, ours, "{f}: notBefore");
    // Subject and issuer: RFC 2253 escaping, in certificate order, ", " between attributes
    // (the form inspect prints).
    for (flag, field) in [("-subject", "subject"), ("-issuer", "issuer")] {
        let name = openssl_ok([
            "x509",
            "-in",
            f,
            "-noout",
            flag,
            "-nameopt",
            "esc_2253,utf8,sep_comma_plus_space,sname",
        ]);
        let name = name.trim();
        let name = name
            .strip_prefix(&format!("{field}="))
            .unwrap_or_else(|| panic!("{f}: openssl {flag}: {name}"));
        assert_eq!(name, cert[field].as_str().unwrap(), "{f}: {field}");
    }
    // The pin, as the kubeadm docs compute it.
    let spki = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in '{f}' -pubkey -noout | openssl pkey -pubin -outform der | sha256sum"
        ))
        .output()
        .unwrap();
    let hex = String::from_utf8_lossy(&spki.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(cert["publicKeyPin"], format!("sha256:{hex}"), "{f}: pin");
}

#[test]
fn every_certificate_of_a_tree_reads_as_openssl_reads_it_with_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    init_tree(&pki, "RSA-2048");
    for (file, role) in [
        ("ca.crt", "ca"),
        ("apiserver.crt", "apiserver"),
        ("apiserver-kubelet-client.crt", "apiserver-kubelet-client"),
        ("front-proxy-ca.crt", "front-proxy-ca"),
        ("front-proxy-client.crt", "front-proxy-client"),
        ("etcd/ca.crt", "etcd-ca"),
        ("etcd/server.crt", "etcd-server"),
        ("etcd/peer.crt", "etcd-peer"),
        ("etcd/healthcheck-client.crt", "etcd-healthcheck-client"),
        ("apiserver-etcd-client.crt", "apiserver-etcd-client"),
    ] {
        let path = pki.join(file);
        let report = inspect_json(&[&path]);
        let cert = &report["files"][0]["items"][0];
        assert_eq!(cert["type"], "certificate");
        assert_eq!(cert["role"]["name"], role, "{file}");
        same_as_openssl(cert, &path);
    }
    // Client identities and the flags that read a file.
    let report = inspect_json(&[&pki.join("apiserver-kubelet-client.crt")]);
    let cert = &report["files"][0]["items"][0];
    assert_eq!(
        cert["kubernetesIdentity"]["user"],
        "kube-apiserver-kubelet-client"
    );
    assert_eq!(
        cert["kubernetesIdentity"]["groups"][0],
        "kubeadm:cluster-admins"
    );
    let report = inspect_json(&[&pki.join("apiserver.crt")]);
    let used: Vec<&str> = report["files"][0]["items"][0]["role"]["usedBy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(used, ["kube-apiserver --tls-cert-file"]);
    // A key given with certificates is matched to its own, and only its algorithm is shown.
    let key = pki.join("apiserver.key");
    let report = inspect_json(&[&pki.join("ca.crt"), &pki.join("apiserver.crt"), &key]);
    let k = &report["files"][2]["items"][0];
    assert_eq!(k["type"], "private-key");
    assert_eq!(k["algorithm"], "RSA-2048");
    assert_eq!(k["matches"][0], pki.join("apiserver.crt").to_str().unwrap());
    let text = serde_json::to_string(&report).unwrap();
    assert!(!text.contains("PRIVATE KEY") && !text.contains("MII"));
}

#[test]
fn openssl_made_certificates_requests_and_weak_ones_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    // A legacy certificate: RSA-1024, SHA-1, no SKI, a CA with a path length.
    openssl_ok([
        "req",
        "-x509",
        "-newkey",
        "rsa:1024",
        "-sha1",
        "-nodes",
        "-keyout",
        &p("old.key"),
        "-out",
        &p("old.crt"),
        "-subj",
        "/O=legacy/CN=old-ca",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:TRUE,pathlen:1",
        "-addext",
        "subjectKeyIdentifier=none",
    ]);
    let report = inspect_json(&[&d.join("old.crt")]);
    let cert = &report["files"][0]["items"][0];
    assert_eq!(cert["publicKey"], "RSA-1024");
    assert_eq!(cert["signatureAlgorithm"], "sha1WithRSAEncryption");
    assert_eq!(cert["pathLen"], 1);
    same_as_openssl(cert, &d.join("old.crt"));
    // A request with SANs, from openssl, as openssl req -text shows it.
    openssl_ok([
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p("svc.key"),
        "-out",
        &p("svc.csr"),
        "-subj",
        "/O=dev/CN=my-svc",
        "-addext",
        "subjectAltName=DNS:my-svc.ns.svc,IP:10.0.0.9",
    ]);
    let report = inspect_json(&[&d.join("svc.csr")]);
    let req = &report["files"][0]["items"][0];
    assert_eq!(req["type"], "certificate-request");
    let text = openssl_ok(["req", "-in", &p("svc.csr"), "-noout", "-text"]);
    assert!(text.contains("O = dev, CN = my-svc"), "{text}");
    assert_eq!(req["subject"], "O=dev, CN=my-svc");
    assert_eq!(req["dns"][0], "my-svc.ns.svc");
    assert_eq!(req["ips"][0], "10.0.0.9");
    assert!(text.contains("DNS:my-svc.ns.svc, IP Address:10.0.0.9"));
    assert_eq!(req["publicKey"], "ECDSA-P256");
    // A bundle gives one item per certificate.
    let bundle = d.join("bundle.pem");
    let mut both = std::fs::read(d.join("old.crt")).unwrap();
    both.extend(std::fs::read(d.join("old.crt")).unwrap());
    std::fs::write(&bundle, both).unwrap();
    let report = inspect_json(&[&bundle]);
    assert_eq!(report["files"][0]["items"].as_array().unwrap().len(), 2);
}

#[test]
fn kubeconfigs_read_as_kubectl_shows_them_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    init_tree(&pki, "ECDSA-P256");
    let conf = dir.path().join("super-admin.conf");
    let out = Command::new("kubectl")
        .args(["config", "view", "--raw", "-o", "json", "--kubeconfig"])
        .arg(&conf)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let view: Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = inspect_json(&[&conf]);
    let k = &report["files"][0]["items"][0];
    assert_eq!(k["type"], "kubeconfig");
    assert_eq!(k["currentContext"], view["current-context"]);
    assert_eq!(k["clusters"][0]["name"], view["clusters"][0]["name"]);
    assert_eq!(
        k["clusters"][0]["server"],
        view["clusters"][0]["cluster"]["server"]
    );
    assert_eq!(k["contexts"][0]["name"], view["contexts"][0]["name"]);
    assert_eq!(k["users"][0]["name"], view["users"][0]["name"]);
    let user = &k["users"][0];
    assert_eq!(user["auth"], "client certificate");
    assert_eq!(user["clientKeyMatches"], true);
    assert_eq!(
        user["clientCertificate"]["kubernetesIdentity"]["groups"][0],
        "system:masters"
    );
    assert!(
        user["clientCertificate"]["kubernetesIdentity"]["note"]
            .as_str()
            .unwrap()
            .contains("cannot be revoked")
    );
    assert_eq!(
        k["clusters"][0]["certificateAuthority"][0]["role"]["name"],
        "ca"
    );
    // No secret leaves: neither the key nor the base64 of anything secret.
    let key_b64 = view["users"][0]["user"]["client-key-data"]
        .as_str()
        .unwrap();
    let all = serde_json::to_string(&report).unwrap();
    assert!(!all.contains(&key_b64[..40]));
    let text = kubepki().arg("inspect").arg(&conf).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        !text.contains(&key_b64[..40]) && text.contains("(not shown)"),
        "{text}"
    );
    // The key itself: decoded, its PEM marker and a line of real key material (the second
    // body line; the first may be a constant ASN.1 prefix) appear in neither output, raw or as
    // the base64 kubeconfig carries.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key_pem = String::from_utf8(b64.decode(key_b64).unwrap()).unwrap();
    assert!(key_pem.contains("PRIVATE KEY"), "{key_pem}");
    let body: Vec<&str> = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .collect();
    assert!(body.len() >= 2, "{key_pem}");
    let secret_line = body[1];
    assert!(secret_line.len() >= 16, "{key_pem}");
    for (what, out) in [("json", all.as_str()), ("text", text.as_ref())] {
        assert!(!out.contains("PRIVATE KEY"), "{what}: {out}");
        assert!(!out.contains(secret_line), "{what}: {out}");
        assert!(!out.contains(&key_b64[40..80]), "{what}: {out}");
    }
    // And the key kubectl shows is the one for the client certificate, by openssl.
    let cert_b64 = view["users"][0]["user"]["client-certificate-data"]
        .as_str()
        .unwrap();
    let key_file = dir.path().join("client.key");
    let cert_file = dir.path().join("client.crt");
    std::fs::write(&key_file, &key_pem).unwrap();
    std::fs::write(&cert_file, b64.decode(cert_b64).unwrap()).unwrap();
    let from_key = openssl_ok(["pkey", "-in", key_file.to_str().unwrap(), "-pubout"]);
    let from_cert = openssl_ok([
        "x509",
        "-in",
        cert_file.to_str().unwrap(),
        "-pubkey",
        "-noout",
    ]);
    assert!(from_key.contains("PUBLIC KEY"), "{from_key}");
    assert_eq!(from_key, from_cert, "client key and certificate differ");
}

#[test]
fn unreadable_input_is_named_and_the_rest_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    init_tree(&pki, "ECDSA-P256");
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "SECRETMARKER not a certificate: [").unwrap();
    let out = kubepki()
        .arg("inspect")
        .arg(pki.join("ca.crt"))
        .arg(&junk)
        .arg(dir.path().join("missing.crt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("CN=kubernetes"), "{stdout}");
    assert!(
        stderr.contains("junk.txt") && stderr.contains("missing.crt"),
        "{stderr}"
    );
    assert!(!stderr.contains("SECRETMARKER") && !stdout.contains("SECRETMARKER"));
}
