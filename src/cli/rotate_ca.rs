//! `kubepki rotate-ca status|start|reissue|finish|abort --ca NAME`: staged CA rotation (issue
//! 16). The phase is read from the files ([`crate::pki::rotation`]); each phase is a plan
//! ([`crate::pki::plan::RotateWant`]) that goes through the write pipeline, and prints the
//! component changes and restarts it needs, in order.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use time::OffsetDateTime;

use super::pipeline::{self, Epilogue};
use super::rotate_steps::Context;
use super::settings::{Resolved, load_config};
use crate::exit::ExitStatus;
use crate::output::OutputFormat;
use crate::pki::catalog;
use crate::pki::inventory::{Inventory, tree_wanted};
use crate::pki::plan::{Request, RotateWant, Step, Want};
use crate::pki::rotation::service_account::{self, SaFiles, SaRotation};
use crate::pki::rotation::{self, CaRotation, Phase, Rotated, RotationFiles};
use crate::pki::{Error, store::Layout};

#[derive(Debug, Subcommand)]
pub enum RotateCaCommand {
    /// Show each CA's phase, and for every file which CA signed it and which CAs it trusts.
    Status(RotateArgs),
    /// A new CA beside the old; every trust file trusts both; leaves untouched.
    Start(StartArgs),
    /// The new CA signs: every leaf and kubeconfig client certificate re-signed by it.
    Reissue(RotateArgs),
    /// The new CA alone: trust files hold only it; refused before reissue.
    Finish(RotateArgs),
    /// Back to the old CA alone, every file as before start (from the backups); with
    /// `--to trusting-both`, one phase back only.
    Abort(AbortArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaArg {
    /// The cluster CA (ca.crt, ca.key).
    Ca,
    /// The front-proxy CA (front-proxy-ca.crt, front-proxy-ca.key).
    FrontProxyCa,
    /// The etcd CA (etcd/ca.crt, etcd/ca.key).
    EtcdCa,
    /// The service-account key pair (sa.key signs tokens, sa.pub verifies them).
    Sa,
    /// The three CAs and the service-account key pair.
    All,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub common: RotateArgs,
    /// Also cross-sign the new CA with the old one (<ca>.cross.crt): `reissue` writes it after
    /// every certificate it signs, so peers that still trust only the old CA keep verifying
    /// them until `finish` (which takes it out again). Not when the old CA key leaked: it keeps
    /// the old CA trusted until finish.
    #[arg(long)]
    pub cross_sign: bool,
}

#[derive(Debug, Args)]
pub struct AbortArgs {
    #[command(flatten)]
    pub common: RotateArgs,
    /// How far back: `none` (the old CA alone, every file as before `start`), or
    /// `trusting-both` (undo `reissue` only: the old CA signs again and every re-signed file is
    /// restored, while trust stays old+new). From a phase after `reissue`, `trusting-both`
    /// first, restarts, then `none` rolls back without a moment where one etcd member or node
    /// refuses another's certificate.
    #[arg(long, value_enum, default_value = "none")]
    pub to: AbortTo,
}

/// Where `abort` goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AbortTo {
    /// No rotation: the old CA alone.
    None,
    /// The phase after `start`.
    TrustingBoth,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// What to rotate (status: what to show): one, several (comma-separated or repeated) or all.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    pub ca: Vec<CaArg>,
    /// A kubeadm configuration file (certificatesDir).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The certificate directory [default: /etc/kubernetes/pki].
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Directory of the kubeconfig files (default: the parent of --cert-dir).
    #[arg(long, value_name = "DIR")]
    pub kubeconfig_dir: Option<PathBuf>,
    /// Print what the phase would do and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format: text for people, json or yaml for scripts.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

pub(super) fn run(c: &RotateCaCommand, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let (a, step, cross_sign) = match c {
        RotateCaCommand::Status(a) => return status(a, now),
        RotateCaCommand::Start(a) => (&a.common, Step::Start, a.cross_sign),
        RotateCaCommand::Reissue(a) => (a, Step::Reissue, false),
        RotateCaCommand::Finish(a) => (a, Step::Finish, false),
        RotateCaCommand::Abort(a) => match a.to {
            AbortTo::None => (&a.common, Step::Abort, false),
            AbortTo::TrustingBoth => (&a.common, Step::AbortReissue, false),
        },
    };
    let (resolved, layout) = settings(a)?;
    let rotated = rotated(&a.ca, &layout)?;
    let ctx = step_context(&layout, &rotated);
    if step == Step::Abort && ctx.leaves_restored {
        eprintln!(
            "[warning] aborting a rotation past `reissue` in one step changes trust and \
             certificates at once: until every component is restarted, a restored etcd member or \
             node trusts the old CA alone and refuses peers still on the new one. `rotate-ca \
             abort --to trusting-both`, rolled out, then `abort` avoids that."
        );
    }
    let wanted: Vec<&str> = rotated.iter().map(Rotated::name).collect();
    let wants = rotated
        .into_iter()
        .map(|what| {
            Want::RotateCa(Box::new(RotateWant {
                what,
                step,
                cross_sign,
            }))
        })
        .collect();
    let mut options = resolved.options(false, now)?;
    // Re-signed leaves keep their keys: the same identity, the same key.
    options.reuse_key = true;
    options.keep_key_algorithm = true;
    let request = Request {
        layout,
        cluster: None,
        wants,
        options,
    };
    let steps = super::rotate_steps::steps(step, &wanted, &request.layout, ctx);
    pipeline::write(request, a.dry_run, a.output, Epilogue::NextSteps(steps))
}

fn settings(a: &RotateArgs) -> anyhow::Result<(Resolved, Layout)> {
    let config = load_config(a.config.as_ref())?;
    let resolved = Resolved::from_parts(config, a.cert_dir.clone(), None, None, None)?;
    let layout = resolved.layout(a.kubeconfig_dir.as_ref());
    Ok((resolved, layout))
}

/// What the steps of a phase depend on in the files: read before the phase runs (the phase's
/// own read of the tree follows, in the pipeline).
fn step_context(layout: &Layout, rotated: &[Rotated]) -> Context {
    let mut wanted = tree_wanted(layout);
    for r in rotated {
        wanted.extend(r.wanted());
    }
    let inventory = Inventory::read(layout, &wanted);
    let mut ctx = Context::default();
    for r in rotated {
        if let Rotated::Ca(files) = r
            && let Ok(rot) = rotation::infer(&inventory, files)
        {
            ctx.leaves_restored |= matches!(rot.phase, Phase::Promoted | Phase::Reissued);
            ctx.cross_signed |= rot.cross.is_some();
        }
    }
    ctx
}

/// What `--ca` names, in a fixed order (the CAs as listed, then the service-account pair), each
/// once. A name given is always there (its files missing are an error of the phase); `all`
/// takes what the tree has, so a tree without an etcd CA (external etcd) or without `sa.key`
/// rotates the rest.
fn rotated(args: &[CaArg], layout: &Layout) -> anyhow::Result<Vec<Rotated>> {
    let all = args.contains(&CaArg::All);
    let wanted = |arg: CaArg, main: &std::path::Path| {
        args.contains(&arg) || (all && crate::pki::store::exists(main))
    };
    let mut out: Vec<Rotated> = [CaArg::Ca, CaArg::FrontProxyCa, CaArg::EtcdCa]
        .into_iter()
        .zip(rotation::ROTATABLE)
        .filter_map(|(arg, name)| catalog::find(name).map(|ca| (arg, ca)))
        .map(|(arg, ca)| (arg, RotationFiles::of(layout, ca)))
        .filter(|(arg, files)| wanted(*arg, &files.bundle))
        .map(|(_, files)| Rotated::Ca(files))
        .collect();
    let sa = SaFiles::of(layout);
    if wanted(CaArg::Sa, &sa.key) {
        out.push(Rotated::ServiceAccount(sa));
    }
    if out.is_empty() {
        return Err(Error::bad_file(
            layout.cert_dir(),
            "holds no CA and no sa.key: nothing to rotate (is --cert-dir right?)",
        )
        .into());
    }
    Ok(out)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusReport<'a> {
    kind: &'static str,
    api_version: &'static str,
    cert_dir: &'a std::path::Path,
    certificate_authorities: Vec<CaRotation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_account_keys: Option<SaRotation>,
}

fn status(a: &RotateArgs, _now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let (_, layout) = settings(a)?;
    let rotated = rotated(&a.ca, &layout)?;
    let mut wanted = tree_wanted(&layout);
    for r in &rotated {
        wanted.extend(r.wanted());
    }
    for root in [layout.cert_dir(), layout.kubeconfig_dir()] {
        if crate::pki::store::pending(root)? {
            eprintln!(
                "[warning] {}: an interrupted kubepki run left a journal; the files below are \
                 half-way: run the phase that was interrupted again to complete it",
                root.display()
            );
        }
    }
    let inventory = Inventory::read(&layout, &wanted);
    let mut doc = StatusReport {
        kind: "CaRotationStatus",
        api_version: crate::pki::REPORT_API_VERSION,
        cert_dir: layout.cert_dir(),
        certificate_authorities: Vec::new(),
        service_account_keys: None,
    };
    for r in &rotated {
        match r {
            Rotated::Ca(f) => doc
                .certificate_authorities
                .push(rotation::infer(&inventory, f).map_err(|e| Error::bad_file(&f.bundle, e))?),
            Rotated::ServiceAccount(f) => {
                doc.service_account_keys = Some(
                    service_account::infer(&inventory, f)
                        .map_err(|(path, e)| Error::bad_file(&path, e))?,
                );
            }
        }
    }
    let mut out = std::io::stdout().lock();
    match a.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            out.write_all(crate::output::serialize(&doc, a.output)?.as_bytes())?
        }
        OutputFormat::Text => {
            for r in &doc.certificate_authorities {
                writeln!(
                    out,
                    "{}: phase {} ({} certificate(s) in {}{})",
                    r.ca,
                    r.phase.name(),
                    r.certificates_in_bundle,
                    r.bundle.display(),
                    r.pending_new_ca
                        .as_ref()
                        .map(|p| format!(", new CA {}", p.display()))
                        .unwrap_or_default()
                        + &r.cross_signed_ca
                            .as_ref()
                            .map(|p| format!(", cross-signed by the old CA in {}", p.display()))
                            .unwrap_or_default()
                )?;
                for f in &r.files {
                    let mut parts = Vec::new();
                    if let Some(g) = f.signed_by {
                        parts.push(format!("signed by {}", generation(g)));
                    }
                    if f.cross_signed_chain {
                        parts.push("followed by the cross-signed new CA".to_string());
                    }
                    if !f.trusts.is_empty() {
                        let t: Vec<&str> = f.trusts.iter().map(|g| generation(*g)).collect();
                        parts.push(format!("trusts {}", t.join("+")));
                    }
                    writeln!(out, "  {}: {}", f.path.display(), parts.join(", "))?;
                }
            }
            if let Some(sa) = &doc.service_account_keys {
                let verifies: Vec<&str> = sa.verifies.iter().map(|g| generation(*g)).collect();
                writeln!(
                    out,
                    "{}: phase {} ({} public key(s) in {}{})",
                    service_account::NAME,
                    sa.phase.name(),
                    sa.verifies.len(),
                    sa.public.display(),
                    sa.pending_new_key
                        .as_ref()
                        .map(|p| format!(", new key {}", p.display()))
                        .unwrap_or_default()
                )?;
                writeln!(
                    out,
                    "  {}: signs tokens with the {} key",
                    sa.key.display(),
                    generation(sa.signs)
                )?;
                writeln!(
                    out,
                    "  {}: verifies tokens of {}",
                    sa.public.display(),
                    verifies.join("+")
                )?;
            }
        }
    }
    Ok(ExitStatus::Success)
}

fn generation(g: rotation::Generation) -> &'static str {
    match g {
        rotation::Generation::Current => "current",
        rotation::Generation::Old => "old",
        rotation::Generation::New => "new",
        rotation::Generation::Unknown => "unknown",
    }
}
