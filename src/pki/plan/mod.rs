//! Plan, then act.
//!
//! [`plan`] looks at what a command asks for and at what is on disk, and decides for every file
//! whether to create, reuse or replace it, and why. It loads and checks every existing file it
//! would rely on, and collects every problem before anything is written, so a refused run writes
//! nothing. [`execute`] then generates the keys (in parallel), signs, and hands all files to the
//! store in one batch. `--dry-run` is a plan that is printed instead of executed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::catalog::{self, KubeconfigProfile, Profile, ServerRule};
use super::cert::{self, Authority, CertFacts, CertSpec};
use super::error::{Error, Result};
use super::keys::{self, KeyAlgorithm, PrivateKey};
use super::kubeconfig::Kubeconfig;
use super::names::{self, Cluster, NodeSpec};
use super::store::{self, FileKind, FileWrite, Layout};

pub mod renew;

/// One thing a command asks for.
#[derive(Debug, Clone)]
pub enum Want {
    /// The service-account signing key pair (sa.key, sa.pub).
    ServiceAccount,
    /// A certificate of the catalog, for a node (the control-plane node for non-node profiles).
    Cert {
        profile: &'static Profile,
        node: NodeSpec,
    },
    /// A kubeconfig of the catalog with its embedded client certificate.
    Kubeconfig {
        profile: &'static KubeconfigProfile,
        node: NodeSpec,
    },
    /// A kubeconfig for any user and groups (kubeadm's `kubeconfig user`); printed to stdout
    /// when `out` is `None`.
    UserKubeconfig {
        client_name: String,
        organizations: Vec<String>,
        out: Option<PathBuf>,
    },
    /// Renew what exists: a certificate or kubeconfig client certificate, keeping its identity.
    /// With `explicit`, a missing file or an external CA is an error instead of a skip.
    Renew {
        target: renew::Target,
        explicit: bool,
    },
}

/// Settings that apply to every new certificate of a run.
#[derive(Debug, Clone)]
pub struct Options {
    pub key_algorithm: KeyAlgorithm,
    pub validity: Duration,
    pub ca_validity: Duration,
    /// Replace files that exist but do not match, keeping a backup.
    pub force: bool,
    /// renew: sign the existing keys instead of new ones.
    pub reuse_key: bool,
    /// renew: new keys take the algorithm of the key they replace (no --key-algorithm given).
    pub keep_key_algorithm: bool,
    /// The run's clock: every certificate of one run shares it, as kubeadm's StartTimeUTC.
    pub now: OffsetDateTime,
}

/// What a command asks for.
#[derive(Debug, Clone)]
pub struct Request {
    pub layout: Layout,
    /// Needed for control-plane certificates; per-node certificates do without.
    pub cluster: Option<Cluster>,
    pub wants: Vec<Want>,
    pub options: Options,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Reuse,
    Replace,
    /// Re-issue an existing certificate with the same identity and a fresh validity.
    Renew,
    /// Leave alone, with the reason (missing, external CA, managed by the kubelet).
    Skip,
}

impl Action {
    pub fn past_tense(self) -> &'static str {
        match self {
            Action::Create => "created",
            Action::Reuse => "reused",
            Action::Replace => "replaced",
            Action::Renew => "renewed",
            Action::Skip => "skipped",
        }
    }
}

/// What a plan item makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemKind {
    Certificate,
    /// The service-account signing key pair.
    KeyPair,
    Kubeconfig,
}

impl ItemKind {
    pub fn label(self) -> &'static str {
        match self {
            ItemKind::Certificate | ItemKind::KeyPair => "certs",
            ItemKind::Kubeconfig => "kubeconfig",
        }
    }
}

/// What an item is and what was decided for it: the part plans and results share.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub kind: ItemKind,
    /// Catalog name (certificate or kubeconfig), `sa`, or `user`.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub action: Action,
    pub reason: String,
    /// The files this item writes or keeps, key first.
    pub files: Vec<PathBuf>,
}

/// One decision of a plan, with what it will make.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanItem {
    #[serde(flatten)]
    pub decision: Decision,
    /// For certificates to be made: what they will contain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<CertSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_algorithm: Option<KeyAlgorithm>,
    #[serde(skip)]
    work: Work,
}

#[derive(Debug)]
enum Work {
    Nothing,
    /// Make a new key and a certificate, signed by `ca` (a catalog CA name) or self-signed.
    Cert {
        ca: Option<&'static str>,
        cert_path: PathBuf,
        key_path: PathBuf,
        /// Sign this existing key instead of a new one (`renew --reuse-key`).
        reuse_key: Option<PrivateKey>,
    },
    ServiceAccount {
        key_path: PathBuf,
        pub_path: PathBuf,
    },
    /// sa.key exists and is fine, sa.pub is missing: derive it.
    ServiceAccountPublic {
        key: PrivateKey,
        pub_path: PathBuf,
    },
    /// A new client key and certificate signed by the cluster CA, in a kubeconfig written to
    /// `dest`, or kept for stdout when `dest` is `None`.
    Kubeconfig {
        dest: Option<PathBuf>,
        server: String,
        cluster_name: String,
    },
    /// Replace the client certificate and key of an existing kubeconfig's current user, and
    /// refresh its embedded CA; everything else in the file is kept.
    RenewKubeconfig {
        path: PathBuf,
        config: Box<Kubeconfig>,
        reuse_key: Option<PrivateKey>,
    },
}

/// A plan: the decisions, and the CAs loaded from disk that leaves will be signed by.
pub struct Plan {
    pub items: Vec<PlanItem>,
    loaded_cas: HashMap<&'static str, Authority>,
    options: Options,
    layout: Layout,
}

