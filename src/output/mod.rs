//! Rendering results: short lines for people, JSON or YAML for scripts.

// The reports of csr, sign and issue-cert (issue 14).
pub mod audit;
pub mod expiration;
pub mod explain;
pub mod inspect;
pub mod progress;
pub mod prometheus;
pub mod signing;
// The report of bootstrap-token (issue 15).
pub mod bootstrap;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::pki::catalog::{self, CLUSTER_ADMINS_GROUP, ExtUsage};
use crate::pki::names::AltNames;
use crate::pki::plan::{Action, ItemKind, Outcome, Plan, PlanItem};
use crate::pki::rbac;
use crate::pki::store::Layout;

/// How results are printed: text for people, JSON or YAML for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Yaml,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a, T: Serialize> {
    dry_run: bool,
    cert_dir: &'a Path,
    items: &'a [T],
    /// What the operator does next, in order (`rotate-ca`: component flags and restarts).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    next_steps: &'a [String],
}

/// `value` as a JSON (pretty, newline-terminated) or YAML document. Callers serialise before
/// writing, so that a closed pipe is an I/O error they recognise; text is theirs to render.
pub fn serialize<T: Serialize + ?Sized>(value: &T, format: OutputFormat) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Json => serde_json::to_string_pretty(value)? + "\n",
        OutputFormat::Yaml => yaml_serde::to_string(value)?,
        OutputFormat::Text => anyhow::bail!("internal: text is rendered by the callers"),
    })
}

fn label(name: &str, node: Option<&str>) -> String {
    match node {
        Some(n) => format!("{name} ({n})"),
        None => name.to_string(),
    }
}

/// `DNS names [a b] and IPs [c d]`.
fn dns_and_ips(n: &AltNames) -> String {
    let ips: Vec<String> = n.ips.iter().map(|i| i.to_string()).collect();
    format!(
        "DNS names [{}] and IPs [{}]",
        n.dns.join(" "),
        ips.join(" ")
    )
}

