//! A kubeconfig as read: the parsed file, and its current user's credentials resolved (embedded
//! data, or files it names, read as safely as any file of the tree).

use std::path::Path;

use super::{FileMeta, Found, Problem};
use crate::pki::cert::{self, CertFacts};
use crate::pki::keys::PrivateKey;
use crate::pki::kubeconfig::Kubeconfig;
use crate::pki::store;

/// A kubeconfig file and what its current context selects.
#[derive(Debug)]
pub struct KubeconfigFile {
    /// The whole file, parsed.
    pub config: Kubeconfig,
    /// The file's mode and owner.
    pub meta: FileMeta,
    /// The current context's cluster and user, or why they cannot be resolved.
    pub current: Result<UserCredentials, String>,
}

/// The cluster and client identity of a kubeconfig's current context.
#[derive(Debug)]
pub struct UserCredentials {
    /// The name of the current context's cluster.
    pub cluster_name: String,
    /// That cluster's API server URL.
    pub server: String,
    /// The CA certificates the kubeconfig trusts (a bundle during CA rotation).
    pub ca: Result<Vec<Vec<u8>>, String>,
    /// The client certificate chain and the first certificate's facts.
    pub client: Result<(Vec<Vec<u8>>, CertFacts), String>,
    /// The client's private key (embedded, or from the file the user names).
    pub client_key: Result<PrivateKey, String>,
    /// The file named by `client-certificate` when the certificate is not embedded.
    pub client_certificate_file: Option<String>,
}

pub(super) fn read(path: &Path) -> Found<KubeconfigFile> {
    let data = match store::read_file(path) {
        Ok(None) => return Found::Missing,
        Ok(Some(d)) => d,
        Err(e) => return Found::Broken(e.into()),
    };
    let config = match Kubeconfig::parse(&data.bytes) {
        Ok(c) => c,
        Err(e) => return Found::Broken(Problem::bad(e)),
    };
    let current = credentials(&config, store::parent_dir(path));
    Found::Present(Box::new(KubeconfigFile {
        config,
        meta: FileMeta {
            mode: data.mode,
            uid: data.uid,
        },
        current,
    }))
}

fn credentials(config: &Kubeconfig, dir: &Path) -> Result<UserCredentials, String> {
    let current = config.current()?;
    let ca = current
        .ca_pem(dir)
        .and_then(|pem| cert::certs_from_pem(&pem));
    let client = current
        .client_cert_pem(dir)
        .and_then(|pem| cert::certs_from_pem(&pem))
        .and_then(|chain| {
            let facts = CertFacts::from_der(&chain[0])?;
            Ok((chain, facts))
        });
    let client_key = current
        .client_key_pem(dir)
        .and_then(|pem| PrivateKey::from_pem(&pem));
    Ok(UserCredentials {
        cluster_name: current.cluster_name.to_string(),
        server: current.cluster.server.clone(),
        ca,
        client,
        client_key,
        client_certificate_file: current
            .user
            .client_certificate_data
            .is_none()
            .then(|| current.user.client_certificate.clone())
            .flatten(),
    })
}
