//! `kubepki init-ca`: the three CAs and the service-account key pair.

use clap::Args;
use time::OffsetDateTime;

use super::args::{CaValidityArgs, CommonArgs};
use super::pipeline::{self, Epilogue};
use super::settings::{Resolved, external_etcd_note};
use crate::exit::ExitStatus;
use crate::pki::plan::Request;

#[derive(Debug, Args)]
pub struct InitCaArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub ca: CaValidityArgs,
    #[command(flatten)]
    pub explain: super::args::ExplainArgs,
}

pub(super) fn run(a: &InitCaArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let resolved = Resolved::new(&a.common, None, a.ca.ca_validity)?;
    external_etcd_note(&resolved);
    let wants = resolved.selection().init_ca();
    let request = Request {
        layout: resolved.layout(None),
        cluster: None,
        wants,
        options: resolved.options(a.common.force, now)?,
    };
    if a.explain.explain {
        return pipeline::explain(&request, "init-ca");
    }
    pipeline::write(request, a.common.dry_run, a.common.output, Epilogue::None)
}
