//! The reports of `csr`, `sign` and `issue-cert`: what would be issued (`--dry-run`) or what
//! was, for people (text) and scripts (JSON, YAML).
//!
//! A certificate `sign` writes to stdout (no `--out`) is all that goes to stdout in text mode,
//! the report going to stderr; with `-o json|yaml` the document goes to stdout and carries the
//! certificate as `pem`.

use std::io::Write;

use serde::Serialize;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{OutputFormat, files, serialize};
use crate::pki::cert::{CertFacts, CertSpec};
use crate::pki::csr::{self, CsrSpec};
use crate::pki::duration::format_rfc3339 as rfc3339;
use crate::pki::keys::KeyAlgorithm;
use crate::pki::names::AltNames;
use crate::pki::plan::{Action, Decision, Outcome, Plan, SigningNotes, subject_text};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<T: Serialize> {
    dry_run: bool,
    items: Vec<T>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanView<'a> {
    #[serde(flatten)]
    decision: &'a Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_algorithm: Option<KeyAlgorithm>,
    /// The certificate that would be issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    spec: Option<&'a CertSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signing: Option<&'a SigningNotes>,
    /// The request that would be made (`csr`).
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<&'a CsrSpec>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutcomeView<'a> {
    #[serde(flatten)]
    decision: &'a Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_algorithm: Option<KeyAlgorithm>,
    /// Read back from the certificate written (or kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<&'a CertFacts>,
    /// Its key usages and extended key usages, as the CSR API names them, read back.
    #[serde(skip_serializing_if = "Option::is_none")]
    usages: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signing: Option<&'a SigningNotes>,
    /// The request written (`csr`), read back.
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<csr::Request>,
    /// The certificate, when it went to no file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pem: Option<&'a str>,
}

/// Prints what a signing run would do.
pub fn print_plan(plan: &Plan, format: OutputFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if format != OutputFormat::Text {
        let items = plan
            .items
            .iter()
            .map(|i| PlanView {
                decision: &i.decision,
                key_algorithm: i.key_algorithm,
                spec: i.spec.as_ref(),
                signing: i.signing_notes(),
                request: i.request_spec(),
            })
            .collect();
        let doc = Document {
            dry_run: true,
            items,
        };
        out.write_all(serialize(&doc, format)?.as_bytes())?;
        return Ok(());
    }
    for item in &plan.items {
        let d = &item.decision;
        let verb = match d.action {
            Action::Reuse => "would reuse",
            Action::Replace => "would replace",
            _ => "would create",
        };
        writeln!(
            out,
            "[dry-run] {verb} {} {}: {} ({})",
            kind_word(d),
            d.name,
            files(&d.files),
            d.reason
        )?;

        if matches!(d.action, Action::Reuse) {
            continue;
        }
        if let Some(r) = item.request_spec() {
            writeln!(
                out,
                "          subject: {}",
                subject_text(&r.common_name, &r.organizations)
            )?;
            writeln!(out, "         SANs: {}", sans(&r.alt_names))?;
        }
        if let Some(spec) = &item.spec {
            writeln!(
                out,
                "          subject: {}",
                subject_text(&spec.common_name, &spec.organizations)
            )?;
            writeln!(out, "         SANs: {}", sans(&spec.alt_names))?;
            writeln!(
                out,
                "          valid: {} to {}",
                rfc3339(spec.not_before),
                rfc3339(spec.not_after)
            )?;
        }
        if let Some(alg) = item.key_algorithm {
            writeln!(out, "         key: {alg}")?;
        }
        if let Some(n) = item.signing_notes() {
            notes(&mut out, n)?;
        }
    }
    writeln!(out, "[dry-run] nothing was written")?;
    Ok(())
}

/// Prints what a signing run did.
pub fn print_outcomes(outcomes: &[Outcome], format: OutputFormat) -> anyhow::Result<()> {
    // A certificate that went to no file is the output.
    let to_stdout: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.decision.files.is_empty())
        .filter_map(|o| o.issued.as_ref().map(|i| i.pem.as_str()))
        .collect();
    if format != OutputFormat::Text {
        let items = outcomes
            .iter()
            .map(|o| {
                let pem = o.issued.as_ref().map(|i| i.pem.as_str());
                let is_csr = o.decision.kind == crate::pki::plan::ItemKind::CertificateRequest;
                OutcomeView {
                    decision: &o.decision,
                    key_algorithm: o.key_algorithm,
                    certificate: o.certificate.as_ref(),
                    usages: (!is_csr).then(|| pem.and_then(read_usages)).flatten(),
                    signing: o.issued.as_ref().and_then(|i| i.notes.as_ref()),
                    request: pem
                        .filter(|_| is_csr)
                        .and_then(|p| csr::parse(p.as_bytes()).ok()),
                    pem: pem.filter(|_| o.decision.files.is_empty()),
                }
            })
            .collect();
        let doc = Document {
            dry_run: false,
            items,
        };
        std::io::stdout()
            .lock()
            .write_all(serialize(&doc, format)?.as_bytes())?;
        return Ok(());
    }
    let mut out: Box<dyn Write> = if to_stdout.is_empty() {
        Box::new(std::io::stdout().lock())
    } else {
        let mut stdout = std::io::stdout().lock();
        for pem in &to_stdout {
            stdout.write_all(pem.as_bytes())?;
        }
        stdout.flush()?;
        Box::new(std::io::stderr().lock())
    };
    for o in outcomes {
        let d = &o.decision;
        let label = match d.kind {
            crate::pki::plan::ItemKind::CertificateRequest => "csr",
            _ => "certs",
        };
        let files = files(&d.files);
        if matches!(d.action, Action::Reuse | Action::Skip) {
            writeln!(
                out,
                "[{label}] {:<8} {} {}: {files} ({})",
                d.action.past_tense(),
                kind_word(d),
                d.name,
                d.reason
            )?;
            continue;
        }
        let alg = o
            .key_algorithm
            .map(|a| format!(", {a}"))
            .unwrap_or_default();
        writeln!(
            out,
            "[{label}] {:<8} {} {}: {files}{alg}",
            d.action.past_tense(),
            kind_word(d),
            d.name
        )?;
        if let Some(c) = &o.certificate {
            writeln!(out, "         subject: {}", c.subject)?;
            writeln!(out, "         SANs: {}", sans(&c.alt_names))?;
            if let Some(u) = o.issued.as_ref().and_then(|i| read_usages(&i.pem)) {
                writeln!(out, "         usages: {}", u.join(", "))?;
            }
            writeln!(
                out,
                "         serial {}, valid {} to {}",
                c.serial,
                rfc3339(c.not_before),
                rfc3339(c.not_after)
            )?;
        }
        if let Some(r) = o
            .issued
            .as_ref()
            .filter(|_| d.kind == crate::pki::plan::ItemKind::CertificateRequest)
            .and_then(|i| csr::parse(i.pem.as_bytes()).ok())
        {
            writeln!(out, "         subject: {}", r.subject)?;
            writeln!(out, "         SANs: {}", sans(&r.spec.alt_names))?;
        }
        if let Some(n) = o.issued.as_ref().and_then(|i| i.notes.as_ref()) {
            notes(&mut out, n)?;
        }
        if d.action == Action::Replace {
            writeln!(out, "         {}", d.reason)?;
        }
    }
    Ok(())
}

