//! Renewal (kubeadm's `certs renew`): a certificate is issued again with the identity of the
//! one on disk (subject, SANs, extended key usages copied from it, so SANs a user added survive),
//! a fresh serial and validity, signed by its CA as it is on disk now, and by default a new key of
//! the same algorithm. Kubeconfigs get a new client certificate and key and the current CA;
//! everything else in them is kept. CAs are never renewed here.

use std::path::PathBuf;

use super::authority::{CaFiles, CaState};
use super::{Action, Decision, ItemKind, PlanItem, Request, Work};
use crate::pki::catalog::kubeconfig_ca;
use crate::pki::catalog::{KubeconfigPlacement, KubeconfigProfile, Profile};
use crate::pki::cert::{self, CertFacts, CertSpec};
use crate::pki::error::{Error, Result};
use crate::pki::inventory::{Found, Inventory, Wanted};
use crate::pki::keys::PrivateKey;
use crate::pki::kubeconfig::Kubeconfig;
use crate::pki::store::Layout;

/// Why `renew ca` is refused.
pub(crate) const CA_ROTATION: &str = "CA certificates are not renewed by `kubepki renew`: replacing a CA \
     is CA rotation, a separate operation (every component must trust the new CA before it signs \
     anything; see the Kubernetes docs, \"Manual rotation of CA certificates\")";

/// Something `renew` can renew.
#[derive(Debug, Clone)]
pub enum Target {
    /// A catalog leaf.
    Cert {
        /// The catalog entry (a leaf: CAs are never renewed).
        profile: &'static Profile,
        /// The node of a per-node certificate; empty for control-plane certificates.
        node: String,
    },
    /// A kubeconfig of the catalog: its current user's client certificate and key.
    Kubeconfig {
        /// The catalog entry.
        profile: &'static KubeconfigProfile,
        /// The node of a per-node kubeconfig; empty for kubeadm's five.
        node: String,
    },
    /// Any kubeconfig file, named by its path (one made by `write-kubeconfig user --out`).
    KubeconfigFile(PathBuf),
}

impl Target {
    /// The CA that signs the renewed certificate.
    pub fn ca(&self) -> &'static Profile {
        match self {
            Target::Cert { profile, .. } => profile.issuer(),
            Target::Kubeconfig { .. } | Target::KubeconfigFile(_) => kubeconfig_ca(),
        }
    }

    /// The files renewing this target reads.
    pub fn wanted(&self, layout: &Layout) -> Wanted {
        match self {
            Target::Cert { profile, node } => Wanted::Pair(profile, node.clone()),
            Target::Kubeconfig { profile, node } => {
                Wanted::Kubeconfig(layout.kubeconfig_path(profile, node))
            }
            Target::KubeconfigFile(path) => Wanted::Kubeconfig(path.clone()),
        }
    }
}

