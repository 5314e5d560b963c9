//! `generate-csr`, kubeadm's `certs generate-csr`: for every control-plane leaf a new key
//! (`<base>.key`) and a request (`<base>.csr`) with the catalog's subject and SANs; for every
//! kubeconfig a file with the server, cluster, context and user filled, its new key in
//! `client-key-data` and no certificates, and a request beside it (`admin.conf.csr`). The
//! requests carry the subject and the SANs only: the usages are the signer's to choose.
//!
//! kubeadm refuses to run when one of these files exists ("file already exists"); so does
//! kubepki. Under `--force` a key and request that are what this run asks for (the key of the
//! asked algorithm, the request for that key, with the same subject and SANs) are kept, and the
//! rest is made again, the old files backed up.

use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use super::decide::{Existing, decide};
use super::leaf::spec_for;
use super::{Action, Decision, ItemKind, PlanItem, Request, Work, conclude};
use crate::pki::catalog::{KubeconfigProfile, Profile, ServerRule};
use crate::pki::csr::CsrSpec;
use crate::pki::error::{Error, ErrorKind, Result};
use crate::pki::inventory::{CsrFile, Found, Inventory};
use crate::pki::keys::{KeyAlgorithm, PrivateKey};
use crate::pki::names::NodeSpec;

mod write;

pub(super) use write::realize;

/// What executing a request item makes.
#[derive(Debug)]
pub(super) struct CsrWork {
    pub(super) request: CsrSpec,
    pub(super) csr_path: PathBuf,
    pub(super) key_goes_to: KeyHome,
}

/// Where the new key is written.
#[derive(Debug)]
pub(super) enum KeyHome {
    /// Its own file, `<base>.key`.
    File(PathBuf),
    /// A kubeconfig without certificates (kubeadm's `CreateWithCerts` with empty CA and client
    /// certificate, so both fields are left out).
    Kubeconfig {
        path: PathBuf,
        server: String,
        cluster_name: String,
        user: String,
    },
}

/// A plan item serialises its work only for requests: `"request": {commonName, ...}`.
impl Serialize for Work {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Asks<'a> {
            request: &'a CsrSpec,
        }
        match self {
            Work::Csr(work) => Asks {
                request: &work.request,
            }
            .serialize(serializer),
            _ => serializer.serialize_unit(),
        }
    }
}

/// A key and request for the catalog leaf `profile`.
pub(super) fn plan_leaf(
    request: &Request,
    inventory: &Inventory,
    profile: &'static Profile,
    node: &NodeSpec,
) -> Result<PlanItem> {
    // A request for a CA's identity would, under --force, put a new key in place of the CA's
    // own. `generate-csr` never names a CA; a library caller can.
    if profile.is_ca() {
        return Err(Error::usage(
            profile.name,
            "is a CA: generate-csr makes requests for leaves only (an external CA keeps its key)",
        ));
    }
    let opts = &request.options;
    let layout = &request.layout;
    let pair = inventory
        .pair(profile, &node.name)
        .ok_or_else(|| internal(profile.name))?;
    let csr_path = layout.csr_path(profile, &node.name);
    let csr = inventory
        .csr(&csr_path)
        .ok_or_else(|| internal(profile.name))?;
    let spec = spec_for(profile, request.cluster.as_ref(), node, opts)?;
    let wanted = CsrSpec {
        common_name: spec.common_name,
        organizations: spec.organizations,
        alt_names: spec.alt_names,
    };
    let key_path = pair.key_path.clone();
    let existing = if !pair.key.exists() && !csr.exists() {
        Existing::Missing
    } else {
        let key = match &pair.key {
            Found::Present(k) => Ok(&k.key),
            Found::Missing => Err(format!("its key {} is missing", key_path.display())),
            Found::Broken(p) if p.kind == ErrorKind::Io => return Err(p.to_error(&key_path)),
            Found::Broken(p) => Err(format!("its key {} {p}", key_path.display())),
        };
        compare(key, csr, &csr_path, &wanted, opts.key_algorithm)?
    };
    // A certificate signed for the old key stops matching once the key is made again.
    let note = pair.cert.exists().then(|| {
        format!(
            "WARNING: {} was signed for the old key; import the certificate signed for the new \
             request",
            pair.cert_path.display()
        )
    });
    let make = |action: Action, reason: String| PlanItem {
        decision: Decision {
            kind: ItemKind::CertificateRequest,
            name: profile.name.to_string(),
            node: None,
            action,
            reason,
            files: vec![key_path.clone(), csr_path.clone()],
        },
        spec: None,
        key_algorithm: Some(opts.key_algorithm),
        work: Work::Csr(Box::new(CsrWork {
            request: wanted.clone(),
            csr_path: csr_path.clone(),
            key_goes_to: KeyHome::File(key_path.clone()),
        })),
    };
    finish(
        existing,
        make,
        note,
        [(&key_path, pair.key.exists()), (&csr_path, csr.exists())],
        opts,
    )
}

