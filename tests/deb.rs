//! The Debian package: `.ci/build-deb` (cargo-deb with Cargo.toml's `[package.metadata.deb]`)
//! builds a `.deb` that dpkg reads back with the expected control fields and exactly the expected
//! files and modes; extracted with `dpkg -x`, its binary runs, its man pages render with `man -l`
//! and are what that binary prints, its bash completion completes in a real bash, and the example
//! systemd units verify against the paths the package installs.
//!
//! It packages the binary `cargo test` already built (copied into a target directory of its own,
//! where cargo-deb looks for `target/release/kubepki`) rather than building the release profile:
//! a fat-LTO build costs minutes on two cores, and what this test checks is the packaging, which
//! is the same for both builds. `--strip` drops the debug build's symbols and `--fast` compresses
//! lightly, so the package is built in seconds.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn run(what: &str, cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: Output) -> String {
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Whether the tools are installed; like `common::control_plane::k8s_binaries`, a missing tool
/// fails the test under CI=true and is reported as NOT RUN elsewhere.
fn tools_present() -> bool {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = [
        (
            "cargo-deb (cargo install cargo-deb --locked)",
            works("cargo", &["deb", "--version"]),
        ),
        (
            "dpkg-deb (Debian package dpkg)",
            works("dpkg-deb", &["--version"]),
        ),
        (
            "dpkg-shlibdeps (Debian package dpkg-dev)",
            works("dpkg-shlibdeps", &["--version"]),
        ),
        (
            "readelf (Debian package binutils)",
            works("readelf", &["--version"]),
        ),
        ("man (Debian package man-db)", works("man", &["--version"])),
        (
            "systemd-analyze (Debian package systemd)",
            works("systemd-analyze", &["--version"]),
        ),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(name, _)| name)
    .collect();
    if missing.is_empty() {
        return true;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "missing: {}; .ci/run installs them",
        missing.join(", ")
    );
    eprintln!("the_deb_package: NOT RUN: missing {}", missing.join(", "));
    false
}

/// The subcommands `kubepki --help` lists (each has a man page), read from the help text rather
/// than from the man page the packaging script reads them from.
fn subcommands(kubepki: &Path) -> Vec<String> {
    let help = text(run("kubepki --help", Command::new(kubepki).arg("--help")));
    let names: Vec<String> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect();
    assert!(names.len() > 10, "{help}");
    names
}

/// The owner of every file: root, by number (cargo-deb's tar has no names) or by name.
const ROOT: [&str; 2] = ["0/0", "root/root"];

/// `dpkg-deb -c`: each regular file's path (without the leading `.`) to its mode string and
/// owner; directories are checked separately.
fn contents(deb: &Path) -> (BTreeMap<String, (String, String)>, Vec<String>) {
    let listing = text(run(
        "dpkg-deb -c",
        Command::new("dpkg-deb").arg("-c").arg(deb),
    ));
    let mut files = BTreeMap::new();
    let mut dirs = Vec::new();
    for line in listing.lines() {
        // -rwxr-xr-x root/root   1234 2026-11-26 00:20 ./usr/bin/kubepki
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 6, "{line}");
        let (mode, owner, path) = (fields[0], fields[1], fields[5]);
        let path = path.strip_prefix('.').unwrap_or(path).to_string();
        match mode.chars().next() {
            Some('d') => {
                assert_eq!(mode, "drwxr-xr-x", "{line}");
                assert!(ROOT.contains(&owner), "{line}");
                dirs.push(path);
            }
            Some('-') => {
                files.insert(path, (mode.to_string(), owner.to_string()));
            }
            _ => panic!("neither a file nor a directory: {line}"),
        }
    }
    (files, dirs)
}

/// `dpkg-deb -f DEB FIELD`.
fn field(deb: &Path, name: &str) -> String {
    let out = run(
        "dpkg-deb -f",
        Command::new("dpkg-deb").arg("-f").arg(deb).arg(name),
    );
    text(out).trim_end().to_string()
}

fn gunzip(path: &Path) -> Vec<u8> {
    run("gzip -dc", Command::new("gzip").arg("-dc").arg(path)).stdout
}

