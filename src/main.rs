use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

/// What `kubepki --version` prints: clap's rendering of `Cli`'s `version` (a test checks that the
/// two agree).
const VERSION_LINE: &str = concat!(
    "kubepki ",
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("KUBEPKI_GIT_COMMIT"),
    ")\n"
);

fn main() -> ExitCode {
    // `kubepki --version` is answered before clap builds the command tree (20 subcommands, some
    // 300 arguments, each allocated and then dropped): that was half of the instructions and
    // most of the page faults of the whole process (README, "Performance").
    if version_only(std::env::args_os()) {
        // As clap does: a closed stdout is not an error worth a message.
        let _ = std::io::stdout().lock().write_all(VERSION_LINE.as_bytes());
        return ExitCode::SUCCESS;
    }
    kubepki::cli::main()
}

/// Whether the command line is exactly `kubepki --version` or `kubepki -V`.
fn version_only(args: impl IntoIterator<Item = OsString>) -> bool {
    let mut args = args.into_iter().skip(1);
    match (args.next(), args.next()) {
        (Some(flag), None) => flag == "--version" || flag == "-V",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_early_version_is_claps() {
        assert_eq!(
            kubepki::cli::Cli::command().render_version().to_string(),
            VERSION_LINE
        );
    }

    #[test]
    fn only_a_lone_version_flag_is_answered_early() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(version_only(args(&["kubepki", "--version"])));
        assert!(version_only(args(&["/usr/bin/kubepki", "-V"])));
        for other in [
            &["kubepki"][..],
            &["kubepki", "--help"],
            &["kubepki", "init", "--version"],
            &["kubepki", "--version", "init"],
            &["kubepki", "--versio"],
        ] {
            assert!(!version_only(args(other)), "{other:?}");
        }
    }
}
