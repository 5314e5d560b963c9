//! Renewal (kubeadm's `certs renew`): a certificate is issued again with the identity of the
//! one on disk (subject, SANs, extended key usages copied from it, so SANs a user added survive),
//! a fresh serial and validity, signed by its CA as it is on disk now, and by default a new key of
//! the same algorithm. Kubeconfigs get a new client certificate and key and the current CA;
//! everything else in them is kept. CAs are never renewed here.

use std::path::PathBuf;

use super::{Action, CaState, Decision, ItemKind, PlanItem, Request, Work, kubeconfig_ca};
use crate::pki::catalog::{self, KubeconfigPlacement, KubeconfigProfile, Profile};
use crate::pki::cert::{self, CertFacts, CertSpec};
use crate::pki::error::{Error, Result};
use crate::pki::keys::PrivateKey;
use crate::pki::kubeconfig::Kubeconfig;
use crate::pki::store::{self, Layout, NODE_DIR, NODE_KUBECONFIG_DIR};

/// Something `renew` can renew.
#[derive(Debug, Clone)]
pub enum Target {
    /// A catalog leaf; `node` is empty for control-plane certificates.
    Cert {
        profile: &'static Profile,
        node: String,
    },
    Kubeconfig {
        profile: &'static KubeconfigProfile,
        node: String,
    },
}

impl Target {
    /// The CA that signs the renewed certificate.
    pub fn ca(&self) -> &'static Profile {
        match self {
            Target::Cert { profile, .. } => profile.issuer(),
            Target::Kubeconfig { .. } => kubeconfig_ca(),
        }
    }
}

/// Why `renew ca` is refused.
pub const CA_ROTATION: &str = "CA certificates are not renewed by `kubepki renew`: replacing a CA \
     is CA rotation, a separate operation (every component must trust the new CA before it signs \
     anything; see the Kubernetes docs, \"Manual rotation of CA certificates\")";