fn kind_word(d: &Decision) -> &'static str {
    match d.kind {
        crate::pki::plan::ItemKind::CertificateRequest => "key and request",
        _ if d.files.len() == 2 => "key and certificate",
        _ => "certificate",
    }
}

fn notes(out: &mut dyn Write, n: &SigningNotes) -> anyhow::Result<()> {
    let rules = n
        .signer_rules
        .map(|s| format!(", rules of {s}"))
        .unwrap_or_default();
    writeln!(
        out,
        "         profile {} ({}{rules}): {}",
        n.profile,
        n.profile_origin,
        n.usages
            .iter()
            .map(|u| u.api_name())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(out, "         signed by {}", n.ca)?;
    if !n.sans_added.is_empty() {
        writeln!(
            out,
            "         SANs added by --san: {}",
            n.sans_added.join(", ")
        )?;
    }
    if !n.sans_dropped.is_empty() {
        writeln!(
            out,
            "         SANs of the request left out by --only-san: {}",
            n.sans_dropped.join(", ")
        )?;
    }
    for w in &n.warnings {
        writeln!(out, "         {w}")?;
    }
    Ok(())
}

fn sans(n: &AltNames) -> String {
    let list = crate::pki::identity::san_list(n);
    if list.is_empty() {
        return "none".into();
    }
    list.iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The key usages and extended key usages of the first certificate of `pem`, as the CSR API
/// names them.
fn read_usages(pem: &str) -> Option<Vec<&'static str>> {
    let block = pem::parse(pem.as_bytes()).ok()?;
    let (_, cert) = X509Certificate::from_der(block.contents()).ok()?;
    let mut out = Vec::new();
    if let Ok(Some(ku)) = cert.key_usage() {
        let ku = ku.value;
        for (set, name) in [
            (ku.digital_signature(), "digital signature"),
            (ku.non_repudiation(), "content commitment"),
            (ku.key_encipherment(), "key encipherment"),
            (ku.data_encipherment(), "data encipherment"),
            (ku.key_agreement(), "key agreement"),
            (ku.key_cert_sign(), "cert sign"),
            (ku.crl_sign(), "crl sign"),
        ] {
            if set {
                out.push(name);
            }
        }
    }
    if let Ok(Some(eku)) = cert.extended_key_usage() {
        if eku.value.server_auth {
            out.push("server auth");
        }
        if eku.value.client_auth {
            out.push("client auth");
        }
    }
    Some(out)
}
