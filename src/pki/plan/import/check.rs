//! The checks a signed certificate passes before it is imported: its request's subject and
//! SANs, its role's subject and usages, a leaf's basic constraints and key usage, its validity
//! now, and its chain to the CA it must chain to.

use std::path::{Path, PathBuf};

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::{ImportTarget, SignedInput, shown, usages};
use crate::pki::catalog::CommonName;
use crate::pki::cert::{BACKDATE, CertFacts};
use crate::pki::error::{Error, ErrorKind, Result};
use crate::pki::inventory::{Found, Inventory, chain_problem};
use crate::pki::plan::Request;

/// What the certificates of one CA's family must chain to.
pub(in crate::pki::plan) enum Trust<'s> {
    /// The tree's CA file (all of it: a bundle during CA rotation).
    Tree { path: PathBuf, certs: &'s [Vec<u8>] },
    /// A CA certificate given, which signed these certificates (by name) and becomes the tree's.
    Given {
        from: &'s Path,
        der: &'s Vec<u8>,
        signed: String,
    },
    /// The tree's CA file exists but cannot be read.
    Unusable { path: PathBuf },
    /// The tree has no CA file, and no CA given signed any certificate of the family.
    Nothing { path: PathBuf },
}

impl Trust<'_> {
    /// The CA certificates a kubeconfig of this family embeds.
    pub(in crate::pki::plan) fn certs(&self) -> &[Vec<u8>] {
        match self {
            Trust::Tree { certs, .. } => certs,
            Trust::Given { der, .. } => std::slice::from_ref(*der),
            Trust::Unusable { .. } | Trust::Nothing { .. } => &[],
        }
    }
}

/// A certificate that passed: what it holds, and why it may be imported.
pub(in crate::pki::plan) struct Checked {
    pub(in crate::pki::plan) facts: CertFacts,
    pub(in crate::pki::plan) reason: String,
}

/// Checks `input` as the certificate of `target`; the error names the input's file and every
/// problem found.
pub(in crate::pki::plan) fn check_signed(
    request: &Request,
    inventory: &Inventory,
    target: &ImportTarget,
    input: &SignedInput,
    trust: &Trust<'_>,
) -> Result<Checked> {
    let layout = &request.layout;
    let now = request.options.now;
    let facts =
        CertFacts::from_der(&input.chain[0]).map_err(|e| Error::bad_file(&input.name, e))?;
    let mut problems = Vec::new();

    // What its request asked for: the CN, exactly its groups, every SAN.
    let csr_path = match target {
        ImportTarget::Cert(p) => layout.csr_path(p, ""),
        ImportTarget::Kubeconfig(k) => layout.kubeconfig_csr_path(k, ""),
        ImportTarget::Ca(p) => layout.cert_path(p, ""),
    };
    match inventory.csr(&csr_path) {
        Some(Found::Present(c)) => {
            let asked = &c.request.spec;
            if c.request.public_key.raw() != facts.public_key_raw {
                problems.push(format!(
                    "the request {} is for another key (make key and request again with \
                     `generate-csr --force`)",
                    shown(&csr_path)
                ));
            }
            if facts.common_name != asked.common_name {
                problems.push(format!(
                    "its CN is {:?}, the request asked for {:?}",
                    facts.common_name, asked.common_name
                ));
            }
            for o in asked
                .organizations
                .iter()
                .filter(|o| !facts.organizations.contains(o))
            {
                problems.push(format!("it lacks O={o:?}, which the request asked for"));
            }
            // Extra groups are extra rights (O is a group to the API server): refused.
            for o in facts
                .organizations
                .iter()
                .filter(|o| !asked.organizations.contains(o))
            {
                problems.push(format!("it has O={o:?}, which the request did not ask for"));
            }
            let missing = facts.missing_names(&asked.alt_names);
            if !missing.is_empty() {
                problems.push(format!(
                    "it lacks SANs {}, which the request asked for",
                    // Names read from files: control characters escaped.
                    missing.join(", ").escape_debug()
                ));
            }
        }
        Some(Found::Broken(p)) if p.kind == ErrorKind::Io => return Err(p.to_error(&csr_path)),
        Some(Found::Broken(p)) => {
            problems.push(format!("its request {} {p}", shown(&csr_path)));
        }
        Some(Found::Missing) | None => problems.push(format!(
            "its request {} is missing, so there is nothing to check it against (generate-csr \
             writes it beside the key)",
            shown(&csr_path)
        )),
    }

    // What its role needs, whatever the request said.
    let fixed_cn = match target {
        ImportTarget::Cert(p) | ImportTarget::Ca(p) => match p.common_name {
            CommonName::Fixed(cn) => Some(cn),
            _ => None,
        },
        ImportTarget::Kubeconfig(k) => match k.common_name {
            CommonName::Fixed(cn) => Some(cn),
            _ => None,
        },
    };
    if let Some(cn) = fixed_cn.filter(|cn| *cn != facts.common_name) {
        problems.push(format!(
            "its CN is {:?}, but {} is {cn:?}",
            facts.common_name,
            target.name()
        ));
    }
    let missing = facts.missing_usages(usages(target));
    if !missing.is_empty() {
        problems.push(format!(
            "it lacks the extended key usage {}, which {} needs (the signer's extensions must \
             give it)",
            missing.join(" and "),
            target.name()
        ));
    }
    if facts.is_ca {
        problems.push("it is a CA certificate (basicConstraints CA:TRUE), not a leaf".into());
    }
    if lacks_digital_signature(&input.chain[0]) {
        problems.push("its key usage lacks digitalSignature, which TLS needs".into());
    }
    if facts.not_after <= now {
        problems.push(format!("it expired on {}", facts.not_after));
    }
    if facts.not_before > now + BACKDATE {
        problems.push(format!("it is not valid until {}", facts.not_before));
    }

    // Who signed it.
    let chains_to = match trust {
        Trust::Tree { path, certs } => match chain_problem(&input.chain, certs) {
            None => format!("chains to {}", shown(path)),
            Some(e) => {
                problems.push(format!("it does not chain to {}: {e}", shown(path)));
                String::new()
            }
        },
        Trust::Given { from, der, signed } => {
            match chain_problem(&input.chain, std::slice::from_ref(*der)) {
                None => format!("chains to the CA from {}", shown(from)),
                Some(e) => {
                    problems.push(format!(
                        "it does not chain to the CA from {} that signed {signed}: {e}",
                        shown(from)
                    ));
                    String::new()
                }
            }
        }
        Trust::Unusable { path } => {
            problems.push(format!(
                "its chain cannot be checked: {} cannot be used",
                shown(path)
            ));
            String::new()
        }
        Trust::Nothing { path } => {
            problems.push(format!(
                "it chains to no CA kubepki knows: the tree has no {} and no CA certificate given \
                 (--ca-bundle) signed it",
                shown(path)
            ));
            String::new()
        }
    };
    if !problems.is_empty() {
        return Err(Error::bad_file(
            &input.name,
            format!(
                "is not a valid certificate for {} ({}): {}",
                target.name(),
                target.key_place(layout),
                problems.join("; ")
            ),
        ));
    }
    let reason = format!(
        "from {}: signed by {:?}, valid until {}; key, request and usages match; {chains_to}",
        shown(&input.name),
        facts.issuer,
        facts.not_after.date()
    );
    Ok(Checked { facts, reason })
}

/// Whether the certificate has a key usage extension without digitalSignature (a TLS key must
/// sign the handshake).
fn lacks_digital_signature(der: &[u8]) -> bool {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return false;
    };
    matches!(cert.key_usage(), Ok(Some(ku)) if !ku.value.digital_signature())
}
