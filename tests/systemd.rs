//! The systemd units in examples/systemd/ pass `systemd-analyze verify`, with their commands
//! pointed at this build of kubepki and the example restart hook.

use std::process::Command;

#[test]
fn the_example_units_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "systemd-analyze is missing (Debian package systemd; .ci/run installs it)"
        );
        eprintln!("the_example_units_verify: NOT RUN: systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/systemd");
    let hook = examples.join("kubepki-restart-control-plane.sh");
    for unit in ["kubepki-renew.service", "kubepki-renew.timer"] {
        let text = std::fs::read_to_string(examples.join(unit))
            .unwrap()
            .replace("/usr/bin/kubepki", env!("CARGO_BIN_EXE_kubepki"))
            .replace(
                "/usr/lib/kubepki/kubepki-restart-control-plane.sh",
                hook.to_str().unwrap(),
            );
        std::fs::write(dir.path().join(unit), text).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("kubepki-renew.timer"))
        .arg(dir.path().join("kubepki-renew.service"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}