/// Plans the renewal of one target. Missing files and external CAs are skips for `all` and
/// errors when the target was asked for by name.
pub(super) fn plan(
    request: &Request,
    inventory: &Inventory,
    target: &Target,
    (explicit, within): (bool, Option<time::Duration>),
    (ca, ca_files): (&CaState, CaFiles<'_>),
) -> Result<PlanItem> {
    // The renewed certificate copies the old one's identity as a CA:FALSE leaf: for a CA that
    // would replace the CA with a leaf. `renew` never names one; a library caller can.
    if let Target::Cert { profile, .. } = target
        && profile.is_ca()
    {
        return Err(Error::usage(profile.name, CA_ROTATION));
    }
    let layout = &request.layout;
    let no_node = String::new();
    let (name, node, path, key_path, kind) = match target {
        Target::Cert { profile, node } => (
            profile.name.to_string(),
            node,
            layout.cert_path(profile, node),
            Some(layout.key_path(profile, node)),
            ItemKind::Certificate,
        ),
        Target::Kubeconfig { profile, node } => (
            match profile.placement {
                KubeconfigPlacement::ControlPlane => profile.file_name.to_string(),
                KubeconfigPlacement::PerNode => profile.name.to_string(),
            },
            node,
            layout.kubeconfig_path(profile, node),
            None,
            ItemKind::Kubeconfig,
        ),
        Target::KubeconfigFile(path) => (
            path.display().to_string(),
            &no_node,
            path.clone(),
            None,
            ItemKind::Kubeconfig,
        ),
    };
    // What a skipped certificate holds, for the report.
    let kept = match target {
        Target::Cert { profile, node } => inventory
            .pair(profile, node)
            .and_then(|p| p.cert.present())
            .map(|c| Box::new(c.facts.clone())),
        Target::Kubeconfig { .. } | Target::KubeconfigFile(_) => None,
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
            work: Work::Keep(kept.clone()),
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
    let present = match target {
        Target::Cert { profile, node } => inventory
            .pair(profile, node)
            .is_some_and(|p| p.cert.exists()),
        Target::Kubeconfig { .. } | Target::KubeconfigFile(_) => {
            inventory.kubeconfig(&path).is_some_and(Found::exists)
        }
    };
    if !present {
        return refuse("missing".into());
    }
    match ca {
        CaState::External { .. } => {
            return refuse(format!(
                "externally managed: the {} CA key is absent",
                target.ca().name
            ));
        }
        CaState::Missing => {
            return Err(Error::bad_file(
                ca_files.cert,
                format!("cannot renew {name}: its CA is missing"),
            ));
        }
        CaState::New | CaState::Loaded { .. } => {}
    }
    let reuse = request.options.reuse_key;

    // The certificate to copy, the key it has, and (for kubeconfigs) the file to rewrite.
    let (facts, old_key, config) = match target {
        Target::Cert { profile, node } => {
            let pair = inventory
                .pair(profile, node)
                .ok_or_else(|| Error::Crypto("internal: not read".into()))?;
            let facts = match &pair.cert {
                Found::Present(c) => c.facts.clone(),
                Found::Broken(p) => return Err(p.to_error(&path)),
                Found::Missing => return refuse("missing".into()),
            };
            let key_path = &pair.key_path;
            let key = match (&pair.key, reuse) {
                (_, false) => None,
                (Found::Present(k), true) => Some(
                    k.key
                        .duplicate()
                        .map_err(|e| Error::bad_file(key_path, e))?,
                ),
                (Found::Missing, true) => {
                    return Err(Error::bad_file(
                        key_path,
                        "cannot read it: it does not exist",
                    ));
                }
                (Found::Broken(p), true) => return Err(p.to_error(key_path)),
            };
            (facts, key, None)
        }
        Target::Kubeconfig { .. } | Target::KubeconfigFile(_) => {
            let file = match inventory.kubeconfig(&path) {
                Some(Found::Present(f)) => f,
                Some(Found::Broken(p)) => return Err(p.to_error(&path)),
                _ => return refuse("missing".into()),
            };
            let current = file
                .current
                .as_ref()
                .map_err(|e| Error::bad_file(&path, e.clone()))?;
            // The kubelet's own rotating credential is left to the kubelet; any other
            // credential given by file is renewed into the kubeconfig itself (kubeadm's
            // layout), and the files it named are left as they are.
            if let Some(file) = current
                .client_certificate_file
                .as_deref()
                .filter(|f| is_kubelet_rotated(f))
            {
                return refuse(format!(
                    "its client certificate is the file {file}, which the kubelet rotates itself"
                ));
            }
            let (_, facts) = current
                .client
                .as_ref()
                .map_err(|e| Error::bad_file(&path, format!("client certificate: {e}")))?;
            let key = if reuse {
                let key = current
                    .client_key
                    .as_ref()
                    .map_err(|e| Error::bad_file(&path, format!("client key: {e}")))?;
                Some(key.duplicate().map_err(|e| Error::bad_file(&path, e))?)
            } else {
                None
            };
            (facts.clone(), key, Some(file.config.clone()))
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
    if let Some(within) = within
        && facts.not_after - request.options.now > within
    {
        return skip(format!(
            "valid until {}, not due (--within {})",
            facts.not_after.date(),
            crate::pki::duration::format_go(within)
        ));
    }
    let item = renewal(request, &facts, old_key, target, path, key_path, config)?;
    Ok(PlanItem {
        decision: Decision {
            kind,
            name,
            node: (!node.is_empty()).then(|| node.clone()),
            ..item.decision
        },
        ..item
    })
}

/// Whether a kubeconfig's client certificate file is the one the kubelet rotates:
/// `<kubelet cert-dir>/kubelet-client-current.pem`, a link to the newest certificate it obtained.
fn is_kubelet_rotated(file: &str) -> bool {
    std::path::Path::new(file)
        .file_name()
        .is_some_and(|n| n == KUBELET_ROTATED_CLIENT)
}

/// The file the kubelet keeps its current client certificate and key in (`--rotate-certificates`).
pub const KUBELET_ROTATED_CLIENT: &str = "kubelet-client-current.pem";

/// The renewal of a certificate with `facts`: same identity, fresh validity, the kept or a new
/// key.
fn renewal(
    request: &Request,
    facts: &CertFacts,
    old_key: Option<PrivateKey>,
    target: &Target,
    path: PathBuf,
    key_path: Option<PathBuf>,
    config: Option<Kubeconfig>,
) -> Result<PlanItem> {
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
    let (work, files) = match (target, config, key_path) {
        (Target::Cert { .. }, _, Some(key_path)) => {
            let files = if old_key.is_none() {
                vec![key_path.clone(), path.clone()]
            } else {
                vec![path.clone()]
            };
            let work = Work::Cert {
                ca: Some(target.ca().name),
                cert_path: path,
                key_path,
                reuse_key: old_key,
            };
            (work, files)
        }
        (Target::Kubeconfig { .. } | Target::KubeconfigFile(_), Some(config), _) => {
            let files = vec![path.clone()];
            let work = Work::RenewKubeconfig {
                path,
                config: Box::new(config),
                reuse_key: old_key,
            };
            (work, files)
        }
        _ => {
            return Err(Error::Crypto(
                "internal: a renewal without its files".into(),
            ));
        }
    };
    Ok(PlanItem {
        decision: Decision {
            kind: ItemKind::Certificate,
            name: String::new(),
            node: None,
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

#[cfg(test)]
mod tests {
    use super::super::{Options, Request, Want, plan};
    use super::Target;
    use crate::pki::cert;
    use crate::pki::inventory::Inventory;
    use crate::pki::keys::KeyAlgorithm;
    use crate::pki::store::Layout;
    use crate::pki::{catalog, selection::Selection};

    fn ca() -> &'static catalog::Profile {
        catalog::find("ca").unwrap()
    }

    fn request(layout: &Layout, wants: Vec<Want>) -> Request {
        Request {
            layout: layout.clone(),
            cluster: None,
            wants,
            options: Options {
                key_algorithm: KeyAlgorithm::EcdsaP256,
                validity: cert::DEFAULT_VALIDITY,
                ca_validity: cert::DEFAULT_CA_VALIDITY,
                force: false,
                reuse_key: false,
                keep_key_algorithm: false,
                now: time::OffsetDateTime::now_utc(),
            },
        }
    }

    fn run(request: &Request) -> crate::pki::error::Result<()> {
        let inventory = Inventory::read(&request.layout, &request.files());
        plan(request, &inventory)?.execute().map(drop)
    }

    // `Target` is public: a library caller can name a CA, which `kubepki renew` never offers.
    // Renewing copies the subject into a CA:FALSE certificate, so the CA must be refused, not
    // overwritten with a leaf.
    #[test]
    fn a_ca_is_not_renewed_into_a_leaf() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("pki"), dir.path());
        let node = "node-1".parse().unwrap();
        let cas: Vec<Want> = Selection::new(false)
            .init(&node)
            .into_iter()
            .filter(|w| matches!(w, Want::Cert { profile, .. } if profile.is_ca()))
            .collect();
        run(&request(&layout, cas)).unwrap();
        let ca_path = layout.cert_path(ca(), "");
        let before = std::fs::read(&ca_path).unwrap();
        let renew = Want::Renew {
            target: Target::Cert {
                profile: ca(),
                node: String::new(),
            },
            explicit: true,
            within: None,
        };
        let err = run(&request(&layout, vec![renew])).unwrap_err();
        assert!(err.to_string().contains("CA rotation"), "{err}");
        assert_eq!(
            std::fs::read(&ca_path).unwrap(),
            before,
            "ca.crt was rewritten"
        );
    }

    // `NodeSpec` and `Target` have public fields: a node name a library caller builds is
    // checked before it can pick a directory outside the tree.
    #[test]
    fn a_node_name_that_climbs_out_of_the_tree_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("pki"), dir.path());
        let climbing = crate::pki::names::NodeSpec {
            name: "../../outside".into(),
            addresses: vec![],
        };
        let kubelet = catalog::find("kubelet-client").unwrap();
        for want in [
            Want::EtcdMemberCa {
                node: "../outside".into(),
            },
            Want::Cert {
                profile: kubelet,
                node: climbing.clone(),
            },
            Want::Renew {
                target: Target::Cert {
                    profile: kubelet,
                    node: "a/b".into(),
                },
                explicit: true,
                within: None,
            },
        ] {
            let err = run(&request(&layout, vec![want])).unwrap_err();
            assert!(err.to_string().contains("node name"), "{err}");
        }
        assert!(!dir.path().join("outside").exists());
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "nothing written"
        );
    }
}
