//! `check-expiration`'s tables, as kubeadm draws them, and its JSON and YAML.

use std::io::Write;

use super::OutputFormat;
use crate::pki::expiration;

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
        out.write_all(super::serialize(report, format)?.as_bytes())?;
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
