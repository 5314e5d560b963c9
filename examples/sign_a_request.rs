//! Make a key and a certificate request for a user, and sign it with a CA, with the library:
//! `kubepki csr` and `kubepki sign`, as a program.
//!
//! cargo run --example sign_a_request

use kubepki::pki::cert::{self, Authority, CertFacts, CertSpec};
use kubepki::pki::csr::{self, CsrSpec};
use kubepki::pki::keys::{KeyAlgorithm, PrivateKey};
use kubepki::pki::names::AltNames;
use time::OffsetDateTime;

pub fn main() -> anyhow::Result<()> {
    let now = OffsetDateTime::now_utc();
    // A CA.
    let ca_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
    let (not_before, not_after) = cert::validity(now, cert::DEFAULT_CA_VALIDITY);
    let ca_spec = CertSpec {
        common_name: "example-ca".into(),
        organizations: vec![],
        alt_names: AltNames::default(),
        usages: vec![],
        is_ca: true,
        not_before,
        not_after,
    };
    let ca_der = cert::issue(&ca_spec, &ca_key, None)?;
    let ca = Authority::new(ca_der, ca_key).map_err(anyhow::Error::msg)?;
    // A user's key and request, as a user would send it.
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
    let request_der = csr::build(
        &CsrSpec {
            common_name: "jane".into(),
            organizations: vec!["developers".into()],
            alt_names: AltNames::default(),
        },
        &key,
    )?;
    // The signer: verify the request, then certify its key for client auth.
    let request = csr::parse(csr::csr_pem(&request_der).as_bytes()).map_err(anyhow::Error::msg)?;
    let (not_before, not_after) = cert::validity(now, cert::DEFAULT_VALIDITY);
    let spec = CertSpec {
        common_name: request.spec.common_name.clone(),
        organizations: request.spec.organizations.clone(),
        alt_names: request.spec.alt_names.clone(),
        usages: vec![kubepki::pki::catalog::ExtUsage::ClientAuth],
        is_ca: false,
        not_before,
        not_after,
    };
    let der = cert::issue_for_public_key(&spec, &request.public_key, &ca)?;
    let facts = CertFacts::from_der(&der).map_err(anyhow::Error::msg)?;
    println!(
        "{} signed by {}, valid until {}",
        facts.subject, facts.issuer, facts.not_after
    );
    print!("{}", cert::cert_pem(&der));
    Ok(())
}
