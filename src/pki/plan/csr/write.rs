//! What a request item writes: the new key (in its own file, or in a kubeconfig without
//! certificates, as kubeadm makes it), then the request.

use std::path::PathBuf;

use super::{CsrWork, KeyHome};
use crate::pki::csr;
use crate::pki::error::{Error, Result};
use crate::pki::keys::PrivateKey;
use crate::pki::kubeconfig::Kubeconfig;
use crate::pki::store::FileKind;

/// The files a request item writes for its new `key`: the key (or the kubeconfig holding it),
/// then the request, as kubeadm writes them.
pub(in crate::pki::plan) fn realize(
    work: &CsrWork,
    key: &PrivateKey,
) -> Result<Vec<(PathBuf, FileKind, String)>> {
    let der = csr::build(&work.request, key)?;
    let request = (
        work.csr_path.clone(),
        FileKind::CertificateRequest,
        csr::csr_pem(&der),
    );
    let key_file = match &work.key_goes_to {
        KeyHome::File(path) => (path.clone(), FileKind::PrivateKey, key.to_pem()?),
        KeyHome::Kubeconfig {
            path,
            server,
            cluster_name,
            user,
        } => (
            path.clone(),
            FileKind::Kubeconfig,
            kubeconfig_without_certificates(cluster_name, server, user, &key.to_pem()?)?,
        ),
    };
    Ok(vec![key_file, request])
}

/// kubeadm's partial kubeconfig: one cluster with its server, one user with `client-key-data`
/// only, one context; no `certificate-authority-data` and no `client-certificate-data` (Go's
/// `omitempty` leaves out the empty ones).
fn kubeconfig_without_certificates(
    cluster_name: &str,
    server: &str,
    user: &str,
    key_pem: &str,
) -> Result<String> {
    let mut config = Kubeconfig::with_client_cert(cluster_name, server, "", user, "", key_pem);
    for c in &mut config.clusters {
        c.cluster.certificate_authority_data = None;
    }
    for u in &mut config.users {
        u.user.client_certificate_data = None;
    }
    config.to_yaml().map_err(Error::Crypto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partial_kubeconfig_has_no_certificates() {
        let yaml =
            kubeconfig_without_certificates("kubernetes", "https://10.0.0.1:6443", "u", "KEY")
                .unwrap();
        assert!(!yaml.contains("certificate-authority-data"), "{yaml}");
        assert!(!yaml.contains("client-certificate-data"), "{yaml}");
        assert!(yaml.contains("client-key-data: S0VZ"), "{yaml}");
        assert!(yaml.contains("current-context: u@kubernetes"), "{yaml}");
        let parsed = Kubeconfig::parse(yaml.as_bytes()).unwrap();
        assert_eq!(
            parsed.current().unwrap().cluster.server,
            "https://10.0.0.1:6443"
        );
    }
}