/// What the planner knows about a CA.
enum CaState {
    /// Created or replaced in this run.
    New,
    /// On disk with its key.
    Loaded {
        cert_der: Vec<u8>,
    },
    /// On disk without its key: an external CA.
    External {
        cert_der: Vec<u8>,
    },
    Missing,
    /// On disk but broken; the error has been reported.
    Unusable,
}

pub fn plan(request: &Request) -> Result<Plan> {
    let mut planner = Planner {
        request,
        cas: HashMap::new(),
        loaded_cas: HashMap::new(),
        errors: Vec::new(),
    };
    let mut items = Vec::new();
    for want in &request.wants {
        if let Some(item) = planner.plan_want(want) {
            items.push(item);
        }
    }
    Error::from_all(planner.errors)?;
    Ok(Plan {
        items,
        loaded_cas: planner.loaded_cas,
        options: request.options.clone(),
        layout: request.layout.clone(),
    })
}

/// The planner's state: what it knows of each CA, and the CAs it loaded to sign with.
struct Planner<'r> {
    request: &'r Request,
    cas: HashMap<&'static str, CaState>,
    loaded_cas: HashMap<&'static str, Authority>,
    errors: Vec<Error>,
}

impl Planner<'_> {
    fn plan_want(&mut self, want: &Want) -> Option<PlanItem> {
        let request = self.request;
        let layout = &request.layout;
        let opts = &request.options;
        let result = match want {
            Want::ServiceAccount => plan_service_account(layout, opts),
            Want::Cert { profile, node } if profile.is_ca() => plan_ca(layout, opts, profile, node)
                .map(|(item, state, authority)| {
                    if let Some(a) = authority {
                        self.loaded_cas.insert(profile.name, a);
                    }
                    self.cas.insert(profile.name, state);
                    item
                }),
            Want::Cert { profile, node } => {
                let ca = self.ca_state(profile.issuer())?;
                plan_leaf(request, profile, node, ca)
            }
            Want::Kubeconfig { profile, node } => {
                let ca = self.ca_state(kubeconfig_ca())?;
                cluster_of(request).and_then(|cluster| {
                    let server = match profile.server {
                        ServerRule::ControlPlaneEndpoint => cluster.control_plane_url(),
                        ServerRule::LocalEndpoint => cluster.local_endpoint_url(),
                    };
                    let target = KubeconfigTarget {
                        name: profile.name.to_string(),
                        node: (profile.placement == catalog::KubeconfigPlacement::PerNode)
                            .then(|| node.name.clone()),
                        dest: Some(layout.kubeconfig_path(profile, &node.name)),
                        server,
                        cluster_name: cluster.cluster_name.clone(),
                        common_name: profile.common_name(&node.name),
                        organizations: profile
                            .organizations
                            .iter()
                            .map(|o| o.to_string())
                            .collect(),
                    };
                    plan_kubeconfig(request, target, ca)
                })
            }
            Want::Renew { target, explicit } => {
                let ca = self.ca_state(target.ca())?;
                renew::plan(request, target, *explicit, ca)
            }
            Want::UserKubeconfig {
                client_name,
                organizations,
                out,
            } => {
                let ca = self.ca_state(kubeconfig_ca())?;
                cluster_of(request).and_then(|cluster| {
                    let target = KubeconfigTarget {
                        name: "user".into(),
                        node: None,
                        dest: out.clone(),
                        server: cluster.control_plane_url(),
                        cluster_name: cluster.cluster_name.clone(),
                        common_name: client_name.clone(),
                        organizations: organizations.clone(),
                    };
                    plan_kubeconfig(request, target, ca)
                })
            }
        };
        result.map_err(|e| self.errors.push(e)).ok()
    }

    /// What is known of a CA, loading it from disk the first time it is needed. `None` when it
    /// could not be loaded (the error is recorded once).
    fn ca_state(&mut self, ca: &'static Profile) -> Option<&CaState> {
        if !self.cas.contains_key(ca.name) {
            let state = match load_ca_state(&self.request.layout, ca, self.request.options.now) {
                Ok((state, authority)) => {
                    if let Some(a) = authority {
                        self.loaded_cas.insert(ca.name, a);
                    }
                    state
                }
                Err(e) => {
                    self.errors.push(e);
                    CaState::Unusable
                }
            };
            self.cas.insert(ca.name, state);
        }
        match &self.cas[ca.name] {
            CaState::Unusable => None,
            state => Some(state),
        }
    }
}

fn cluster_of(request: &Request) -> Result<&Cluster> {
    request.cluster.as_ref().ok_or_else(|| {
        Error::usage(
            "kubeconfig",
            "needs the cluster settings (advertise address, node name)",
        )
    })
}

fn kubeconfig_ca() -> &'static Profile {
    catalog::find(catalog::KUBECONFIG_CA).expect("catalog invariant: the kubeconfig CA exists")
}

fn spec_for(
    profile: &Profile,
    cluster: Option<&Cluster>,
    node: &NodeSpec,
    opts: &Options,
) -> Result<CertSpec> {
    let alt_names = names::alt_names(profile, cluster, node).ok_or_else(|| {
        Error::usage(
            profile.name,
            "needs the cluster settings (advertise address, node name)",
        )
    })?;
    let period = if profile.is_ca() {
        opts.ca_validity
    } else {
        opts.validity
    };
    let (not_before, not_after) = cert::validity(opts.now, period);
    Ok(CertSpec {
        common_name: profile.common_name(&node.name),
        organizations: profile
            .organizations
            .iter()
            .map(|o| o.to_string())
            .collect(),
        alt_names,
        usages: profile.usages.to_vec(),
        is_ca: profile.is_ca(),
        not_before,
        not_after,
    })
}

