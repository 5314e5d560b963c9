//! `inspect`: what a file holds, in human terms and as data, without secrets. Certificates (and
//! bundles) as `openssl x509 -text` shows them plus their role in a kubeadm cluster; private keys
//! by algorithm and size only (and which certificate given alongside they belong to); requests as
//! `openssl req -text` shows them; kubeconfigs as `kubectl config view` shows them, with the
//! certificates inside described and no key or token; and CertificateSigningRequest objects.

pub mod cert;
mod kubeconfig;
mod role;

use serde::Serialize;
use time::OffsetDateTime;

use super::csr;
use super::keys::{KeyAlgorithm, PrivateKey};

pub use cert::CertView;
pub use kubeconfig::KubeconfigView;

/// One thing found in a file.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Item {
    Certificate(Box<CertView>),
    PrivateKey(KeyView),
    PublicKey(KeyView),
    CertificateRequest(Box<RequestView>),
    Kubeconfig(Box<KubeconfigView>),
}

/// A key, by what it is (never its value).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub algorithm: String,
    /// For a private key: the files given alongside whose certificate it is the key of.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<String>,
    #[serde(skip)]
    pub public_key_raw: Vec<u8>,
}

/// A PKCS#10 request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestView {
    pub subject: String,
    #[serde(flatten)]
    pub request: csr::CsrSpec,
    pub public_key: String,
    /// Its signature verified with its own key (proof of possession); a request that fails is
    /// not shown at all, but named as forged.
    pub signature_valid: bool,
    pub asks_ca: bool,
    pub requested_usages: Vec<String>,
}

/// Everything in one input.
#[derive(Debug, Clone, Serialize)]
pub struct Inspected {
    /// The file name, or `-` for stdin.
    pub file: String,
    pub items: Vec<Item>,
}

/// Reads what `data` holds (`file` names it, for messages and roles). Errors name the problem,
/// never the contents.
pub fn inspect(data: &[u8], file: &str, now: OffsetDateTime) -> Result<Inspected, String> {
    let looks_like_pem = data.windows(11).any(|w| w == b"-----BEGIN ");
    let items = if looks_like_pem {
        pem_items(data, file, now)?
    } else if let Ok(view) = role::describe(data, Some(file), now) {
        vec![Item::Certificate(Box::new(view))]
    } else if let Ok(request) = csr::parse(data) {
        vec![Item::CertificateRequest(Box::new(request_view(&request)))]
    } else {
        vec![Item::Kubeconfig(Box::new(kubeconfig::describe(data, now)?))]
    };
    Ok(Inspected {
        file: file.to_string(),
        items,
    })
}

fn pem_items(data: &[u8], file: &str, now: OffsetDateTime) -> Result<Vec<Item>, String> {
    let blocks = pem::parse_many(data).map_err(|_| "is not valid PEM".to_string())?;
    let mut items = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let n = i + 1;
        match block.tag() {
            "CERTIFICATE" => {
                let view = role::describe(block.contents(), Some(file), now)
                    .map_err(|e| format!("PEM block {n}: {e}"))?;
                items.push(Item::Certificate(Box::new(view)));
            }
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => {
                let request = csr::parse(&pem::encode(block).into_bytes())
                    .map_err(|e| format!("PEM block {n}: {e}"))?;
                items.push(Item::CertificateRequest(Box::new(request_view(&request))));
            }
            "PUBLIC KEY" => {
                let key = crate::pki::keys::SubjectPublicKey::from_spki_der(block.contents())
                    .map_err(|e| format!("PEM block {n}: {e}"))?;
                items.push(Item::PublicKey(KeyView {
                    algorithm: key.algorithm().to_string(),
                    matches: vec![],
                    public_key_raw: key.raw().to_vec(),
                }));
            }
            tag if tag.ends_with("PRIVATE KEY") => {
                // The key block alone (and an EC PARAMETERS block before it, if any).
                let key = PrivateKey::from_pem(pem::encode(block).as_bytes())
                    .map_err(|e| format!("PEM block {n}: {e}"))?;
                items.push(Item::PrivateKey(key_view(&key)));
            }
            "EC PARAMETERS" => {}
            _ => return Err(format!("PEM block {n} is of a kind inspect does not read")),
        }
    }
    if items.is_empty() {
        return Err("holds no certificate, key or request".into());
    }
    Ok(items)
}

fn key_view(key: &PrivateKey) -> KeyView {
    KeyView {
        algorithm: key.algorithm().to_string(),
        matches: vec![],
        public_key_raw: key.public_key_raw().to_vec(),
    }
}

fn request_view(r: &csr::Request) -> RequestView {
    RequestView {
        subject: r.subject.clone(),
        request: r.spec.clone(),
        public_key: KeyAlgorithm::to_string(&r.key_algorithm),
        signature_valid: true,
        asks_ca: r.asks_ca,
        requested_usages: r.requested_usages.clone(),
    }
}

/// Marks every private key among `all` with the files whose certificate it is the key of.
pub fn match_keys(all: &mut [Inspected]) {
    let certs: Vec<(String, Vec<u8>)> = all
        .iter()
        .flat_map(|i| {
            i.items.iter().filter_map(move |item| match item {
                Item::Certificate(c) => Some((i.file.clone(), c.public_key_raw.clone())),
                _ => None,
            })
        })
        .collect();
    for inspected in all.iter_mut() {
        for item in &mut inspected.items {
            if let Item::PrivateKey(k) = item {
                k.matches = certs
                    .iter()
                    .filter(|(_, raw)| *raw == k.public_key_raw)
                    .map(|(f, _)| f.clone())
                    .collect();
            }
        }
    }
}
