//! The entries `current-context` selects: finding them, reading their CA and client credentials
//! (embedded data or a file next to the kubeconfig), and replacing them on renewal.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{ClusterEntry, Kubeconfig, UserEntry};
use crate::pki::store;
use crate::pki::untrusted::show_untrusted;

/// The cluster, context and user that `current-context` selects.
pub struct Current<'a> {
    /// The selected cluster's name.
    pub cluster_name: &'a str,
    /// The selected cluster.
    pub cluster: &'a ClusterEntry,
    /// The selected user's name.
    pub user_name: &'a str,
    /// The selected user's credentials.
    pub user: &'a UserEntry,
}

impl Kubeconfig {
    fn current_names(&self) -> Result<(String, String), String> {
        let current = self.current()?;
        Ok((
            current.cluster_name.to_string(),
            current.user_name.to_string(),
        ))
    }

    /// Replaces the current user's embedded client certificate and key.
    pub fn set_client_credentials(&mut self, cert_pem: &str, key_pem: &str) -> Result<(), String> {
        let (_, user) = self.current_names()?;
        let entry = self
            .users
            .iter_mut()
            .find(|u| u.name == user)
            .ok_or("the current user vanished")?;
        entry.user.client_certificate_data = Some(BASE64.encode(cert_pem));
        entry.user.client_key_data = Some(BASE64.encode(key_pem));
        entry.user.client_certificate = None;
        entry.user.client_key = None;
        Ok(())
    }

    /// Sets the current cluster's embedded CA, unless the file names its CA by path.
    pub fn refresh_ca(&mut self, ca_pem: &str) -> Result<(), String> {
        let (cluster, _) = self.current_names()?;
        let entry = self
            .clusters
            .iter_mut()
            .find(|c| c.name == cluster)
            .ok_or("the current cluster vanished")?;
        if entry.cluster.certificate_authority.is_none() {
            entry.cluster.certificate_authority_data = Some(BASE64.encode(ca_pem));
        }
        Ok(())
    }

    /// The entries `current-context` points at.
    pub fn current(&self) -> Result<Current<'_>, String> {
        let context = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .ok_or_else(|| {
                format!(
                    "current-context {} is not defined",
                    show_untrusted(&self.current_context)
                )
            })?;
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == context.context.cluster)
            .ok_or_else(|| {
                format!(
                    "cluster {} is not defined",
                    show_untrusted(&context.context.cluster)
                )
            })?;
        let user = self
            .users
            .iter()
            .find(|u| u.name == context.context.user)
            .ok_or_else(|| {
                format!(
                    "user {} is not defined",
                    show_untrusted(&context.context.user)
                )
            })?;
        Ok(Current {
            cluster_name: &cluster.name,
            cluster: &cluster.cluster,
            user_name: &user.name,
            user: &user.user,
        })
    }
}

impl Current<'_> {
    /// The CA PEM: embedded data, or the file it names (relative to the kubeconfig's directory).
    pub fn ca_pem(&self, dir: &Path) -> Result<Vec<u8>, String> {
        data_or_file(
            self.cluster.certificate_authority_data.as_deref(),
            self.cluster.certificate_authority.as_deref(),
            dir,
            "certificate-authority",
        )
    }

    /// The client certificate PEM: embedded data, or the file it names (relative to `dir`, the
    /// kubeconfig's directory). Errs when there is neither, the data is not base64, or the file
    /// cannot be read.
    pub fn client_cert_pem(&self, dir: &Path) -> Result<Vec<u8>, String> {
        data_or_file(
            self.user.client_certificate_data.as_deref(),
            self.user.client_certificate.as_deref(),
            dir,
            "client-certificate",
        )
    }

    /// The client key PEM, found as [`Current::client_cert_pem`] finds the certificate; an
    /// error never holds the key.
    pub fn client_key_pem(&self, dir: &Path) -> Result<Vec<u8>, String> {
        data_or_file(
            self.user.client_key_data.as_deref(),
            self.user.client_key.as_deref(),
            dir,
            "client-key",
        )
    }
}

fn data_or_file(
    data: Option<&str>,
    file: Option<&str>,
    dir: &Path,
    what: &str,
) -> Result<Vec<u8>, String> {
    match (data, file) {
        // The decoder's message names the offending byte; say where, not what.
        (Some(d), _) => BASE64.decode(d.trim()).map_err(|e| {
            let at = match e {
                base64::DecodeError::InvalidByte(offset, _)
                | base64::DecodeError::InvalidLastSymbol { offset, .. } => {
                    format!(" (at character {})", offset + 1)
                }
                _ => String::new(),
            };
            format!("{what}-data is not valid base64{at}")
        }),
        // A key pasted where a path belongs is not a path: do not print it, do not open it.
        (None, Some(f)) if !is_plausible_path(f) => Err(format!(
            "{what} (a value of {} bytes that is not a file path) was not read",
            f.len()
        )),
        // Read as every file of the tree is: regular files only, capped, never blocking.
        (None, Some(f)) => match store::read_file(&dir.join(f)) {
            Ok(Some(data)) => Ok(data.bytes),
            Ok(None) => Err(format!("{what} {f:?} does not exist")),
            Err(e) => Err(format!("{what}: {e}")),
        },
        (None, None) => Err(format!("has neither {what}-data nor {what}")),
    }
}

/// A path as a kubeconfig may name one: one line, no control characters, no component longer
/// than a file name can be.
fn is_plausible_path(f: &str) -> bool {
    !f.is_empty()
        && f.len() <= 4096
        && !f.chars().any(char::is_control)
        && f.split('/').all(|c| c.len() <= 255)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::kubeconfig::tests::{MARKER, assert_no_secret, pasted_key};

    #[test]
    fn errors_about_the_current_entries_never_quote_the_file() {
        let key = pasted_key();
        let key_b64 = BASE64.encode(&key);
        // current-context holds the key.
        let text =
            format!("apiVersion: v1\nkind: Config\ncurrent-context: {key_b64}\ncontexts: []\n");
        let k = Kubeconfig::parse(text.as_bytes()).unwrap();
        let err = k.current().err().unwrap();
        assert!(err.starts_with("current-context a value of"), "{err}");
        assert_no_secret(&err, &[&key_b64[..24]]);

        // A key pasted where a path belongs, and key data that is not base64.
        let mut k = Kubeconfig::with_client_cert("c", "https://x:6443", "CA", "u", "CERT", "KEY");
        k.users[0].user.client_key_data = None;
        k.users[0].user.client_key = Some(key.clone());
        k.users[0].user.client_certificate_data = Some(format!("{MARKER}!!{MARKER}"));
        let current = k.current().unwrap();
        let err = current
            .client_key_pem(Path::new("/nonexistent"))
            .unwrap_err();
        assert!(err.contains("client-key (a value of"), "{err}");
        assert_no_secret(&err, &[MARKER, "MIIEowIBAAKCAQEA"]);
        let err = current.client_cert_pem(Path::new(".")).unwrap_err();
        assert!(
            err.contains("client-certificate-data is not valid base64"),
            "{err}"
        );
        assert_no_secret(&err, &[MARKER]);
    }
}