fn display_name(profile: &Profile, node: &NodeSpec) -> (String, Option<String>) {
    (
        profile.name.to_string(),
        profile.per_node().then(|| node.name.clone()),
    )
}

fn force_hint(opts: &Options) -> &'static str {
    if opts.force {
        ""
    } else {
        "; fix it, or pass --force to replace it (the old files are kept as a backup)"
    }
}

fn plan_ca(
    layout: &Layout,
    opts: &Options,
    profile: &'static Profile,
    node: &NodeSpec,
) -> Result<(PlanItem, CaState, Option<Authority>)> {
    let cert_path = layout.cert_path(profile, &node.name);
    let key_path = layout.key_path(profile, &node.name);
    let (name, node_name) = display_name(profile, node);
    let spec = spec_for(profile, None, node, opts)?;
    let new_item = |action: Action, reason: String| PlanItem {
        decision: Decision {
            kind: ItemKind::Certificate,
            name: name.clone(),
            node: node_name.clone(),
            action,
            reason,
            files: vec![key_path.clone(), cert_path.clone()],
        },
        spec: Some(spec.clone()),
        key_algorithm: Some(opts.key_algorithm),
        work: Work::Cert {
            ca: None,
            cert_path: cert_path.clone(),
            key_path: key_path.clone(),
            reuse_key: None,
        },
    };
    let cert_exists = store::exists(&cert_path);
    let key_exists = store::exists(&key_path);
    if !cert_exists && !key_exists {
        return Ok((
            new_item(Action::Create, "does not exist".into()),
            CaState::New,
            None,
        ));
    }
    if !cert_exists {
        if opts.force {
            return Ok((
                new_item(Action::Replace, "key without certificate; --force".into()),
                CaState::New,
                None,
            ));
        }
        return Err(Error::bad_file(
            &key_path,
            format!(
                "the CA key exists but its certificate {} does not{}",
                cert_path.display(),
                force_hint(opts)
            ),
        ));
    }
    match load_ca_state(layout, profile, opts.now) {
        Ok((state, authority)) => {
            let reason = match &state {
                CaState::External { .. } => {
                    "external CA: certificate present, key absent; kept as is".to_string()
                }
                _ => "valid CA, key matches".to_string(),
            };
            if opts.force {
                return Ok((
                    new_item(Action::Replace, "--force".into()),
                    CaState::New,
                    None,
                ));
            }
            let item = PlanItem {
                decision: Decision {
                    kind: ItemKind::Certificate,
                    name,
                    node: node_name,
                    action: Action::Reuse,
                    reason,
                    files: if key_exists {
                        vec![key_path, cert_path]
                    } else {
                        vec![cert_path]
                    },
                },
                spec: None,
                key_algorithm: None,
                work: Work::Nothing,
            };
            Ok((item, state, authority))
        }
        Err(_) if opts.force => Ok((
            new_item(Action::Replace, "unusable; --force".into()),
            CaState::New,
            None,
        )),
        Err(e) => Err(e),
    }
}

/// Loads a CA from disk: `External` when the key is absent, an error when anything is wrong.
fn load_ca_state(
    layout: &Layout,
    profile: &'static Profile,
    now: OffsetDateTime,
) -> Result<(CaState, Option<Authority>)> {
    let cert_path = layout.cert_path(profile, "");
    let key_path = layout.key_path(profile, "");
    let Some(pem) = store::read_optional(&cert_path)? else {
        return Ok((CaState::Missing, None));
    };
    let chain = cert::certs_from_pem(&pem).map_err(|e| Error::bad_file(&cert_path, e))?;
    let der = chain[0].clone();
    let facts = CertFacts::from_der(&der).map_err(|e| Error::bad_file(&cert_path, e))?;
    if !facts.is_ca {
        return Err(Error::bad_file(
            &cert_path,
            format!(
                "certificate {:?} is not a CA (basicConstraints CA:TRUE is missing)",
                profile.name
            ),
        ));
    }
    if facts.not_after <= now {
        return Err(Error::bad_file(
            &cert_path,
            format!(
                "the {} CA expired on {}; CA rotation is needed",
                profile.name, facts.not_after
            ),
        ));
    }
    let Some(key_pem) = store::read_optional(&key_path)? else {
        return Ok((CaState::External { cert_der: der }, None));
    };
    let key = PrivateKey::from_pem(&key_pem).map_err(|e| Error::bad_file(&key_path, e))?;
    let authority = Authority::new(der.clone(), key)
        .map_err(|e| Error::bad_file(&key_path, format!("{e} ({})", cert_path.display())))?;
    Ok((CaState::Loaded { cert_der: der }, Some(authority)))
}

