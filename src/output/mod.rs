//! Rendering results: short lines for people, JSON or YAML for scripts.

// The reports of csr, sign and issue-cert (issue 14).
pub mod audit;
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
use crate::pki::expiration;
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

fn emit<T: Serialize>(
    doc: &Document<'_, T>,
    format: OutputFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => {
            // Serialised first, so that a closed pipe is an I/O error the caller recognises.
            let mut text = serde_json::to_string_pretty(doc)?;
            text.push('\n');
            out.write_all(text.as_bytes())?;
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

pub fn print_plan(
    plan: &Plan,
    layout: &Layout,
    format: OutputFormat,
    next_steps: &[String],
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if format != OutputFormat::Text {
        return emit(
            &Document::<PlanItem> {
                dry_run: true,
                cert_dir: layout.cert_dir(),
                items: &plan.items,
                next_steps,
            },
            format,
            &mut out,
        );
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
        return emit(
            &Document {
                dry_run: false,
                cert_dir: layout.cert_dir(),
                items: outcomes,
                next_steps,
            },
            format,
            &mut out,
        );
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
                        "         request asks for DNS names [{}] and IPs [{}]",
                        r.alt_names.dns.join(" "),
                        r.alt_names
                            .ips
                            .iter()
                            .map(|i| i.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    )?;
                }
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
    writeln!(
        out,
        "Done: {written} written, {reused} reused{skipped}; {}",
        places.join(", ")
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

/// The expiry report: kubeadm's two tables (certificates, then CAs) with a STATUS column, the
/// kubelet rotation windows, and the reasons for invalid rows; or the report as JSON/YAML.
pub fn print_expiration(report: &expiration::Report, format: OutputFormat) -> anyhow::Result<()> {
    if format == OutputFormat::Text {
        for w in &report.warnings {
            // Debug-quoted: a file name is untrusted and may hold control characters.
            eprintln!("[warning] {:?}: {}", w.path, w.message);
        }
    }
    let mut out = std::io::stdout().lock();
    if format != OutputFormat::Text {
        match format {
            OutputFormat::Json => {
                let mut text = serde_json::to_string_pretty(report)?;
                text.push('\n');
                out.write_all(text.as_bytes())?;
            }
            _ => out.write_all(yaml_serde::to_string(report)?.as_bytes())?,
        }
        return Ok(());
    }
    let row_name = |e: &expiration::Entry| match &e.node {
        Some(n) => format!("{} ({n})", e.name),
        None => e.name.clone(),
    };
    let expires = |e: &expiration::Entry| e.not_after.map(expiration::expires).unwrap_or_default();
    let residual = |e: &expiration::Entry| {
        e.residual_seconds
            .map(expiration::short_human_duration)
            .unwrap_or_default()
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" };

    let cert_row = |e: &expiration::Entry| {
        [
            row_name(e),
            expires(e),
            residual(e),
            e.certificate_authority.clone().unwrap_or_default(),
            yes_no(e.externally_managed).to_string(),
            e.status.as_str().to_string(),
        ]
    };
    paged_table(
        &mut out,
        [
            "CERTIFICATE",
            "EXPIRES",
            "RESIDUAL TIME",
            "CERTIFICATE AUTHORITY",
            "EXTERNALLY MANAGED",
            "STATUS",
        ],
        || report.certificates.iter().map(cert_row),
    )?;
    if !report.certificate_authorities.is_empty() {
        writeln!(out)?;
        let ca_row = |e: &expiration::Entry| {
            [
                row_name(e),
                expires(e),
                residual(e),
                yes_no(e.externally_managed).to_string(),
                e.status.as_str().to_string(),
            ]
        };
        paged_table(
            &mut out,
            [
                "CERTIFICATE AUTHORITY",
                "EXPIRES",
                "RESIDUAL TIME",
                "EXTERNALLY MANAGED",
                "STATUS",
            ],
            || report.certificate_authorities.iter().map(ca_row),
        )?;
    }
    let rotating = || {
        report
            .certificates
            .iter()
            .filter_map(|e| e.kubelet_rotation.as_ref().map(|r| (e, r)))
    };
    if rotating().next().is_some() {
        writeln!(out)?;
        paged_table(
            &mut out,
            ["KUBELET CERTIFICATE", "ROTATES FROM", "ROTATES BY"],
            || {
                rotating().map(|(e, r)| {
                    [
                        row_name(e),
                        expiration::expires(r.from),
                        expiration::expires(r.to),
                    ]
                })
            },
        )?;
    }
    let problems: Vec<_> = report
        .certificates
        .iter()
        .chain(&report.certificate_authorities)
        .filter(|e| e.status != expiration::Status::Ok && e.status != expiration::Status::Warning)
        .collect();
    if !problems.is_empty() {
        writeln!(out)?;
        for e in problems {
            let why = e.error.as_deref().unwrap_or(match e.status {
                expiration::Status::Missing => "file not found",
                expiration::Status::Expired => "expired",
                _ => "not valid yet",
            });
            writeln!(
                out,
                "{}: {}: {} ({})",
                row_name(e),
                e.status.as_str(),
                why,
                e.path.display()
            )?;
        }
    }
    Ok(())
}

/// A borderless table with kubeadm's spacing (tabwriter padding 3).
/// Rows per rendered page: a table of 10,000 rows is drawn 512 at a time, so only one page's
/// cells are held, while every page gets the widths of the whole column (measured first).
const ROWS_PER_PAGE: usize = 512;

/// kubeadm's plain table (no borders, 3 spaces between columns, trailing spaces trimmed), drawn by
/// comfy-table page by page; `rows` is called twice (widths, then pages).
fn paged_table<const N: usize, I>(
    out: &mut dyn Write,
    header: [&str; N],
    rows: impl Fn() -> I,
) -> anyhow::Result<()>
where
    I: Iterator<Item = [String; N]>,
{
    let mut widths = header.map(|h| h.chars().count());
    for row in rows() {
        for (w, cell) in widths.iter_mut().zip(&row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let page = |with_header: bool| {
        let mut table = comfy_table::Table::new();
        table
            .load_style(comfy_table::presets::NOTHING)
            .force_no_tty();
        if with_header {
            table.set_header(header);
        }
        table
    };
    let finish = |table: &mut comfy_table::Table| {
        for (i, w) in widths.iter().enumerate() {
            if let Some(column) = table.column_mut(i) {
                column.set_padding((0, 3));
                column.set_constraint(comfy_table::ColumnConstraint::Absolute(
                    comfy_table::Width::Fixed(u16::try_from(*w + 3).unwrap_or(u16::MAX)),
                ));
            }
        }
    };
    let mut table = page(true);
    let mut in_page = 0;
    for row in rows() {
        table.add_row(row);
        in_page += 1;
        if in_page == ROWS_PER_PAGE {
            finish(&mut table);
            writeln!(out, "{}", table.trim_fmt())?;
            table = page(false);
            in_page = 0;
        }
    }
    if in_page > 0 || table.header().is_some() {
        finish(&mut table);
        writeln!(out, "{}", table.trim_fmt())?;
    }
    Ok(())
}
