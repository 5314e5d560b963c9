//! Who signed a certificate: one signature against its parent, and a chain through the
//! intermediates of a bundle.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

/// Checks that `child` was issued by `parent`: issuer name equals the parent's subject, byte for
/// byte, and the signature verifies with the parent's public key.
pub fn verify_signed_by(child: &[u8], parent: &[u8]) -> std::result::Result<(), String> {
    let (_, child) =
        X509Certificate::from_der(child).map_err(|e| format!("does not parse: {e}"))?;
    let (_, parent) =
        X509Certificate::from_der(parent).map_err(|e| format!("CA does not parse: {e}"))?;
    if child.issuer().as_raw() != parent.subject().as_raw() {
        return Err(format!(
            "issued by \"{}\", not by \"{}\"",
            child.issuer(),
            parent.subject()
        ));
    }
    child
        .verify_signature(Some(parent.public_key()))
        .map_err(|e| format!("signature does not verify with the CA's key: {e}"))
}

/// Checks that the first certificate of `chain` chains to `ca`, possibly through the
/// intermediates that follow it in the same file.
pub fn verify_chain(chain: &[Vec<u8>], ca: &[u8]) -> std::result::Result<(), String> {
    let Some(mut current) = chain.first() else {
        return Err("no certificate".into());
    };
    let mut remaining: Vec<&Vec<u8>> = chain.iter().skip(1).collect();
    loop {
        let direct = verify_signed_by(current, ca);
        if direct.is_ok() {
            return Ok(());
        }
        match remaining
            .iter()
            .position(|next| verify_signed_by(current, next).is_ok())
        {
            Some(i) => current = remaining.remove(i),
            None => return direct,
        }
    }
}