fn plan_leaf(
    request: &Request,
    profile: &'static Profile,
    node: &NodeSpec,
    ca: &CaState,
) -> Result<PlanItem> {
    let layout = &request.layout;
    let opts = &request.options;
    let ca_profile = profile.issuer();
    let cert_path = layout.cert_path(profile, &node.name);
    let key_path = layout.key_path(profile, &node.name);
    let ca_cert_path = layout.cert_path(ca_profile, &node.name);
    let (name, node_name) = display_name(profile, node);
    let spec = spec_for(profile, request.cluster.as_ref(), node, opts)?;

    let signable = match ca {
        CaState::New | CaState::Loaded { .. } => Ok(()),
        CaState::External { .. } => Err(Error::bad_file(
            layout.key_path(ca_profile, &node.name),
            format!(
                "cannot issue {name}: the {} CA key is absent (external CA); sign {} with the external CA",
                ca_profile.name,
                cert_path.display()
            ),
        )),
        CaState::Missing | CaState::Unusable => Err(Error::bad_file(
            &ca_cert_path,
            format!(
                "cannot issue {name}: the {} CA does not exist; run `kubepki init-ca` first",
                ca_profile.name
            ),
        )),
    };
    let make = |action: Action, reason: String| PlanItem {
        decision: Decision {
            kind: ItemKind::Certificate,
            name: name.clone(),
            node: node_name.clone(),
            action,
            reason,
            files: vec![key_path.clone(), cert_path.clone()],
        },
        spec: Some(spec.clone()),
        key_algorithm: Some(opts.key_algorithm),
        work: Work::Cert {
            ca: Some(ca_profile.name),
            cert_path: cert_path.clone(),
            key_path: key_path.clone(),
            reuse_key: None,
        },
    };

    if !store::exists(&cert_path) && !store::exists(&key_path) {
        signable?;
        let reason = match outlives_ca(&spec, ca, opts) {
            Some(warning) => format!("does not exist; {warning}"),
            None => "does not exist".into(),
        };
        return Ok(make(Action::Create, reason));
    }
    let (problems, not_after) =
        check_existing_leaf(&cert_path, &key_path, &spec, ca, &ca_cert_path, opts.now)?;
    if problems.is_empty() {
        if opts.force {
            // --force asks for a new certificate: that needs a CA that can sign.
            signable?;
            return Ok(make(Action::Replace, "--force".into()));
        }
        let ca_word = match ca {
            CaState::External { .. } => "chains to the external",
            _ => "chains to",
        };
        return Ok(PlanItem {
            decision: Decision {
                kind: ItemKind::Certificate,
                name,
                node: node_name,
                action: Action::Reuse,
                reason: format!(
                    "valid until {}, key matches, {ca_word} {}, SANs and usages cover the request",
                    not_after.map(|t| t.date().to_string()).unwrap_or_default(),
                    ca_profile.name
                ),
                files: vec![key_path, cert_path],
            },
            spec: None,
            key_algorithm: None,
            work: Work::Nothing,
        });
    }
    if opts.force {
        signable?;
        return Ok(make(
            Action::Replace,
            format!("--force: {}", problems.join("; ")),
        ));
    }
    Err(Error::conflict(
        &cert_path,
        format!(
            "exists but cannot be reused: {}{}",
            problems.join("; "),
            force_hint(opts)
        ),
    ))
}

/// A warning when a new certificate would expire after the CA that signs it (kubeadm warns
/// too): it stops working when the CA does, whatever its own NotAfter says.
fn outlives_ca(spec: &CertSpec, ca: &CaState, opts: &Options) -> Option<String> {
    let ca_not_after = match ca {
        CaState::Loaded { cert_der } | CaState::External { cert_der } => {
            CertFacts::from_der(cert_der).ok()?.not_after
        }
        CaState::New => cert::validity(opts.now, opts.ca_validity).1,
        CaState::Missing | CaState::Unusable => return None,
    };
    (spec.not_after > ca_not_after).then(|| {
        format!(
            "WARNING: it would expire on {} but its CA expires on {}; it is only valid as long as \
             the CA",
            spec.not_after.date(),
            ca_not_after.date()
        )
    })
}

/// Why an existing certificate and key cannot be reused for `spec` (empty when they can), and
/// the certificate's NotAfter when it could be read.
fn check_existing_leaf(
    cert_path: &Path,
    key_path: &Path,
    spec: &CertSpec,
    ca: &CaState,
    ca_cert_path: &Path,
    now: OffsetDateTime,
) -> Result<(Vec<String>, Option<OffsetDateTime>)> {
    let mut problems = Vec::new();
    let key = match store::read_optional(key_path)? {
        None => {
            problems.push(format!("its key {} is missing", key_path.display()));
            None
        }
        Some(pem) => match PrivateKey::from_pem(&pem) {
            Ok(k) => Some(k),
            Err(e) => {
                problems.push(format!("its key {} {e}", key_path.display()));
                None
            }
        },
    };
    let Some(pem) = store::read_optional(cert_path)? else {
        problems.push("the certificate is missing (only the key exists)".into());
        return Ok((problems, None));
    };
    let chain = match cert::certs_from_pem(&pem) {
        Ok(c) => c,
        Err(e) => {
            problems.push(format!("the certificate {e}"));
            return Ok((problems, None));
        }
    };
    let facts = CertFacts::from_der(&chain[0]).map_err(|e| Error::bad_file(cert_path, e))?;
    if let Some(key) = &key
        && key.public_key_raw() != facts.public_key_raw
    {
        problems.push(format!("its key {} does not match it", key_path.display()));
    }
    match ca {
        CaState::Loaded { cert_der } | CaState::External { cert_der } => {
            if let Err(e) = cert::verify_chain(&chain, cert_der) {
                problems.push(format!(
                    "it does not chain to {}: {e}",
                    ca_cert_path.display()
                ));
            }
        }
        CaState::New => problems.push(format!(
            "{} is being created now, and this certificate cannot chain to a new CA",
            ca_cert_path.display()
        )),
        CaState::Missing | CaState::Unusable => {}
    }
    if facts.common_name != spec.common_name {
        problems.push(format!(
            "its CN is {:?}, expected {:?}",
            facts.common_name, spec.common_name
        ));
    }
    let missing = facts.missing_names(&spec.alt_names);
    if !missing.is_empty() {
        problems.push(format!("it lacks SANs {}", missing.join(", ")));
    }
    let missing = facts.missing_usages(&spec.usages);
    if !missing.is_empty() {
        problems.push(format!(
            "it lacks extended key usages {}",
            missing.join(", ")
        ));
    }
    if facts.not_after <= now {
        problems.push(format!(
            "it expired on {} (renew it with `kubepki renew`)",
            facts.not_after
        ));
    }
    Ok((problems, Some(facts.not_after)))
}

