//! `check-expiration -o prometheus` parses with the real Prometheus exposition-format parser
//! (the Python `prometheus_client`), with one expiry sample per certificate row and one problem
//! sample per missing or invalid row; `--textfile` writes it atomically, 0644.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{init_tree, kubepki};

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    out[family.name] = [dict(s.labels, value=s.value) for s in family.samples]
print(json.dumps(out))
"#;

fn parse(text: &str) -> serde_json::Value {
    use std::io::Write;
    let mut child = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (with prometheus_client: .ci/run installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the output: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_report_parses_with_prometheus_client_one_sample_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    init_tree(&pki, "ECDSA-P256");
    std::fs::remove_file(pki.join("front-proxy-client.crt")).unwrap();
    let json = kubepki()
        .args(["check-expiration", "-o", "json", "--cert-dir"])
        .arg(&pki)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let rows: Vec<&serde_json::Value> = report["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .chain(report["certificateAuthorities"].as_array().unwrap())
        .collect();
    let out = kubepki()
        .args(["check-expiration", "-o", "prometheus", "--cert-dir"])
        .arg(&pki)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(6),
        "a missing certificate still exits 6"
    );
    let metrics = parse(&String::from_utf8_lossy(&out.stdout));
    let expiry = metrics["kubepki_certificate_expiry_seconds"]
        .as_array()
        .unwrap();
    let with_dates = rows.iter().filter(|r| !r["notAfter"].is_null()).count();
    assert_eq!(expiry.len(), with_dates);
    let apiserver = expiry.iter().find(|s| s["name"] == "apiserver").unwrap();
    let left = rows.iter().find(|r| r["name"] == "apiserver").unwrap()["residualSeconds"]
        .as_f64()
        .unwrap();
    assert!((apiserver["value"].as_f64().unwrap() - left).abs() <= 2.0);
    assert_eq!(apiserver["ca"], "ca");
    let problems = metrics["kubepki_certificate_problem"].as_array().unwrap();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0]["name"], "front-proxy-client");
    assert_eq!(problems[0]["status"], "missing");
    // --textfile: the same, written atomically, 0644.
    let prom = dir.path().join("textfile/kubepki.prom");
    std::fs::create_dir_all(prom.parent().unwrap()).unwrap();
    let out = kubepki()
        .args(["check-expiration", "-o", "prometheus", "--textfile"])
        .arg(&prom)
        .arg("--cert-dir")
        .arg(&pki)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(
        parse(&text)["kubepki_certificate_expiry_seconds"]
            .as_array()
            .unwrap()
            .len(),
        with_dates
    );
    assert_eq!(
        std::fs::metadata(&prom).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let leftovers: Vec<_> = std::fs::read_dir(prom.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary files are left");
}
