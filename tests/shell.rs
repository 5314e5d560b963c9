//! Shell completions load in a real bash and complete, the man pages render with `man -l`, and
//! `--version` names the commit.

mod common;

use std::process::Command;

use common::kubepki;

fn stdout(args: &[&str]) -> String {
    let out = kubepki().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bash_completion_loads_and_completes_subcommands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("kubepki.bash");
    std::fs::write(&script, stdout(&["completion", "bash"])).unwrap();
    let complete = |words: &str, cword: usize| -> String {
        let program = format!(
            "source '{}'; COMP_WORDS=({words}); COMP_CWORD={cword}; \
             COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; _kubepki kubepki \
             \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(program)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let subcommands = complete("kubepki ini", 1);
    assert!(
        subcommands.lines().any(|l| l == "init") && subcommands.lines().any(|l| l == "init-ca"),
        "{subcommands}"
    );
    let flags = complete("kubepki check-expiration --fail", 2);
    assert!(flags.lines().any(|l| l == "--fail-within"), "{flags}");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        assert!(
            stdout(&["completion", shell]).contains("kubepki"),
            "{shell}"
        );
    }
}

#[test]
fn man_pages_render() {
    let dir = tempfile::tempdir().unwrap();
    for (page, title) in [(None, "kubepki"), (Some("renew"), "kubepki-renew")] {
        let roff = match page {
            None => stdout(&["man"]),
            Some(sub) => stdout(&["man", sub]),
        };
        let file = dir.path().join(format!("{title}.1"));
        std::fs::write(&file, roff).unwrap();
        let out = Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man runs (Debian package man-db)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("NAME") && text.contains(title), "{text}");
    }
    let out = kubepki().args(["man", "nonsense"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn version_names_the_commit() {
    let v = stdout(&["--version"]);
    assert!(v.starts_with("kubepki 0.1.0 ("), "{v}");
}