/// The files of an item, comma-separated, or `stdout` when there are none.
pub(crate) fn files(files: &[PathBuf]) -> String {
    if files.is_empty() {
        return "stdout".into();
    }
    files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn print_plan(
    plan: &Plan,
    layout: &Layout,
    format: OutputFormat,
    next_steps: &[String],
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if format != OutputFormat::Text {
        let doc = Document::<PlanItem> {
            dry_run: true,
            cert_dir: layout.cert_dir(),
            items: &plan.items,
            next_steps,
        };
        out.write_all(serialize(&doc, format)?.as_bytes())?;
        return Ok(());
    }
    for item in &plan.items {
        let verb = match item.decision.action {
            Action::Create => "would create",
            Action::Reuse => "would reuse",
            Action::Replace => "would replace",
            Action::Renew => "would renew",
            Action::Skip => "would skip",
            Action::Import => "would import",
        };
        writeln!(
            out,
            "[dry-run] {verb} {} {}: {} ({})",
            item.decision.kind.label(),
            label(&item.decision.name, item.decision.node.as_deref()),
            files(&item.decision.files),
            item.decision.reason
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
    next_steps: &[String],
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
        let doc = Document {
            dry_run: false,
            cert_dir: layout.cert_dir(),
            items: outcomes,
            next_steps,
        };
        out.write_all(serialize(&doc, format)?.as_bytes())?;
        return Ok(());
    }
    for o in outcomes {
        let what = label(&o.decision.name, o.decision.node.as_deref());
        match o.decision.action {
            Action::Reuse | Action::Skip => writeln!(
                out,
                "[{}] {:<8} {what}: {}",
                o.decision.kind.label(),
                o.decision.action.past_tense(),
                o.decision.reason
            )?,
            action => {
                let alg = o
                    .key_algorithm
                    .map(|a| format!(", {a}"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "[{}] {:<8} {what}: {}{alg}",
                    o.decision.kind.label(),
                    action.past_tense(),
                    files(&o.decision.files)
                )?;
                if let Some(at) = o.decision.reason.find("WARNING") {
                    writeln!(out, "         {}", &o.decision.reason[at..])?;
                }
                if let Some(r) = o.request.as_ref().filter(|r| !r.alt_names.is_empty()) {
                    writeln!(
                        out,
                        "         request asks for {}",
                        dns_and_ips(&r.alt_names)
                    )?;
                }
                if let Some(c) = o
                    .certificate
                    .as_ref()
                    .filter(|c| c.usages.contains(&ExtUsage::ServerAuth))
                {
                    writeln!(
                        out,
                        "         serving cert is signed for {}",
                        dns_and_ips(&c.alt_names)
                    )?;
                }
            }
        }
    }
    let count = |action| {
        outcomes
            .iter()
            .filter(|o| o.decision.action == action)
            .count()
    };
    let (reused, skipped) = (count(Action::Reuse), count(Action::Skip));
    let written = outcomes.len() - reused - skipped;
    let has = |kind| outcomes.iter().any(|o| o.decision.kind == kind);
    let mut places = Vec::new();
    if has(ItemKind::Certificate) || has(ItemKind::KeyPair) || has(ItemKind::CertificateRequest) {
        places.push(format!(
            "certificates and keys in {}",
            layout.cert_dir().display()
        ));
    }
    // Kubeconfigs in the kubeconfig directory are named by it; one elsewhere (`--out`) by its
    // own path; one printed, as being on stdout.
    let kubeconfigs: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.decision.kind == ItemKind::Kubeconfig)
        .collect();
    if kubeconfigs.iter().any(|o| {
        o.decision
            .files
            .iter()
            .any(|f| f.starts_with(layout.kubeconfig_dir()))
    }) {
        places.push(format!(
            "kubeconfigs in {}",
            layout.kubeconfig_dir().display()
        ));
    }
    for o in &kubeconfigs {
        for f in o
            .decision
            .files
            .iter()
            .filter(|f| !f.starts_with(layout.kubeconfig_dir()))
        {
            places.push(format!("kubeconfig {}", f.display()));
        }
        if o.decision.files.is_empty() {
            places.push("the kubeconfig on stdout".into());
        }
    }
    let skipped = match skipped {
        0 => String::new(),
        n => format!(", {n} skipped"),
    };
    // A run that wrote nothing (a phase run again) has no place to name.
    let places = match places.is_empty() {
        true => String::new(),
        false => format!("; {}", places.join(", ")),
    };
    writeln!(
        out,
        "Done: {written} written, {reused} reused{skipped}{places}"
    )?;
    if outcomes.iter().any(grants_cluster_admins) {
        print_cluster_admins_binding(&mut out, layout)?;
    }
    Ok(())
}

/// Whether an outcome wrote a client certificate of the `kubeadm:cluster-admins` group.
fn grants_cluster_admins(o: &Outcome) -> bool {
    !matches!(o.decision.action, Action::Reuse | Action::Skip)
        && o.certificate
            .as_ref()
            .is_some_and(|c| c.organizations.iter().any(|g| g == CLUSTER_ADMINS_GROUP))
}

/// The group of admin.conf has no rights until it is bound to cluster-admin; kubeadm creates the
/// binding, kubepki prints it.
fn print_cluster_admins_binding(out: &mut dyn Write, layout: &Layout) -> anyhow::Result<()> {
    let manifest = yaml_serde::to_string(&rbac::cluster_admins_binding())?;
    let super_admin = catalog::find_kubeconfig("super-admin")
        .map(|k| layout.kubeconfig_path(k, ""))
        .unwrap_or_default();
    writeln!(
        out,
        "\nThe group {CLUSTER_ADMINS_GROUP} (admin.conf) has no rights until it is bound to the \
         cluster-admin ClusterRole, as kubeadm binds it during init. Once the API server runs, \
         apply this with super-admin.conf:\n  kubectl --kubeconfig {} apply -f - <<'EOF'\n{manifest}EOF",
        super_admin.display()
    )?;
    Ok(())
}

pub use expiration::print_expiration;