/// A kubeconfig to plan: where it goes, what it points at, and whose identity it carries.
struct KubeconfigTarget {
    name: String,
    node: Option<String>,
    dest: Option<PathBuf>,
    server: String,
    cluster_name: String,
    common_name: String,
    organizations: Vec<String>,
}

fn plan_kubeconfig(request: &Request, target: KubeconfigTarget, ca: &CaState) -> Result<PlanItem> {
    let opts = &request.options;
    let ca_profile = kubeconfig_ca();
    let ca_key_path = request.layout.key_path(ca_profile, "");
    let ca_cert_path = request.layout.cert_path(ca_profile, "");
    let (not_before, not_after) = cert::validity(opts.now, opts.validity);
    let spec = CertSpec {
        common_name: target.common_name.clone(),
        organizations: target.organizations.clone(),
        alt_names: Default::default(),
        usages: catalog::KUBECONFIG_USAGES.to_vec(),
        is_ca: false,
        not_before,
        not_after,
    };
    let signable = || match ca {
        CaState::New | CaState::Loaded { .. } => Ok(()),
        CaState::External { .. } => Err(Error::bad_file(
            &ca_key_path,
            format!(
                "cannot write {}: the CA key is absent (external CA); provide the kubeconfig \
                 signed by the external CA",
                target.name
            ),
        )),
        CaState::Missing | CaState::Unusable => Err(Error::bad_file(
            &ca_cert_path,
            format!(
                "cannot write {}: the CA does not exist; run `kubepki init-ca` first",
                target.name
            ),
        )),
    };
    let make = |action: Action, reason: String| PlanItem {
        decision: Decision {
            kind: ItemKind::Kubeconfig,
            name: target.name.clone(),
            node: target.node.clone(),
            action,
            reason,
            files: target.dest.iter().cloned().collect(),
        },
        spec: Some(spec.clone()),
        key_algorithm: Some(opts.key_algorithm),
        work: Work::Kubeconfig {
            dest: target.dest.clone(),
            server: target.server.clone(),
            cluster_name: target.cluster_name.clone(),
        },
    };
    let Some(dest) = target.dest.as_deref().filter(|d| store::exists(d)) else {
        signable()?;
        return Ok(make(Action::Create, "does not exist".into()));
    };
    let problems = check_existing_kubeconfig(dest, &target, &spec, ca, opts.now)?;
    if problems.is_empty() && !opts.force {
        return Ok(PlanItem {
            work: Work::Nothing,
            spec: None,
            key_algorithm: None,
            ..make(
                Action::Reuse,
                format!(
                    "server {}, CA matches, client {} valid and chains to ca",
                    target.server, target.common_name
                ),
            )
        });
    }
    if opts.force {
        signable()?;
        let why = if problems.is_empty() {
            "--force".to_string()
        } else {
            format!("--force: {}", problems.join("; "))
        };
        return Ok(make(Action::Replace, why));
    }
    Err(Error::conflict(
        dest,
        format!(
            "exists but cannot be reused: {}{}",
            problems.join("; "),
            force_hint(opts)
        ),
    ))
}

/// Why an existing kubeconfig cannot be reused for `target`; empty when it can.
fn check_existing_kubeconfig(
    path: &Path,
    target: &KubeconfigTarget,
    spec: &CertSpec,
    ca: &CaState,
    now: OffsetDateTime,
) -> Result<Vec<String>> {
    let text = store::read_optional(path)?.unwrap_or_default();
    let config = match Kubeconfig::parse(&text) {
        Ok(c) => c,
        Err(e) => return Ok(vec![e]),
    };
    let current = match config.current() {
        Ok(c) => c,
        Err(e) => return Ok(vec![e]),
    };
    let dir = store::parent_dir(path);
    let mut problems = Vec::new();
    if current.cluster_name != target.cluster_name {
        problems.push(format!(
            "its cluster is named {:?}, expected {:?}",
            current.cluster_name, target.cluster_name
        ));
    }
    if current.cluster.server != target.server {
        problems.push(format!(
            "its server is {}, expected {}",
            current.cluster.server, target.server
        ));
    }
    let ca_der = match ca {
        CaState::Loaded { cert_der } | CaState::External { cert_der } => Some(cert_der),
        _ => None,
    };
    match current
        .ca_pem(dir)
        .and_then(|pem| cert::certs_from_pem(&pem))
    {
        Ok(certs) if ca_der.is_some_and(|ca| certs[0] == *ca) => {}
        Ok(_) if ca_der.is_none() => problems.push("the CA is being created now".into()),
        Ok(_) => problems.push("its CA certificate is not the cluster CA (ca.crt)".into()),
        Err(e) => problems.push(format!("its CA: {e}")),
    }
    let chain = match current
        .client_cert_pem(dir)
        .and_then(|pem| cert::certs_from_pem(&pem))
    {
        Ok(chain) => chain,
        Err(e) => {
            problems.push(format!("its client certificate: {e}"));
            return Ok(problems);
        }
    };
    let facts = match CertFacts::from_der(&chain[0]) {
        Ok(f) => f,
        Err(e) => {
            problems.push(format!("its client certificate {e}"));
            return Ok(problems);
        }
    };
    if let Some(ca) = ca_der
        && let Err(e) = cert::verify_chain(&chain, ca)
    {
        problems.push(format!("its client certificate does not chain to ca: {e}"));
    }
    if facts.common_name != spec.common_name {
        problems.push(format!(
            "its client CN is {:?}, expected {:?}",
            facts.common_name, spec.common_name
        ));
    }
    let mut have = facts.organizations.clone();
    let mut want = spec.organizations.clone();
    have.sort();
    want.sort();
    if have != want {
        problems.push(format!(
            "its client groups (O) are {:?}, expected {:?}",
            facts.organizations, spec.organizations
        ));
    }
    let missing = facts.missing_usages(&spec.usages);
    if !missing.is_empty() {
        problems.push(format!(
            "its client certificate lacks {}",
            missing.join(", ")
        ));
    }
    if facts.not_after <= now {
        problems.push(format!(
            "its client certificate expired on {} (renew it with `kubepki renew`)",
            facts.not_after
        ));
    }
    match current
        .client_key_pem(dir)
        .and_then(|pem| PrivateKey::from_pem(&pem))
    {
        Ok(key) if key.public_key_raw() == facts.public_key_raw => {}
        Ok(_) => problems.push("its client key does not match its client certificate".into()),
        Err(e) => problems.push(format!("its client key: {e}")),
    }
    Ok(problems)
}