/// The targets a user-facing name stands for: a catalog certificate name, `kubelet` (both
/// kubelet certificates of every node), a kubeconfig file or profile name (`admin.conf`,
/// `admin`), or `all`. Per-node targets cover `nodes`, or every node found on disk.
pub fn targets(
    name: &str,
    layout: &Layout,
    nodes: &[String],
) -> std::result::Result<Vec<Target>, String> {
    let node_dirs = |root: PathBuf| -> Vec<String> {
        if nodes.is_empty() {
            store::subdirectories(&root)
        } else {
            nodes.to_vec()
        }
    };
    let cert_nodes = || node_dirs(layout.cert_dir().join(NODE_DIR));
    let kubeconfig_nodes = || node_dirs(layout.kubeconfig_dir().join(NODE_KUBECONFIG_DIR));
    let cert = |profile: &'static Profile| -> Vec<Target> {
        if profile.per_node() {
            cert_nodes()
                .into_iter()
                .map(|node| Target::Cert { profile, node })
                .collect()
        } else {
            vec![Target::Cert {
                profile,
                node: String::new(),
            }]
        }
    };
    let kubeconfig = |profile: &'static KubeconfigProfile| -> Vec<Target> {
        match profile.placement {
            KubeconfigPlacement::ControlPlane => vec![Target::Kubeconfig {
                profile,
                node: String::new(),
            }],
            KubeconfigPlacement::PerNode => kubeconfig_nodes()
                .into_iter()
                .map(|node| Target::Kubeconfig { profile, node })
                .collect(),
        }
    };
    match name {
        "all" => Ok(catalog::CATALOG
            .iter()
            .filter(|p| !p.is_ca())
            .flat_map(cert)
            .chain(catalog::KUBECONFIGS.iter().flat_map(kubeconfig))
            .collect()),
        "kubelet" => Ok(catalog::node_leaves().flat_map(cert).collect()),
        _ => {
            if let Some(p) = catalog::find(name) {
                return if p.is_ca() {
                    Err(CA_ROTATION.to_string())
                } else {
                    Ok(cert(p))
                };
            }
            let by_file = catalog::KUBECONFIGS
                .iter()
                .find(|k| k.placement == KubeconfigPlacement::ControlPlane && k.file_name == name);
            match by_file.or_else(|| catalog::find_kubeconfig(name)) {
                Some(k) => Ok(kubeconfig(k)),
                None => Err(format!(
                    "unknown name {name:?}; expected one of: {}, kubelet, {}, node-kubelet, all",
                    catalog::leaf_names().join(", "),
                    catalog::control_plane_kubeconfigs()
                        .map(|k| k.file_name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
    }
}

/// Plans the renewal of one target. Missing files and external CAs are skips for `all` and
/// errors when the target was asked for by name.
pub(super) fn plan(
    request: &Request,
    target: &Target,
    explicit: bool,
    ca: &CaState,
) -> Result<PlanItem> {
    let layout = &request.layout;
    let (name, node, path, key_path) = match target {
        Target::Cert { profile, node } => (
            profile.name.to_string(),
            node,
            layout.cert_path(profile, node),
            Some(layout.key_path(profile, node)),
        ),
        Target::Kubeconfig { profile, node } => (
            match profile.placement {
                KubeconfigPlacement::ControlPlane => profile.file_name.to_string(),
                KubeconfigPlacement::PerNode => profile.name.to_string(),
            },
            node,
            layout.kubeconfig_path(profile, node),
            None,
        ),
    };
    let kind = match target {
        Target::Cert { .. } => ItemKind::Certificate,
        Target::Kubeconfig { .. } => ItemKind::Kubeconfig,
    };
    let skip = |reason: String| -> Result<PlanItem> {
        Ok(PlanItem {
            decision: Decision {
                kind,
                name: name.clone(),
                node: (!node.is_empty()).then(|| node.clone()),
                action: Action::Skip,
                reason,
                files: vec![path.clone()],
            },
            spec: None,
            key_algorithm: None,
            work: Work::Nothing,
        })
    };
    let refuse = |why: String| -> Result<PlanItem> {
        if explicit {
            Err(Error::bad_file(
                &path,
                format!("cannot renew {name}: {why}"),
            ))
        } else {
            skip(why)
        }
    };
    if !store::exists(&path) {
        return refuse("missing".into());
    }
    let ca_cert = layout.cert_path(target.ca(), "");
    match ca {
        CaState::External { .. } => {
            return refuse(format!(
                "externally managed: the {} CA key is absent",
                target.ca().name
            ));
        }
        CaState::Missing | CaState::Unusable => {
            return Err(Error::bad_file(
                &ca_cert,
                format!("cannot renew {name}: its CA is missing"),
            ));
        }
        CaState::New | CaState::Loaded { .. } => {}
    }
    let data = store::read_optional(&path)?.unwrap_or_default();

    // The certificate to copy, the key it has, and (for kubeconfigs) the file to rewrite.
    let (facts, old_key, config) = match target {
        Target::Cert { .. } => {
            let chain = cert::certs_from_pem(&data).map_err(|e| Error::bad_file(&path, e))?;
            let facts = CertFacts::from_der(&chain[0]).map_err(|e| Error::bad_file(&path, e))?;
            let key_path = key_path.as_ref().expect("certificates have a key file");
            let key = || -> std::result::Result<PrivateKey, String> {
                let pem = std::fs::read(key_path).map_err(|e| format!("cannot read it: {e}"))?;
                PrivateKey::from_pem(&pem)
            };
            let key = if request.options.reuse_key {
                Some(key().map_err(|e| Error::bad_file(key_path, e))?)
            } else {
                None
            };
            (facts, key, None)
        }
        Target::Kubeconfig { .. } => {
            let config = Kubeconfig::parse(&data).map_err(|e| Error::bad_file(&path, e))?;
            let current = config.current().map_err(|e| Error::bad_file(&path, e))?;
            if current.user.client_certificate_data.is_none() {
                if let Some(file) = &current.user.client_certificate {
                    return refuse(format!(
                        "its client certificate is the file {file}, which the kubelet rotates itself"
                    ));
                }
                return Err(Error::bad_file(
                    &path,
                    "has no embedded client certificate to renew",
                ));
            }
            let dir = store::parent_dir(&path);
            let pem = current
                .client_cert_pem(dir)
                .map_err(|e| Error::bad_file(&path, e))?;
            let chain = cert::certs_from_pem(&pem)
                .map_err(|e| Error::bad_file(&path, format!("client certificate: {e}")))?;
            let facts = CertFacts::from_der(&chain[0]).map_err(|e| Error::bad_file(&path, e))?;
            let key = if request.options.reuse_key {
                let pem = current
                    .client_key_pem(dir)
                    .map_err(|e| Error::bad_file(&path, e))?;
                Some(
                    PrivateKey::from_pem(&pem)
                        .map_err(|e| Error::bad_file(&path, format!("client key: {e}")))?,
                )
            } else {
                None
            };
            (facts, key, Some(config))
        }
    };
    if let Some(key) = &old_key
        && key.public_key_raw() != facts.public_key_raw
    {
        return Err(Error::bad_file(
            key_path.as_ref().unwrap_or(&path),
            "--reuse-key: the key does not match the certificate",
        ));
    }

    let opts = &request.options;
    let (not_before, not_after) = cert::validity(opts.now, opts.validity);
    let spec = CertSpec {
        common_name: facts.common_name.clone(),
        organizations: facts.organizations.clone(),
        alt_names: facts.alt_names.clone(),
        usages: facts.usages.clone(),
        is_ca: false,
        not_before,
        not_after,
    };
    let key_algorithm = match (&old_key, opts.keep_key_algorithm) {
        (Some(k), _) => k.algorithm(),
        (None, true) => facts.key_algorithm.unwrap_or(opts.key_algorithm),
        (None, false) => opts.key_algorithm,
    };
    let reason = format!(
        "was valid until {}; same subject, SANs and usages, {}",
        facts.not_after.date(),
        if old_key.is_some() {
            "same key"
        } else {
            "new key"
        }
    );
    let work = match (target, config) {
        (Target::Cert { .. }, _) => Work::Cert {
            ca: Some(target.ca().name),
            cert_path: path.clone(),
            key_path: key_path.clone().expect("certificates have a key file"),
            reuse_key: old_key,
        },
        (Target::Kubeconfig { .. }, Some(config)) => Work::RenewKubeconfig {
            path: path.clone(),
            config: Box::new(config),
            reuse_key: old_key,
        },
        (Target::Kubeconfig { .. }, None) => unreachable!("a kubeconfig target was parsed"),
    };
    let files = match (&work, &key_path) {
        (
            Work::Cert {
                reuse_key: None, ..
            },
            Some(k),
        ) => vec![k.clone(), path.clone()],
        _ => vec![path.clone()],
    };
    Ok(PlanItem {
        decision: Decision {
            kind,
            name,
            node: (!node.is_empty()).then(|| node.clone()),
            action: Action::Renew,
            reason,
            files,
        },
        spec: Some(spec),
        key_algorithm: Some(key_algorithm),
        work,
    })
}

/// The kubeconfig with its current user's client certificate and key replaced and its embedded
/// CA refreshed (a CA given as a file path is left as it is).
pub(super) fn rewrite_kubeconfig(
    config: &Kubeconfig,
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<String> {
    let mut config = config.clone();
    config
        .set_client_credentials(cert_pem, key_pem)
        .map_err(Error::Crypto)?;
    config.refresh_ca(ca_pem).map_err(Error::Crypto)?;
    config.to_yaml().map_err(Error::Crypto)
}
