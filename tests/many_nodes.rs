//! Many nodes in one run: staged files are closed as they are written (a low open-file limit
//! does not matter), and a run that fails removes the directories it made.

use std::path::Path;
use std::process::{Command, Output};

fn kubepki_sh(script: &str) -> Output {
    // Through sh so the test can lower the open-file limit for kubepki alone.
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("KUBEPKI", env!("CARGO_BIN_EXE_kubepki"))
        .output()
        .unwrap()
}

fn node_list(dir: &Path, nodes: usize) -> String {
    let path = dir.join("nodes.txt");
    let text: String = (1..=nodes)
        .map(|i| format!("node-{i} 10.1.{}.{}\n", i / 256, i % 256))
        .collect();
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn init_ca(pki: &Path) {
    let out = kubepki_sh(&format!(
        "\"$KUBEPKI\" init-ca --cert-dir {} --key-algorithm ECDSA-P256",
        pki.display()
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn three_hundred_nodes_fit_in_a_limit_of_64_open_files() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    init_ca(&pki);
    let nodes = node_list(dir.path(), 300);
    let out = kubepki_sh(&format!(
        "ulimit -n 64 && \"$KUBEPKI\" issue kubelet --cert-dir {} --node-list {nodes} --key-algorithm ECDSA-P256",
        pki.display()
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let certs = walk(&pki.join("kubelet"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "crt"))
        .count();
    assert_eq!(certs, 600);
    // An independent check of one of them.
    let verify = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(pki.join("ca.crt"))
        .arg(pki.join("kubelet/node-300/kubelet.crt"))
        .output()
        .expect("openssl (apt-get install -y openssl)");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn a_failed_run_removes_the_directories_it_made() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    init_ca(&pki);
    let nodes = node_list(dir.path(), 100);
    // node-50's directory cannot be made: a file is in the way.
    std::fs::create_dir_all(pki.join("kubelet")).unwrap();
    std::fs::write(pki.join("kubelet/node-50"), "in the way").unwrap();
    let before = walk(dir.path());
    let out = kubepki_sh(&format!(
        "\"$KUBEPKI\" issue kubelet --cert-dir {} --node-list {nodes} --key-algorithm ECDSA-P256",
        pki.display()
    ));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("node-50"));
    assert_eq!(
        walk(dir.path()),
        before,
        "the failed run left something behind"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out.sort();
    out
}