fn plan_service_account(layout: &Layout, opts: &Options) -> Result<PlanItem> {
    let key_path = layout.sa_key();
    let pub_path = layout.sa_pub();
    let create = |action: Action, reason: String| -> Result<PlanItem> {
        if opts.key_algorithm == KeyAlgorithm::Ed25519 {
            return Err(Error::usage(
                "--key-algorithm",
                "ED25519 cannot be used for sa.key: kube-apiserver signs service-account tokens \
                 with RSA or ECDSA keys only; choose RSA-2048..4096 or ECDSA-P256/P384",
            ));
        }
        Ok(PlanItem {
            decision: Decision {
                kind: ItemKind::KeyPair,
                name: "sa".into(),
                node: None,
                action,
                reason,
                files: vec![key_path.clone(), pub_path.clone()],
            },
            spec: None,
            key_algorithm: Some(opts.key_algorithm),
            work: Work::ServiceAccount {
                key_path: key_path.clone(),
                pub_path: pub_path.clone(),
            },
        })
    };
    let Some(key_pem) = store::read_optional(&key_path)? else {
        if store::exists(&pub_path) && !opts.force {
            return Err(Error::conflict(
                &pub_path,
                format!(
                    "exists without {}; a new key would not match it{}",
                    key_path.display(),
                    force_hint(opts)
                ),
            ));
        }
        return create(Action::Create, "does not exist".into());
    };
    let key = match PrivateKey::from_pem(&key_pem) {
        Ok(k) if k.algorithm() != KeyAlgorithm::Ed25519 => k,
        Ok(_) if opts.force => return create(Action::Replace, "Ed25519 sa.key; --force".into()),
        Err(_) if opts.force => return create(Action::Replace, "unreadable; --force".into()),
        Ok(_) => {
            return Err(Error::bad_file(
                &key_path,
                "is an Ed25519 key; service-account tokens need RSA or ECDSA",
            ));
        }
        Err(e) => return Err(Error::bad_file(&key_path, e)),
    };
    if opts.force {
        return create(Action::Replace, "--force".into());
    }
    match store::read_optional(&pub_path)? {
        None => Ok(PlanItem {
            decision: Decision {
                kind: ItemKind::KeyPair,
                name: "sa".into(),
                node: None,
                action: Action::Create,
                reason: format!(
                    "{} is missing; derived from the existing sa.key",
                    pub_path.display()
                ),
                files: vec![pub_path.clone()],
            },
            spec: None,
            key_algorithm: Some(key.algorithm()),
            work: Work::ServiceAccountPublic {
                key,
                pub_path: pub_path.clone(),
            },
        }),
        Some(existing) => {
            let same = pem::parse(&existing)
                .ok()
                .is_some_and(|p| p.tag() == "PUBLIC KEY" && p.contents() == key.public_key_der());
            if !same {
                return Err(Error::conflict(
                    &pub_path,
                    format!(
                        "does not hold the public half of {}{}",
                        key_path.display(),
                        force_hint(opts)
                    ),
                ));
            }
            Ok(PlanItem {
                decision: Decision {
                    kind: ItemKind::KeyPair,
                    name: "sa".into(),
                    node: None,
                    action: Action::Reuse,
                    reason: "key loads and sa.pub matches it".into(),
                    files: vec![key_path, pub_path],
                },
                spec: None,
                key_algorithm: Some(key.algorithm()),
                work: Work::Nothing,
            })
        }
    }
}

/// What a run did, item by item.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    #[serde(flatten)]
    pub decision: Decision,
    /// For certificates written or kept: what they hold, read back from the DER.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_algorithm: Option<KeyAlgorithm>,
    /// A kubeconfig made for stdout rather than a file.
    #[serde(skip)]
    pub kubeconfig: Option<String>,
}

impl PlanItem {
    fn needs_new_key(&self) -> bool {
        matches!(
            self.work,
            Work::Cert {
                reuse_key: None,
                ..
            } | Work::ServiceAccount { .. }
                | Work::Kubeconfig { .. }
                | Work::RenewKubeconfig {
                    reuse_key: None,
                    ..
                }
        )
    }
}