#[test]
fn the_deb_package() {
    if !tools_present() {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    std::fs::create_dir_all(target.join("release")).unwrap();
    std::fs::copy(
        env!("CARGO_BIN_EXE_kubepki"),
        target.join("release/kubepki"),
    )
    .unwrap();
    let deb = tmp.path().join("kubepki.deb");
    run(
        ".ci/build-deb",
        Command::new("bash")
            .arg(repo.join(".ci/build-deb"))
            .args(["--no-build", "--strip", "--fast", "--output"])
            .arg(&deb)
            .env("CARGO_TARGET_DIR", &target),
    );

    // The control file, as dpkg reads it.
    let info = text(run(
        "dpkg-deb -I",
        Command::new("dpkg-deb").arg("-I").arg(&deb),
    ));
    let arch = text(run(
        "dpkg --print-architecture",
        Command::new("dpkg").arg("--print-architecture"),
    ));
    assert_eq!(field(&deb, "Package"), "kubepki", "{info}");
    assert_eq!(
        field(&deb, "Version"),
        format!("{}-1", env!("CARGO_PKG_VERSION")),
        "{info}"
    );
    assert_eq!(field(&deb, "Architecture"), arch.trim(), "{info}");
    assert_eq!(field(&deb, "Section"), "admin", "{info}");
    assert_eq!(field(&deb, "Priority"), "optional", "{info}");
    assert!(field(&deb, "Maintainer").contains('<'), "{info}");
    // "$auto": dpkg-shlibdeps found the C library the binary links against.
    let depends = field(&deb, "Depends");
    assert!(
        depends.split(", ").any(|d| d.starts_with("libc6 (>= ")),
        "{info}"
    );
    // cargo-deb folds the crate's description at 79 columns and appends the extended one.
    let description = field(&deb, "Description").replace("\n ", " ");
    assert!(
        description.starts_with(env!("CARGO_PKG_DESCRIPTION"))
            && description.contains(" kubepki writes an /etc/kubernetes/pki tree"),
        "{info}"
    );

    // Exactly these files, with these modes, all owned by root.
    let (files, dirs) = contents(&deb);
    let extracted = tmp.path().join("root");
    run(
        "dpkg -x",
        Command::new("dpkg").arg("-x").arg(&deb).arg(&extracted),
    );
    let kubepki = extracted.join("usr/bin/kubepki");
    let subcommands = subcommands(&kubepki);
    let mut expected: BTreeMap<String, &str> = BTreeMap::new();
    expected.insert("/usr/bin/kubepki".into(), "-rwxr-xr-x");
    expected.insert(
        "/usr/lib/kubepki/kubepki-restart-control-plane.sh".into(),
        "-rwxr-xr-x",
    );
    expected.insert("/usr/share/man/man1/kubepki.1.gz".into(), "-rw-r--r--");
    for sub in &subcommands {
        expected.insert(
            format!("/usr/share/man/man1/kubepki-{sub}.1.gz"),
            "-rw-r--r--",
        );
    }
    for path in [
        "/usr/share/bash-completion/completions/kubepki",
        "/usr/share/zsh/vendor-completions/_kubepki",
        "/usr/share/fish/vendor_completions.d/kubepki.fish",
        "/usr/share/doc/kubepki/README.md",
        "/usr/share/doc/kubepki/copyright",
        "/usr/share/doc/kubepki/changelog.Debian.gz",
        "/usr/share/doc/kubepki/examples/systemd/kubepki-renew.service",
        "/usr/share/doc/kubepki/examples/systemd/kubepki-renew.timer",
        "/usr/share/doc/kubepki/examples/systemd/kubepki-restart-control-plane.sh",
    ] {
        expected.insert(path.into(), "-rw-r--r--");
    }
    let got: BTreeMap<String, &str> = files
        .iter()
        .map(|(path, (mode, owner))| {
            assert!(ROOT.contains(&owner.as_str()), "{path}: {owner}");
            (path.clone(), mode.as_str())
        })
        .collect();
    assert_eq!(got, expected);
    for file in files.keys() {
        let parent = Path::new(file).parent().unwrap().to_str().unwrap();
        assert!(
            dirs.iter().any(|d| d.trim_end_matches('/') == parent),
            "no directory entry for {file}"
        );
    }

    // The binary runs; it was stripped.
    let version = text(run(
        "kubepki --version",
        Command::new(&kubepki).arg("--version"),
    ));
    assert!(
        version.starts_with(&format!("kubepki {} (", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let sections = text(run(
        "readelf -S",
        Command::new("readelf").arg("-S").arg(&kubepki),
    ));
    assert!(
        !sections.contains(".symtab") && !sections.contains(".debug_info"),
        "{sections}"
    );

    // Every man page is the page the packaged binary prints, and renders with man -l.
    let man1 = extracted.join("usr/share/man/man1");
    for page in std::iter::once(None).chain(subcommands.iter().map(Some)) {
        let (file, title) = match page {
            None => ("kubepki.1.gz".to_string(), "kubepki".to_string()),
            Some(sub) => (format!("kubepki-{sub}.1.gz"), format!("kubepki-{sub}")),
        };
        let printed = run("kubepki man", Command::new(&kubepki).arg("man").args(page)).stdout;
        assert!(gunzip(&man1.join(&file)) == printed, "{file} is stale");
        if page.is_none_or(|sub| sub == "renew") {
            let rendered = text(run(
                "man -l",
                Command::new("man")
                    .arg("-l")
                    .arg(man1.join(&file))
                    .env("MANPAGER", "cat")
                    .env("PAGER", "cat")
                    .env("MANWIDTH", "100"),
            ));
            assert!(
                rendered.contains("NAME") && rendered.contains(&title),
                "{rendered}"
            );
        }
    }

    // The completions are the binary's; bash loads the packaged one and completes with it.
    for (shell, path) in [
        ("bash", "usr/share/bash-completion/completions/kubepki"),
        ("zsh", "usr/share/zsh/vendor-completions/_kubepki"),
        ("fish", "usr/share/fish/vendor_completions.d/kubepki.fish"),
    ] {
        let printed = run(
            "kubepki completion",
            Command::new(&kubepki).args(["completion", shell]),
        )
        .stdout;
        assert!(
            std::fs::read(extracted.join(path)).unwrap() == printed,
            "{path}"
        );
    }
    let completion = extracted.join("usr/share/bash-completion/completions/kubepki");
    let program = format!(
        "source '{}'; COMP_WORDS=(kubepki ini); COMP_CWORD=1; COMP_LINE='kubepki ini'; \
         COMP_POINT=${{#COMP_LINE}}; _kubepki kubepki ini kubepki; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        completion.display()
    );
    let words = text(run(
        "bash completion",
        Command::new("bash").arg("-c").arg(program),
    ));
    assert!(
        words.lines().any(|w| w == "init") && words.lines().any(|w| w == "init-ca"),
        "{words}"
    );

    // The documentation: the README; Debian's copyright file, naming the license whose text
    // Debian keeps in common-licenses (which is the text of LICENSE); the changelog, which dpkg's
    // own parser reads as this version by this maintainer; the systemd examples as they are in
    // the repository.
    let doc = extracted.join("usr/share/doc/kubepki");
    assert!(
        std::fs::read(doc.join("README.md")).unwrap()
            == std::fs::read(repo.join("README.md")).unwrap()
    );
    let copyright = std::fs::read_to_string(doc.join("copyright")).unwrap();
    assert!(
        copyright.starts_with(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        ) && copyright.contains("\nFiles: *\n")
            && copyright.contains("\nLicense: Apache-2.0\n")
            && copyright.contains("\"/usr/share/common-licenses/Apache-2.0\""),
        "{copyright}"
    );
    let common = Path::new("/usr/share/common-licenses/Apache-2.0");
    if common.exists() {
        assert!(std::fs::read(common).unwrap() == std::fs::read(repo.join("LICENSE")).unwrap());
    }
    let changelog = tmp.path().join("changelog");
    std::fs::write(&changelog, gunzip(&doc.join("changelog.Debian.gz"))).unwrap();
    let parsed = |name: &str| {
        let out = run(
            "dpkg-parsechangelog",
            Command::new("dpkg-parsechangelog")
                .arg("-l")
                .arg(&changelog)
                .args(["-S", name]),
        );
        text(out).trim_end().to_string()
    };
    assert_eq!(parsed("Source"), "kubepki");
    assert_eq!(parsed("Version"), field(&deb, "Version"));
    assert_eq!(parsed("Maintainer"), field(&deb, "Maintainer"));
    let examples = extracted.join("usr/share/doc/kubepki/examples/systemd");
    for file in [
        "kubepki-renew.service",
        "kubepki-renew.timer",
        "kubepki-restart-control-plane.sh",
    ] {
        assert!(
            std::fs::read(examples.join(file)).unwrap()
                == std::fs::read(repo.join("examples/systemd").join(file)).unwrap(),
            "{file}"
        );
    }

    // The example units, copied to /etc/systemd/system as the README says, run what the package
    // installed: with the paths they name rooted at the extracted package, they verify.
    let units = tmp.path().join("units");
    std::fs::create_dir(&units).unwrap();
    for unit in ["kubepki-renew.service", "kubepki-renew.timer"] {
        let text = std::fs::read_to_string(examples.join(unit)).unwrap();
        let rooted = text
            .replace("/usr/bin/kubepki", kubepki.to_str().unwrap())
            .replace(
                "/usr/lib/kubepki/",
                &format!("{}/", extracted.join("usr/lib/kubepki").display()),
            );
        std::fs::write(units.join(unit), rooted).unwrap();
    }
    let verify = run(
        "systemd-analyze verify",
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(units.join("kubepki-renew.timer"))
            .arg(units.join("kubepki-renew.service")),
    );
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(stderr.trim().is_empty(), "{stderr}");
}
