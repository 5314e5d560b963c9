//! `kubepki inspect FILE|-...`: what certificates, keys, requests and kubeconfigs hold.

use std::path::PathBuf;

use clap::Args;
use time::OffsetDateTime;

use crate::exit::ExitStatus;
use crate::output::{self, OutputFormat};
use crate::pki::inspect::{self, Inspected};
use crate::pki::{Error, store};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Certificates (or bundles), private keys, certificate requests, public keys or kubeconfigs,
    /// PEM or DER; `-` reads stdin. A key given with certificates is matched to them.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Output format: text for people, json or yaml for scripts.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

pub(super) fn run(a: &InspectArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let mut all: Vec<Inspected> = Vec::with_capacity(a.files.len());
    let mut errors = Vec::new();
    for path in &a.files {
        match read_one(path, now) {
            Ok(found) => all.push(found),
            Err(e) => errors.push(e),
        }
    }
    inspect::match_keys(&mut all);
    output::inspect::print(&all, a.output)?;
    // What could be read is shown; then every file that could not, each named.
    Error::from_all(errors)?;
    Ok(ExitStatus::Success)
}

fn read_one(path: &std::path::Path, now: OffsetDateTime) -> Result<Inspected, Error> {
    let (name, data) = if path.as_os_str() == "-" {
        let data = store::read_stdin()?;
        ("-".to_string(), data)
    } else {
        let data =
            store::read_file(path)?.ok_or_else(|| Error::bad_file(path, "does not exist"))?;
        (path.display().to_string(), data.bytes)
    };
    inspect::inspect(&data, &name, now)
        .map_err(|e| Error::bad_file(if name == "-" { "<stdin>" } else { &name }, e))
}