/// A kubeconfig without certificates and a request for its new client key.
pub(super) fn plan_kubeconfig(
    request: &Request,
    inventory: &Inventory,
    profile: &'static KubeconfigProfile,
    node: &NodeSpec,
) -> Result<PlanItem> {
    let opts = &request.options;
    let layout = &request.layout;
    let cluster = request.cluster.as_ref().ok_or_else(|| {
        Error::usage(
            "kubeconfig",
            "needs the cluster settings (advertise address, node name)",
        )
    })?;
    let path = layout.kubeconfig_path(profile, &node.name);
    let csr_path = layout.kubeconfig_csr_path(profile, &node.name);
    let server = match profile.server {
        ServerRule::ControlPlaneEndpoint => cluster.control_plane_url(),
        ServerRule::LocalEndpoint => cluster.local_endpoint_url(),
    };
    let user = profile.common_name(&node.name);
    let wanted = CsrSpec {
        common_name: user.clone(),
        organizations: profile
            .organizations
            .iter()
            .map(|o| o.to_string())
            .collect(),
        alt_names: Default::default(),
    };
    let file = inventory
        .kubeconfig(&path)
        .ok_or_else(|| internal(profile.name))?;
    let csr = inventory
        .csr(&csr_path)
        .ok_or_else(|| internal(profile.name))?;
    let existing = if !file.exists() && !csr.exists() {
        Existing::Missing
    } else {
        let key = match file {
            Found::Missing => Err(format!("{} is missing", path.display())),
            Found::Broken(p) if p.kind == ErrorKind::Io => return Err(p.to_error(&path)),
            Found::Broken(p) => Err(p.to_string()),
            Found::Present(f) => {
                let mut problems = Vec::new();
                match f.config.current() {
                    Ok(current) => {
                        if current.cluster_name != cluster.cluster_name {
                            problems.push(format!(
                                "its cluster is named {:?}, expected {:?}",
                                current.cluster_name, cluster.cluster_name
                            ));
                        }
                        if current.cluster.server != server {
                            problems.push(format!(
                                "its server is {}, expected {server}",
                                current.cluster.server
                            ));
                        }
                        if current.user_name != user {
                            problems.push(format!(
                                "its user is {:?}, expected {user:?}",
                                current.user_name
                            ));
                        }
                    }
                    Err(e) => problems.push(e),
                }
                match (&f.current, problems.is_empty()) {
                    (Ok(c), true) => c
                        .client_key
                        .as_ref()
                        .map_err(|e| format!("its client key: {e}")),
                    (Err(e), true) => Err(e.clone()),
                    (_, false) => Err(problems.join("; ")),
                }
            }
        };
        compare(key, csr, &csr_path, &wanted, opts.key_algorithm)?
    };
    let make = |action: Action, reason: String| PlanItem {
        decision: Decision {
            kind: ItemKind::Kubeconfig,
            name: profile.name.to_string(),
            node: None,
            action,
            reason,
            files: vec![path.clone(), csr_path.clone()],
        },
        spec: None,
        key_algorithm: Some(opts.key_algorithm),
        work: Work::Csr(Box::new(CsrWork {
            request: wanted.clone(),
            csr_path: csr_path.clone(),
            key_goes_to: KeyHome::Kubeconfig {
                path: path.clone(),
                server: server.clone(),
                cluster_name: cluster.cluster_name.clone(),
                user: user.clone(),
            },
        })),
    };
    finish(
        existing,
        make,
        None,
        [(&path, file.exists()), (&csr_path, csr.exists())],
        opts,
    )
}

/// kubeadm's rule first: without `--force`, any file that exists is a refusal, whether it
/// matches or not. With it, the usual decision.
fn finish(
    existing: Existing,
    make: impl Fn(Action, String) -> PlanItem,
    note: Option<String>,
    files: [(&PathBuf, bool); 2],
    opts: &super::Options,
) -> Result<PlanItem> {
    if existing != Existing::Missing && !opts.force {
        let (first, _) = files
            .iter()
            .find(|(_, exists)| *exists)
            .copied()
            .unwrap_or(files[0]);
        let state = match &existing {
            Existing::Matches(_) => "it matches this request".to_string(),
            Existing::Differs(problems) => problems.join("; "),
            Existing::Missing => String::new(),
        };
        return Err(Error::conflict(
            first,
            format!(
                "file already exists ({state}); generate-csr does not overwrite keys or requests, \
                 as kubeadm; pass --force to keep the ones that match this request and make the \
                 others again (the old files are kept as a backup)"
            ),
        ));
    }
    conclude(
        decide(existing, opts.force),
        make,
        || Ok(()),
        note,
        None,
        files[0].0,
        opts,
    )
}

