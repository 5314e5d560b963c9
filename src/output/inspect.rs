//! `inspect`'s report: text for people (the fields of `openssl x509 -text` people read, then what
//! Kubernetes makes of the certificate), or JSON/YAML (`kind: InspectReport`).

use std::io::Write;

use serde::Serialize;

use super::OutputFormat;
use crate::pki::duration::format_rfc3339 as rfc3339;
use crate::pki::expiration::short_human_duration;
use crate::pki::inspect::{CertView, Inspected, Item, KubeconfigView};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    kind: &'static str,
    api_version: &'static str,
    files: &'a [Inspected],
}

pub fn print(all: &[Inspected], format: OutputFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let report = Report {
        kind: "InspectReport",
        api_version: crate::pki::REPORT_API_VERSION,
        files: all,
    };
    let text = match format {
        OutputFormat::Json | OutputFormat::Yaml => super::serialize(&report, format)?,
        OutputFormat::Text => render(all),
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}

fn render(all: &[Inspected]) -> String {
    let mut s = String::new();
    for inspected in all {
        for (i, item) in inspected.items.iter().enumerate() {
            let many = inspected.items.len() > 1;
            let title = if many {
                format!("{} #{}", inspected.file, i + 1)
            } else {
                inspected.file.clone()
            };
            match item {
                Item::Certificate(c) => cert(&mut s, &title, c, ""),
                Item::PrivateKey(k) => {
                    line(&mut s, &title, "private key", &k.algorithm);
                    if !k.matches.is_empty() {
                        s += &format!("  key of:       {}\n", k.matches.join(", "));
                    }
                }
                Item::PublicKey(k) => line(&mut s, &title, "public key", &k.algorithm),
                Item::CertificateRequest(r) => {
                    s += &format!("{title}: certificate request (signature verified)\n");
                    s += &format!("  subject:      {}\n", r.subject);
                    s += &format!("  SANs:         {}\n", sans(&r.request.alt_names));
                    s += &format!("  public key:   {}\n", r.public_key);
                    if r.asks_ca {
                        s += "  asks for:     CA:TRUE (a signer should refuse it)\n";
                    }
                    if !r.requested_usages.is_empty() {
                        s += &format!(
                            "  asks for:     {} (the signer's profile decides)\n",
                            r.requested_usages.join(", ")
                        );
                    }
                }
                Item::Kubeconfig(k) => kubeconfig(&mut s, &title, k),
            }
            s += "\n";
        }
    }
    s
}

fn line(s: &mut String, title: &str, what: &str, detail: &str) {
    *s += &format!("{title}: {what} ({detail})\n");
}

fn sans(a: &crate::pki::names::AltNames) -> String {
    let all: Vec<String> = a
        .dns
        .iter()
        .map(|d| format!("DNS:{d}"))
        .chain(a.ips.iter().map(|i| format!("IP:{i}")))
        .chain(a.uris.iter().map(|u| format!("URI:{u}")))
        .chain(a.emails.iter().map(|e| format!("email:{e}")))
        .collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

fn cert(s: &mut String, title: &str, c: &CertView, indent: &str) {
    let kind = if c.is_ca {
        "CA certificate"
    } else {
        "certificate"
    };
    *s += &format!("{indent}{title}: {kind}\n");
    let field = |s: &mut String, name: &str, value: &str| {
        *s += &format!("{indent}  {name:<13} {value}\n");
    };
    field(s, "subject:", &c.subject);
    field(s, "issuer:", &c.issuer);
    field(s, "serial:", &c.serial);
    let left = if c.seconds_left <= 0 {
        "EXPIRED".to_string()
    } else {
        format!("{} left", short_human_duration(c.seconds_left))
    };
    field(
        s,
        "valid:",
        &format!(
            "{} to {} ({left})",
            rfc3339(c.not_before),
            rfc3339(c.not_after)
        ),
    );
    field(s, "SANs:", &sans(&c.alt_names));
    field(s, "key usage:", &list(&c.key_usage));
    field(s, "ext. usage:", &list(&c.extended_key_usage));
    let constraints = match (c.is_ca, c.path_len) {
        (true, Some(n)) => format!("CA:TRUE, pathlen:{n}"),
        (true, None) => "CA:TRUE".into(),
        (false, _) => "CA:FALSE".into(),
    };
    field(s, "constraints:", &constraints);
    if let Some(id) = &c.subject_key_id {
        field(s, "SKI:", id);
    }
    if let Some(id) = &c.authority_key_id {
        field(s, "AKI:", id);
    }
    field(s, "public key:", &c.public_key);
    field(s, "signature:", &c.signature_algorithm);
    field(s, "SHA-256:", &c.sha256_fingerprint);
    field(s, "key pin:", &c.public_key_pin);
    if let Some(r) = &c.role {
        field(s, "role:", &format!("{} — {}", r.name, r.description));
        for u in &r.used_by {
            field(s, "used by:", u);
        }
    }
    if let Some(id) = &c.kubernetes_identity {
        let groups = if id.groups.is_empty() {
            "no groups".to_string()
        } else {
            format!("groups {}", id.groups.join(", "))
        };
        field(s, "k8s user:", &format!("{} ({groups})", id.user));
        if let Some(note) = &id.note {
            field(s, "note:", note);
        }
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn kubeconfig(s: &mut String, title: &str, k: &KubeconfigView) {
    *s += &format!(
        "{title}: kubeconfig (current context {:?})\n",
        k.current_context
    );
    for c in &k.contexts {
        *s += &format!(
            "  context {:?}: cluster {:?}, user {:?}\n",
            c.name, c.cluster, c.user
        );
    }
    for c in &k.clusters {
        *s += &format!("  cluster {:?}: server {}\n", c.name, c.server);
        if let Some(f) = &c.certificate_authority_file {
            *s += &format!("    CA file: {f}\n");
        }
        for ca in &c.certificate_authority {
            cert(s, "CA", ca, "    ");
        }
    }
    for u in &k.users {
        *s += &format!("  user {:?}: {}\n", u.name, u.auth);
        if let Some(c) = &u.client_certificate {
            cert(s, "client certificate", c, "    ");
        }
        if let Some(alg) = &u.client_key {
            let matches = match u.client_key_matches {
                Some(true) => ", matches the client certificate",
                Some(false) => ", DOES NOT match the client certificate",
                None => "",
            };
            *s += &format!("    client key: {alg}{matches} (not shown)\n");
        }
    }
}
