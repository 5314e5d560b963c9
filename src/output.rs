//! Rendering results: short lines for people, JSON or YAML for scripts.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::OutputFormat;
use crate::pki::catalog::ExtUsage;
use crate::pki::plan::{Action, ItemKind, Outcome, Plan, PlanItem};
use crate::pki::store::Layout;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a, T: Serialize> {
    dry_run: bool,
    cert_dir: &'a Path,
    items: &'a [T],
}

fn emit<T: Serialize>(
    doc: &Document<'_, T>,
    format: OutputFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, doc)?;
            out.write_all(b"\n")?;
        }
        OutputFormat::Yaml => out.write_all(yaml_serde::to_string(doc)?.as_bytes())?,
        OutputFormat::Text => unreachable!("text is rendered by the callers"),
    }
    Ok(())
}

fn label(name: &str, node: Option<&str>) -> String {
    match node {
        Some(n) => format!("{name} ({n})"),
        None => name.to_string(),
    }
}

fn files(files: &[PathBuf]) -> String {
    if files.is_empty() {
        return "stdout".into();
    }
    files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn print_plan(plan: &Plan, layout: &Layout, format: OutputFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if format != OutputFormat::Text {
        return emit(
            &Document::<PlanItem> {
                dry_run: true,
                cert_dir: layout.cert_dir(),
                items: &plan.items,
            },
            format,
            &mut out,
        );
    }
    for item in &plan.items {
        let verb = match item.action {
            Action::Create => "would create",
            Action::Reuse => "would reuse",
            Action::Replace => "would replace",
        };
        writeln!(
            out,
            "[dry-run] {verb} {} {}: {} ({})",
            item.kind.label(),
            label(&item.name, item.node.as_deref()),
            files(&item.files),
            item.reason
        )?;
    }
    writeln!(out, "[dry-run] nothing was written")?;
    Ok(())
}

/// Prints what a run did. A kubeconfig made for stdout (`write-kubeconfig user` without
/// `--out`) is all that goes to stdout then; the report goes to stderr.
pub fn print_outcomes(
    outcomes: &[Outcome],
    layout: &Layout,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let kubeconfigs: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| o.kubeconfig.as_deref())
        .collect();
    let mut out: Box<dyn Write> = if kubeconfigs.is_empty() {
        Box::new(std::io::stdout().lock())
    } else {
        let mut stdout = std::io::stdout().lock();
        for k in &kubeconfigs {
            stdout.write_all(k.as_bytes())?;
        }
        Box::new(std::io::stderr().lock())
    };
    if format != OutputFormat::Text {
        return emit(
            &Document {
                dry_run: false,
                cert_dir: layout.cert_dir(),
                items: outcomes,
            },
            format,
            &mut out,
        );
    }
    for o in outcomes {
        let what = label(&o.name, o.node.as_deref());
        match o.action {
            Action::Reuse => writeln!(out, "[{}] reused   {what}: {}", o.kind.label(), o.reason)?,
            action => {
                let alg = o
                    .key_algorithm
                    .map(|a| format!(", {a}"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "[{}] {:<8} {what}: {}{alg}",
                    o.kind.label(),
                    action.past_tense(),
                    files(&o.files)
                )?;
                if let Some(c) = o
                    .certificate
                    .as_ref()
                    .filter(|c| c.usages.contains(&ExtUsage::ServerAuth))
                {
                    writeln!(
                        out,
                        "         serving cert is signed for DNS names [{}] and IPs [{}]",
                        c.alt_names.dns.join(" "),
                        c.alt_names
                            .ips
                            .iter()
                            .map(|i| i.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    )?;
                }
            }
        }
    }
    let written = outcomes
        .iter()
        .filter(|o| o.action != Action::Reuse)
        .count();
    let has = |kind| outcomes.iter().any(|o| o.kind == kind);
    let mut places = Vec::new();
    if has(ItemKind::Certificate) || has(ItemKind::KeyPair) {
        places.push(format!(
            "certificates and keys in {}",
            layout.cert_dir().display()
        ));
    }
    if has(ItemKind::Kubeconfig) {
        places.push(format!(
            "kubeconfigs in {}",
            layout.kubeconfig_dir().display()
        ));
    }
    writeln!(
        out,
        "Done: {written} written, {} reused; {}",
        outcomes.len() - written,
        places.join(", ")
    )?;
    Ok(())
}