/// How an existing key (or why it is unusable) and request compare with what is asked.
fn compare(
    key: std::result::Result<&PrivateKey, String>,
    csr: &Found<CsrFile>,
    csr_path: &Path,
    wanted: &CsrSpec,
    algorithm: KeyAlgorithm,
) -> Result<Existing> {
    let mut problems = Vec::new();
    let key = match key {
        Ok(k) => Some(k),
        Err(e) => {
            problems.push(e);
            None
        }
    };
    if let Some(k) = key
        && k.algorithm() != algorithm
    {
        problems.push(format!("its key is {}, not {algorithm}", k.algorithm()));
    }
    match csr {
        Found::Missing => problems.push(format!("its request {} is missing", csr_path.display())),
        Found::Broken(p) if p.kind == ErrorKind::Io => return Err(p.to_error(csr_path)),
        Found::Broken(p) => problems.push(format!("its request {} {p}", csr_path.display())),
        Found::Present(c) => {
            let asked = &c.request.spec;
            if key.is_some_and(|k| c.request.public_key.raw() != k.public_key_raw()) {
                problems.push(format!(
                    "its request {} is for another key",
                    csr_path.display()
                ));
            }
            if asked.common_name != wanted.common_name {
                problems.push(format!(
                    "its request asks for CN {:?}, expected {:?}",
                    asked.common_name, wanted.common_name
                ));
            }
            if sorted(&asked.organizations) != sorted(&wanted.organizations) {
                problems.push(format!(
                    "its request asks for O {:?}, expected {:?}",
                    asked.organizations, wanted.organizations
                ));
            }
            let (missing, extra) = san_difference(asked, wanted);
            if !missing.is_empty() {
                problems.push(format!(
                    "its request lacks SANs {}",
                    missing.join(", ").escape_debug()
                ));
            }
            if !extra.is_empty() {
                problems.push(format!(
                    "its request asks for SANs not asked for now: {}",
                    extra.join(", ").escape_debug()
                ));
            }
        }
    }
    Ok(if problems.is_empty() {
        Existing::Matches(format!(
            "key ({algorithm}) and request match: CN={}",
            wanted.common_name
        ))
    } else {
        Existing::Differs(problems)
    })
}

fn sorted(v: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = v.iter().collect();
    v.sort();
    v
}

/// The SANs `wanted` has that `asked` lacks, and the other way round, as `DNS:`/`IP:` strings.
fn san_difference(asked: &CsrSpec, wanted: &CsrSpec) -> (Vec<String>, Vec<String>) {
    let names = |s: &CsrSpec| -> Vec<String> {
        let mut v: Vec<String> = s
            .alt_names
            .dns
            .iter()
            .map(|d| format!("DNS:{d}"))
            .chain(s.alt_names.ips.iter().map(|ip| format!("IP:{ip}")))
            .chain(s.alt_names.uris.iter().map(|u| format!("URI:{u}")))
            .chain(s.alt_names.emails.iter().map(|m| format!("email:{m}")))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let (have, want) = (names(asked), names(wanted));
    let missing = want.iter().filter(|w| !have.contains(w)).cloned().collect();
    let extra = have.iter().filter(|h| !want.contains(h)).cloned().collect();
    (missing, extra)
}

fn internal(name: &str) -> Error {
    Error::Crypto(format!("internal: {name} was not read"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::plan::{Options, Want, plan};
    use crate::pki::store::Layout;
    use crate::pki::{catalog, cert, selection::Selection};

    // `Want::Csr` is public: a library caller can name a CA, which `generate-csr` never offers.
    // With --force that would replace the CA's key, so it is refused before anything is read.
    #[test]
    fn no_request_for_a_ca() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("pki"), dir.path());
        let node: NodeSpec = "node-1".parse().unwrap();
        let request = |wants: Vec<Want>| Request {
            layout: layout.clone(),
            cluster: None,
            wants,
            options: Options {
                key_algorithm: KeyAlgorithm::EcdsaP256,
                validity: cert::DEFAULT_VALIDITY,
                ca_validity: cert::DEFAULT_CA_VALIDITY,
                force: true,
                reuse_key: false,
                keep_key_algorithm: false,
                now: time::OffsetDateTime::now_utc(),
            },
        };
        let run = |request: &Request| {
            let inventory = Inventory::read(&request.layout, &request.files());
            plan(request, &inventory)?.execute().map(drop)
        };
        let cas = Selection::new(false)
            .init(&node)
            .into_iter()
            .filter(|w| matches!(w, Want::Cert { profile, .. } if profile.is_ca()))
            .collect();
        run(&request(cas)).unwrap();
        let ca = catalog::find("ca").unwrap();
        let key_before = std::fs::read(layout.key_path(ca, "")).unwrap();
        let err = run(&request(vec![Want::Csr {
            profile: ca,
            node: node.clone(),
        }]))
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage, "{err}");
        assert_eq!(std::fs::read(layout.key_path(ca, "")).unwrap(), key_before);
        assert!(!layout.csr_path(ca, "").exists());
    }

    #[test]
    fn san_differences_name_both_sides() {
        let spec = |dns: &[&str]| CsrSpec {
            common_name: "x".into(),
            organizations: vec![],
            alt_names: crate::pki::names::AltNames {
                dns: dns.iter().map(|d| d.to_string()).collect(),
                ..Default::default()
            },
        };
        let (missing, extra) = san_difference(&spec(&["a", "c"]), &spec(&["a", "b"]));
        assert_eq!(
            (missing, extra),
            (vec!["DNS:b".into()], vec!["DNS:c".into()])
        );
    }
}
