//! `kubepki completion SHELL` and `kubepki man`: shell completions and the man page, generated
//! from the same clap definitions as `--help`, so they never drift from the flags.

use std::io::Write;

use clap::{Args, CommandFactory, ValueEnum};
use time::OffsetDateTime;

use super::Cli;
use crate::exit::ExitStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (`kubepki man init` is kubepki-init(1)) [default: the
    /// page of kubepki itself, which lists the subcommands].
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
}

/// Prints the completion script for `a.shell` (install: see the README).
pub(super) fn completion(a: &CompletionArgs, _now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    use clap_complete::Shell as S;
    let shell = match a.shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Powershell => S::PowerShell,
        Shell::Elvish => S::Elvish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "kubepki", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(ExitStatus::Success)
}

/// Prints a man page (roff): kubepki(1), or kubepki-SUBCOMMAND(1).
pub(super) fn man(a: &ManArgs, _now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    // No `help` subcommand in the pages: it has no page of its own to point to.
    let cmd = Cli::command().disable_help_subcommand(true);
    let page = match &a.subcommand {
        None => cmd,
        Some(name) => {
            let sub = cmd.find_subcommand(name).cloned().ok_or_else(|| {
                crate::pki::Error::usage(
                    "SUBCOMMAND",
                    format!("no subcommand {name:?}; `kubepki --help` lists them"),
                )
            })?;
            let full = format!("kubepki-{name}");
            sub.name(full.clone()).bin_name(full)
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    std::io::stdout().lock().write_all(&out)?;
    Ok(ExitStatus::Success)
}
