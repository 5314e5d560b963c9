//! The expiry report in the Prometheus text exposition format, for node_exporter's textfile
//! collector: one gauge sample of seconds to expiry per certificate row, the NotAfter as a
//! timestamp, and one problem sample per missing or invalid row.

use std::fmt::Write as _;

use crate::pki::expiration::{Entry, Report, Status};

/// The exposition text of `report`.
pub fn render(report: &Report) -> String {
    let mut s = String::new();
    let rows = || {
        report
            .certificates
            .iter()
            .map(|e| (e, "certificate"))
            .chain(report.certificate_authorities.iter().map(|e| (e, "ca")))
    };
    s += "# HELP kubepki_certificate_expiry_seconds Seconds until the certificate expires (negative once expired).\n";
    s += "# TYPE kubepki_certificate_expiry_seconds gauge\n";
    for (e, kind) in rows() {
        if let Some(left) = e.residual_seconds {
            let _ = writeln!(
                s,
                "kubepki_certificate_expiry_seconds{{{}}} {left}",
                labels(e, kind)
            );
        }
    }
    s += "# HELP kubepki_certificate_not_after_timestamp_seconds The certificate's NotAfter, in seconds since the epoch.\n";
    s += "# TYPE kubepki_certificate_not_after_timestamp_seconds gauge\n";
    for (e, kind) in rows() {
        if let Some(t) = e.not_after {
            let _ = writeln!(
                s,
                "kubepki_certificate_not_after_timestamp_seconds{{{}}} {}",
                labels(e, kind),
                t.unix_timestamp()
            );
        }
    }
    s += "# HELP kubepki_certificate_problem 1 for a certificate that is missing or invalid (see status).\n";
    s += "# TYPE kubepki_certificate_problem gauge\n";
    for (e, kind) in rows() {
        if matches!(e.status, Status::Missing | Status::Invalid) {
            let _ = writeln!(
                s,
                "kubepki_certificate_problem{{{},status=\"{}\"}} 1",
                labels(e, kind),
                e.status.as_str()
            );
        }
    }
    s += "# HELP kubepki_report_timestamp_seconds When this report was made.\n";
    s += "# TYPE kubepki_report_timestamp_seconds gauge\n";
    let _ = writeln!(
        s,
        "kubepki_report_timestamp_seconds {}",
        report.now.unix_timestamp()
    );
    s
}

fn labels(e: &Entry, kind: &str) -> String {
    format!(
        "name=\"{}\",node=\"{}\",path=\"{}\",ca=\"{}\",kind=\"{kind}\"",
        escape(&e.name),
        escape(e.node.as_deref().unwrap_or("")),
        escape(&e.path.display().to_string()),
        escape(e.certificate_authority.as_deref().unwrap_or(""))
    )
}

/// Label values escape backslash, double quote and newline (the exposition format's rule).
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}
