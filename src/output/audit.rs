//! `audit`'s report: one block per finding, worst first, or JSON/YAML (`kind: AuditReport`).

use std::io::Write;

use super::OutputFormat;
use crate::pki::audit::{Report, Severity};

pub fn print(report: &Report, format: OutputFormat) -> anyhow::Result<()> {
    let text = match format {
        OutputFormat::Json | OutputFormat::Yaml => super::serialize(report, format)?,
        OutputFormat::Text => {
            let mut s = String::new();
            for f in &report.findings {
                let sev = match f.severity {
                    Severity::Error => "ERROR",
                    Severity::Warning => "WARNING",
                    Severity::Info => "info",
                };
                s += &format!(
                    "{sev:<7} {} [{}]: {}\n        fix: {}\n",
                    f.file.display(),
                    f.check,
                    f.message,
                    f.fix
                );
            }
            let count = |sev| report.findings.iter().filter(|f| f.severity == sev).count();
            s += &format!(
                "{} errors, {} warnings, {} notes in {} and {}\n",
                count(Severity::Error),
                count(Severity::Warning),
                count(Severity::Info),
                report.cert_dir.display(),
                report.kubeconfig_dir.display()
            );
            s
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}