impl Plan {
    /// Whether executing the plan would write anything.
    pub fn writes_anything(&self) -> bool {
        self.items
            .iter()
            .any(|i| !matches!(i.decision.action, Action::Reuse | Action::Skip))
    }

    pub fn execute(mut self) -> Result<Vec<Outcome>> {
        // Every item that needs a new key gets one of its own algorithm, generated up front in
        // parallel (RSA generation is the expensive part of a run).
        let algorithms: Vec<KeyAlgorithm> = self
            .items
            .iter()
            .filter(|i| i.needs_new_key())
            .filter_map(|i| i.key_algorithm)
            .collect();
        let mut new_keys = keys::generate_many(&algorithms)?.into_iter();
        let mut jobs = Vec::with_capacity(self.items.len());
        for item in std::mem::take(&mut self.items) {
            let key = match item.needs_new_key() {
                true => Some(next_key(&mut new_keys)?),
                false => None,
            };
            jobs.push((item, key));
        }
        // Runs are serialised by the directory lock, so this probe is race-free: two runs that
        // start in the same millisecond still get backup directories of their own.
        let stamp = self
            .layout
            .unique_backup_stamp(&backup_stamp(self.options.now));

        // Directories first (so parallel staging finds them), remembered so that a failed run
        // can remove the ones it made.
        let writing: Vec<&PlanItem> = jobs
            .iter()
            .map(|(item, _)| item)
            .filter(|i| !matches!(i.work, Work::Nothing))
            .collect();
        let durability =
            store::Durability::for_files(writing.iter().map(|i| i.decision.files.len()).sum());
        let mut dirs: Vec<&Path> = Vec::new();
        for dir in writing
            .iter()
            .flat_map(|i| &i.decision.files)
            .filter_map(|f| f.parent())
        {
            if !dir.as_os_str().is_empty() && !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        let created = store::create_dirs(dirs)?;
        let result = self.realize_and_commit(jobs, &stamp, durability);
        if result.is_err() {
            store::remove_empty_dirs(&created);
        }
        result
    }

    fn realize_and_commit(
        mut self,
        jobs: Vec<(PlanItem, Option<PrivateKey>)>,
        stamp: &str,
        durability: store::Durability,
    ) -> Result<Vec<Outcome>> {
        // CAs made now sign what follows them, so they are realised first, in order; everything
        // else is independent and spread over the cores (a thousand kubelet certificates).
        let (cas, others): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .enumerate()
            .partition(|(_, (item, _))| matches!(item.work, Work::Cert { ca: None, .. }));
        let mut done: Vec<(usize, Realized)> = Vec::with_capacity(cas.len() + others.len());
        for (index, (item, key)) in cas {
            let mut realized = self.realize(item, key, stamp, durability)?;
            if let Some((name, authority)) = realized.authority.take() {
                self.loaded_cas.insert(name, authority);
            }
            done.push((index, realized));
        }
        done.extend(self.realize_all(others, stamp, durability)?);
        done.sort_by_key(|(index, _)| *index);

        let mut staged = Vec::new();
        let mut outcomes = Vec::with_capacity(done.len());
        for (_, realized) in done {
            staged.extend(realized.staged);
            outcomes.push(realized.outcome);
        }
        store::commit_staged(staged, self.layout.cert_dir(), durability)?;
        Ok(outcomes)
    }

    /// Realises independent items on all cores, keeping their indices.
    fn realize_all(
        &self,
        jobs: Vec<(usize, (PlanItem, Option<PrivateKey>))>,
        stamp: &str,
        durability: store::Durability,
    ) -> Result<Vec<(usize, Realized)>> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(jobs.len() / 16 + 1);
        if threads <= 1 {
            return jobs
                .into_iter()
                .map(|(index, (item, key))| {
                    Ok((index, self.realize(item, key, stamp, durability)?))
                })
                .collect();
        }
        let mut shares: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
        for (n, job) in jobs.into_iter().enumerate() {
            shares[n % threads].push(job);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = shares
                .into_iter()
                .map(|share| {
                    scope.spawn(move || {
                        share
                            .into_iter()
                            .map(|(index, (item, key))| {
                                Ok((index, self.realize(item, key, stamp, durability)?))
                            })
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            let mut all = Vec::new();
            for handle in handles {
                let part = handle
                    .join()
                    .map_err(|_| Error::Crypto("a signing thread failed".into()))??;
                all.extend(part);
            }
            Ok(all)
        })
    }

    /// Makes what one item asks for (its certificate, key, kubeconfig) and stages the files.
    fn realize(
        &self,
        item: PlanItem,
        new_key: Option<PrivateKey>,
        stamp: &str,
        durability: store::Durability,
    ) -> Result<Realized> {
        let backup = |path: &Path| {
            matches!(item.decision.action, Action::Replace | Action::Renew)
                .then(|| self.layout.backup_path(stamp, path))
        };
        let authority_for = |ca: &str| {
            self.loaded_cas
                .get(ca)
                .ok_or_else(|| Error::Crypto(format!("internal: CA {ca} is not loaded")))
        };
        let take_key = |key: Option<PrivateKey>| {
            key.ok_or_else(|| Error::Crypto("internal: no key generated for an item".into()))
        };
        let mut writes = Vec::new();
        let mut certificate = None;
        let mut kubeconfig = None;
        let mut authority = None;
        match &item.work {
            Work::Nothing => {
                certificate = item
                    .decision
                    .files
                    .iter()
                    .find(|f| f.extension().is_some_and(|e| e == "crt"))
                    .and_then(|f| store::read_optional(f).ok().flatten())
                    .and_then(|pem| cert::certs_from_pem(&pem).ok())
                    .and_then(|c| CertFacts::from_der(&c[0]).ok());
            }
            Work::Cert {
                ca,
                cert_path,
                key_path,
                reuse_key,
            } => {
                let key = match reuse_key {
                    Some(k) => k,
                    None => new_key.as_ref().ok_or_else(|| {
                        Error::Crypto("internal: no key generated for a certificate".into())
                    })?,
                };
                let spec = item.spec.as_ref().expect("certificate items carry a spec");
                let der = match ca {
                    None => cert::issue(spec, key, None)?,
                    Some(ca) => cert::issue(spec, key, Some(authority_for(ca)?))?,
                };
                certificate = CertFacts::from_der(&der).ok();
                if reuse_key.is_none() {
                    writes.push(FileWrite {
                        path: key_path.clone(),
                        kind: FileKind::PrivateKey,
                        contents: key.to_pem()?.into_bytes(),
                        backup: backup(key_path),
                    });
                }
                writes.push(FileWrite {
                    path: cert_path.clone(),
                    kind: FileKind::Certificate,
                    contents: cert::cert_pem(&der).into_bytes(),
                    backup: backup(cert_path),
                });
                if ca.is_none() {
                    // A CA made now signs the leaves that follow it in the plan.
                    let name = catalog::find(&item.decision.name)
                        .map(|p| p.name)
                        .expect("CA items are catalog profiles");
                    let key = take_key(new_key)?;
                    authority = Some((name, Authority::new(der, key).map_err(Error::Crypto)?));
                }
            }
            Work::ServiceAccount { key_path, pub_path } => {
                let key = take_key(new_key)?;
                writes.push(FileWrite {
                    path: key_path.clone(),
                    kind: FileKind::PrivateKey,
                    contents: key.to_pem()?.into_bytes(),
                    backup: backup(key_path),
                });
                writes.push(FileWrite {
                    path: pub_path.clone(),
                    kind: FileKind::PublicKey,
                    contents: key.public_key_pem().into_bytes(),
                    backup: backup(pub_path),
                });
            }
            Work::Kubeconfig {
                dest,
                server,
                cluster_name,
            } => {
                let key = take_key(new_key)?;
                let spec = item.spec.as_ref().expect("kubeconfig items carry a spec");
                let ca = authority_for(catalog::KUBECONFIG_CA)?;
                let der = cert::issue(spec, &key, Some(ca))?;
                certificate = CertFacts::from_der(&der).ok();
                let yaml = Kubeconfig::with_client_cert(
                    cluster_name,
                    server,
                    &cert::cert_pem(&ca.cert_der),
                    &spec.common_name,
                    &cert::cert_pem(&der),
                    &key.to_pem()?,
                )
                .to_yaml()
                .map_err(Error::Crypto)?;
                match dest {
                    Some(path) => writes.push(FileWrite {
                        path: path.clone(),
                        kind: FileKind::Kubeconfig,
                        contents: yaml.into_bytes(),
                        backup: backup(path),
                    }),
                    None => kubeconfig = Some(yaml),
                }
            }
            Work::RenewKubeconfig {
                path,
                config,
                reuse_key,
            } => {
                let key = match reuse_key {
                    Some(k) => k,
                    None => new_key.as_ref().ok_or_else(|| {
                        Error::Crypto("internal: no key generated for a kubeconfig".into())
                    })?,
                };
                let spec = item.spec.as_ref().expect("renew items carry a spec");
                let ca = authority_for(catalog::KUBECONFIG_CA)?;
                let der = cert::issue(spec, key, Some(ca))?;
                certificate = CertFacts::from_der(&der).ok();
                let yaml = renew::rewrite_kubeconfig(
                    config,
                    &cert::cert_pem(&ca.cert_der),
                    &cert::cert_pem(&der),
                    &key.to_pem()?,
                )?;
                writes.push(FileWrite {
                    path: path.clone(),
                    kind: FileKind::Kubeconfig,
                    contents: yaml.into_bytes(),
                    backup: backup(path),
                });
            }
            Work::ServiceAccountPublic { key, pub_path } => writes.push(FileWrite {
                path: pub_path.clone(),
                kind: FileKind::PublicKey,
                contents: key.public_key_pem().into_bytes(),
                backup: None,
            }),
        }
        // Staged now, the contents need not be held until the commit.
        let staged = writes
            .iter()
            .map(|w| store::stage(w, durability))
            .collect::<Result<Vec<_>>>()?;
        Ok(Realized {
            outcome: Outcome {
                key_algorithm: certificate
                    .as_ref()
                    .and_then(|c| c.key_algorithm)
                    .or(item.key_algorithm),
                decision: item.decision,
                certificate,
                kubeconfig,
            },
            staged,
            authority,
        })
    }
}

/// One realised item: what it reports, the files it staged, and the CA it made (if it is one).
struct Realized {
    outcome: Outcome,
    staged: Vec<store::Staged>,
    authority: Option<(&'static str, Authority)>,
}

fn next_key(keys: &mut impl Iterator<Item = PrivateKey>) -> Result<PrivateKey> {
    keys.next()
        .ok_or_else(|| Error::Crypto("internal: fewer keys generated than planned".into()))
}

/// A backup directory name for this run: the UTC time to the millisecond.
fn backup_stamp(now: OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
    );
    now.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}
