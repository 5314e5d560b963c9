//! The progress bar: drawn on stderr when it is a terminal (a pty from `script`) and the output is
//! text; never when stderr is not a terminal, and never in JSON runs.

mod common;

use std::process::Command;

use common::kubepki;

fn issue_under_a_terminal(dir: &std::path::Path, extra: &str) -> String {
    let cmd = format!(
        "{} issue kubelet --cert-dir {} --node-list {} --key-algorithm ECDSA-P256 {extra} > /dev/null",
        env!("CARGO_BIN_EXE_kubepki"),
        dir.join("pki").display(),
        dir.join("nodes").display()
    );
    let typescript = dir.join("typescript");
    let out = Command::new("script")
        .args(["-qec", &cmd])
        .arg(&typescript)
        .output()
        .expect("script (util-linux) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned()
}

#[test]
fn a_bar_only_on_a_terminal_and_only_for_text() {
    let dir = tempfile::tempdir().unwrap();
    let nodes: String = (1..=200).map(|i| format!("n{i}\n")).collect();
    std::fs::write(dir.path().join("nodes"), nodes).unwrap();
    common::init_ca(&dir.path().join("pki"), "ECDSA-P256");
    let shown = issue_under_a_terminal(dir.path(), "");
    assert!(shown.contains("/800 keys and files"), "{shown}");
    std::fs::remove_dir_all(dir.path().join("pki/kubelet")).unwrap();
    let json = issue_under_a_terminal(dir.path(), "-o json");
    assert!(!json.contains("keys and files"), "{json}");
    // Not a terminal: nothing on stderr but the report.
    std::fs::remove_dir_all(dir.path().join("pki/kubelet")).unwrap();
    let out = kubepki()
        .args([
            "issue",
            "kubelet",
            "--key-algorithm",
            "ECDSA-P256",
            "--cert-dir",
        ])
        .arg(dir.path().join("pki"))
        .arg("--node-list")
        .arg(dir.path().join("nodes"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("keys and files"));
}
