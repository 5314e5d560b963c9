//! Plan, then act.
//!
//! [`plan`] is a pure function of what a command asks for ([`Request`]), what is on disk (the
//! [`Inventory`], read once before) and the clock (in [`Options`]): for every file it decides
//! whether to create, reuse, replace or renew it, and why. It collects every problem before
//! anything is written, so a refused run writes nothing. [`Plan::execute`] then generates the
//! keys (in parallel), signs, and hands all files to the store in one batch. `--dry-run` is a
//! plan that is printed instead of executed.
//!
//! One planner per kind of item (`ca`, `leaf`, `kubeconfig`, `key_pair`, `renew`, `csr` for
//! `generate-csr`, `import` for `import-signed`, `member` for the etcd members' CA copies);
//! they share one decision table (`decide`) and one view of the signing CAs (`authority`).

mod authority;
mod ca;
mod csr;
mod decide;
mod execute;
mod import;
mod key_pair;
mod kubeconfig;
mod leaf;
mod making;
mod member;
mod renew;
// Signing (issue 14): `sign`, and `csr`/`issue-cert` for any identity.
mod identity;
mod issuing;
mod sign;
mod signing;
// The TLS-bootstrap kit (issue 15).
mod bootstrap;
// The CSR API (issue 15): objects signed offline.
mod csr_object;
// CA rotation (issue 16).
mod rotate;
mod rotate_abort;
mod rotate_cross;
mod rotate_items;
mod rotate_sa;

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::catalog::{self, KubeconfigProfile, Profile, kubeconfig_ca};
use super::cert::{CertFacts, CertSpec};
use super::error::{Error, Result};
use super::inventory::{Inventory, Wanted};
use super::keys::{KeyAlgorithm, PrivateKey};
use super::kubeconfig::Kubeconfig;
use super::names::{Cluster, NodeSpec};
use super::store::Layout;
pub(crate) use issuing::subject_text;

pub use bootstrap::{KUBECONFIG_FILE, KitFile, KitReport, KitWant, MANIFESTS_FILE};
pub use csr_object::{CsrObjectsWant, ObjectResult, SignedObjects};
pub use execute::Outcome;
pub use identity::{IdentityMake, IdentityWant};
pub use import::{ImportTarget, Signed, SignedInput};
pub use issuing::{CaPairFiles, CaSource};
// The CA of `kubepki signer` and what `--explain` scripts: the crate's own controller and
// renderer use them, and neither is a promise to library users.
pub(crate) use issuing::{LoadedCa, load_ca};
pub(crate) use making::Making;
pub(crate) use renew::CA_ROTATION;
pub use renew::Target;
pub use rotate::{RotateWant, Step};
pub use sign::{OutputFile, SignWant};
pub use signing::{Issued, SigningNotes};

/// One thing a command asks for.
#[derive(Debug, Clone)]
pub enum Want {
    /// The service-account signing key pair (sa.key, sa.pub).
    ServiceAccount,
    /// A certificate of the catalog, for a node (the control-plane node for non-node profiles).
    /// A CA this request makes comes before the leaves it signs in [`Request::wants`], as in
    /// the catalog; a leaf whose CA is not wanted finds it on disk.
    Cert {
        /// The catalog entry: a CA or a leaf.
        profile: &'static Profile,
        /// The node whose name and addresses go into the certificate (a kubelet's or etcd
        /// member's CN and SANs; the control-plane node's for etcd's server and peer
        /// certificates). Its name picks the directory of a per-node profile.
        node: NodeSpec,
    },
    /// A kubeconfig of the catalog with its embedded client certificate.
    Kubeconfig {
        /// The catalog entry: file name, user, groups and which server URL it points at.
        profile: &'static KubeconfigProfile,
        /// The node whose identity a kubelet kubeconfig carries (`system:node:<name>`) and,
        /// for a per-node kubeconfig, whose directory it goes into.
        node: NodeSpec,
    },
    /// A kubeconfig for any user and groups (kubeadm's `kubeconfig user`); printed to stdout
    /// when `out` is `None`.
    UserKubeconfig {
        /// The client certificate's CN: the user name the API server sees.
        client_name: String,
        /// The client certificate's O values: the user's groups.
        organizations: Vec<String>,
        /// Where to write it; `None` keeps it in the outcome ([`Outcome::kubeconfig`]).
        out: Option<PathBuf>,
    },
    /// Renew what exists: a certificate or kubeconfig client certificate, keeping its identity.
    Renew {
        /// What to renew.
        target: Target,
        /// Asked for by name: a missing file or an external CA is an error instead of the skip
        /// `renew all` makes of it.
        explicit: bool,
        /// Renew only when the certificate expires within this time of [`Options::now`],
        /// skip otherwise (a daily timer's no-op); `None` renews whatever its expiry.
        within: Option<Duration>,
    },
    /// `generate-csr`: a new key and a request for a catalog leaf (kubeadm's `createKeyAndCSR`).
    Csr {
        /// The catalog leaf the request is for.
        profile: &'static Profile,
        /// The node whose name and addresses the request asks for, as in [`Want::Cert`].
        node: NodeSpec,
    },
    /// `generate-csr`: a kubeconfig without certificates, its new key in `client-key-data`, and
    /// its request beside it (kubeadm's `createKubeConfigAndCSR`).
    KubeconfigCsr {
        /// The catalog kubeconfig the request is for.
        profile: &'static KubeconfigProfile,
        /// The node, as in [`Want::Kubeconfig`].
        node: NodeSpec,
    },
    /// The copy of the etcd CA certificate in an etcd member's directory.
    EtcdMemberCa {
        /// The member's name: the copy goes to `<cert-dir>/etcd-members/<node>/etcd/ca.crt`.
        node: String,
    },
    /// `import-signed`: what the signed certificates given bring to one target of the tree.
    Import {
        /// The file of the tree this item may write.
        target: ImportTarget,
        /// Every certificate given and every target of the run, shared by all the run's
        /// `Import` wants: which certificate goes where is decided over all of them.
        signed: std::sync::Arc<Signed>,
    },
    /// `import-signed`: the certificates given that cannot be matched to one target. Plans no
    /// item; refuses the run when one is left over.
    ImportUnmatched {
        /// The same set the run's [`Want::Import`] wants share.
        signed: std::sync::Arc<Signed>,
    },
    /// Sign a certificate request with a signing profile (`kubepki sign`).
    Sign(Box<SignWant>),
    /// A new key for any identity, with a request or a certificate (`kubepki csr`,
    /// `kubepki issue-cert`).
    Identity(Box<IdentityWant>),
    /// The TLS-bootstrap kit: a token's manifests and bootstrap kubeconfig (`bootstrap-token`).
    BootstrapKit(Box<KitWant>),
    /// Sign CertificateSigningRequest objects offline (`kubepki csr-object sign`).
    CsrObjects(Box<CsrObjectsWant>),
    /// A phase of a CA rotation (`rotate-ca`); plans several items.
    RotateCa(Box<RotateWant>),
}

/// Settings that apply to every new certificate of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The algorithm of every new key the run makes for the catalog (certificates, kubeconfigs,
    /// `sa.key`, `generate-csr`); `kubepki csr`, `issue-cert` and `sign` name theirs in their
    /// wants.
    pub key_algorithm: KeyAlgorithm,
    /// How long a new or renewed leaf or kubeconfig client certificate is valid, from
    /// [`Options::now`] ([`cert::DEFAULT_VALIDITY`](crate::pki::cert::DEFAULT_VALIDITY), one
    /// year, is kubeadm's). Signing profiles carry their own.
    pub validity: Duration,
    /// How long a new CA certificate is valid, from [`Options::now`]
    /// ([`cert::DEFAULT_CA_VALIDITY`](crate::pki::cert::DEFAULT_CA_VALIDITY), ten years, is
    /// kubeadm's).
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
    /// Where the tree's files are (certificate and kubeconfig directories).
    pub layout: Layout,
    /// Needed for control-plane certificates and kubeconfigs; CAs, per-node certificates and
    /// renewals do without. A want that needs it while it is `None` is a usage error.
    pub cluster: Option<Cluster>,
    /// What to plan, in order: the plan's items follow it (a CA before its leaves).
    pub wants: Vec<Want>,
    /// Settings for every new certificate and the run's clock.
    pub options: Options,
}

impl Request {
    /// The files planning this request looks at, for [`Inventory::read`].
    pub fn files(&self) -> Vec<Wanted> {
        let layout = &self.layout;
        let mut files = Vec::new();
        for want in &self.wants {
            match want {
                Want::ServiceAccount => files.push(Wanted::ServiceAccount),
                Want::Cert { profile, node } => {
                    files.push(Wanted::Pair(profile, node.name.clone()));
                }
                Want::Kubeconfig { profile, node } => {
                    files.push(Wanted::Kubeconfig(
                        layout.kubeconfig_path(profile, &node.name),
                    ));
                }
                Want::UserKubeconfig { out, .. } => {
                    files.push(Wanted::Pair(kubeconfig_ca(), String::new()));
                    files.extend(out.iter().map(|p| Wanted::Kubeconfig(p.clone())));
                }
                Want::Renew { target, .. } => files.push(target.wanted(layout)),
                Want::Csr { profile, node } => {
                    files.push(Wanted::Pair(profile, node.name.clone()));
                    files.push(Wanted::Csr(layout.csr_path(profile, &node.name)));
                }
                Want::KubeconfigCsr { profile, node } => {
                    files.push(Wanted::Kubeconfig(
                        layout.kubeconfig_path(profile, &node.name),
                    ));
                    files.push(Wanted::Csr(layout.kubeconfig_csr_path(profile, &node.name)));
                }
                Want::EtcdMemberCa { node } => {
                    files.push(Wanted::Pair(catalog::etcd_ca(), String::new()));
                    files.push(Wanted::Cert(layout.etcd_member_ca(node)));
                }
                Want::Import { target, .. } => files.extend(target.wanted(layout)),
                Want::ImportUnmatched { .. } => {}
                Want::Sign(w) => files.extend(w.ca.tree().map(|p| Wanted::Pair(p, String::new()))),
                Want::Identity(w) => {
                    files.extend(w.tree_ca().map(|p| Wanted::Pair(p, String::new())));
                }
                Want::BootstrapKit(w) => files.push(Wanted::Cert(w.ca_path.clone())),
                Want::CsrObjects(w) => {
                    files.extend(w.ca.tree().map(|p| Wanted::Pair(p, String::new())));
                }
                Want::RotateCa(w) => {
                    files.extend(super::inventory::tree_wanted(layout));
                    files.extend(w.what.wanted());
                }
            }
        }
        files
    }
}

/// What a plan decided for an item (serialised lowercase: `create`, `reuse`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Make what does not exist yet.
    Create,
    /// Keep what is on disk: it is what was asked for. Writes nothing.
    Reuse,
    /// Make it anew in place of files that are there but are not what was asked (only with
    /// [`Options::force`], or as a step of a CA rotation); the old files are backed up.
    Replace,
    /// Re-issue an existing certificate with the same identity and a fresh validity.
    Renew,
    /// Leave alone, with the reason (missing, external CA, managed by the kubelet).
    Skip,
    /// Put a certificate signed elsewhere (an external CA) in place, after checking it.
    Import,
}

impl Action {
    /// The verb as results print it (`created`, `reused`, ...).
    pub(crate) fn past_tense(self) -> &'static str {
        match self {
            Action::Create => "created",
            Action::Reuse => "reused",
            Action::Replace => "replaced",
            Action::Renew => "renewed",
            Action::Skip => "skipped",
            Action::Import => "imported",
        }
    }
}

/// What a plan item makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemKind {
    /// A certificate (and usually its key), or CertificateSigningRequest objects signed.
    Certificate,
    /// The service-account signing key pair.
    KeyPair,
    /// A kubeconfig file with a client certificate.
    Kubeconfig,
    /// A key and its certificate request (`generate-csr`, `kubepki csr`).
    CertificateRequest,
    /// A bootstrap token's manifests and bootstrap kubeconfig (`bootstrap-token`).
    BootstrapKit,
}

impl ItemKind {
    /// The kubeadm phase text output prints in brackets (`[certs]`, `[kubeconfig]`).
    pub(crate) fn label(self) -> &'static str {
        match self {
            ItemKind::Certificate | ItemKind::KeyPair => "certs",
            ItemKind::Kubeconfig => "kubeconfig",
            ItemKind::CertificateRequest => "certs",
            ItemKind::BootstrapKit => "bootstrap-token",
        }
    }
}

/// What an item is and what was decided for it: the part plans and results share.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// What the item makes.
    pub kind: ItemKind,
    /// Catalog name (certificate or kubeconfig), `sa`, or `user`.
    pub name: String,
    /// The node of a per-node item (kubelet, etcd member, per-node kubeconfig); `None` for
    /// the control plane's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// What was decided.
    pub action: Action,
    /// Why, in words for the operator (`does not exist`, `valid until 2027-01-01, ...`).
    pub reason: String,
    /// The files this item writes or keeps, key first.
    pub files: Vec<PathBuf>,
}

/// One decision of a plan, with what it will make.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanItem {
    /// What the item is and what was decided.
    #[serde(flatten)]
    pub decision: Decision,
    /// For certificates to be made: what they will contain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<CertSpec>,
    /// The algorithm of the key a new certificate or request certifies: the new key's, or the
    /// existing one's for `renew --reuse-key` and `sign`; `None` for items that make neither.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_algorithm: Option<KeyAlgorithm>,
    /// Serialised only for requests: what they will ask for (`request`, see `csr`).
    #[serde(flatten)]
    work: Work,
}

/// What executing an item does.
#[derive(Debug)]
enum Work {
    /// Write nothing; for a certificate kept as it is, what it holds (from the inventory).
    Keep(Option<Box<CertFacts>>),
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
    ServiceAccountPublic { key: PrivateKey, pub_path: PathBuf },
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
    /// A new key and a request for it (`generate-csr`).
    Csr(Box<csr::CsrWork>),
    /// Files whose contents the plan already holds (a checked certificate signed elsewhere, a
    /// kubeconfig it is embedded into, a copy of a CA), and what the certificate among them holds.
    Write {
        files: Vec<(PathBuf, crate::pki::store::FileKind, Vec<u8>)>,
        certificate: Option<Box<CertFacts>>,
    },
    /// What `sign`, `csr` and `issue-cert` make.
    Signing(Box<signing::SigningWork>),
    /// The bootstrap kit's files (their contents made while planning) and its report.
    BootstrapKit(Box<bootstrap::KitWork>),
    /// CertificateSigningRequest objects signed offline.
    CsrObjects(Box<csr_object::CsrObjectsWork>),
    /// Files moved out of the tree into this run's backup directory (CA rotation).
    Archive(Vec<PathBuf>),
}

impl Want {
    /// The node names this want puts into paths or identities.
    fn node_names(&self) -> Vec<&str> {
        match self {
            Want::Cert { node, .. }
            | Want::Kubeconfig { node, .. }
            | Want::Csr { node, .. }
            | Want::KubeconfigCsr { node, .. } => vec![node.name.as_str()],
            Want::EtcdMemberCa { node } => vec![node.as_str()],
            Want::Renew {
                target: Target::Cert { node, .. } | Target::Kubeconfig { node, .. },
                ..
            } => vec![node.as_str()],
            _ => Vec::new(),
        }
    }
}

/// A plan: the decisions, and the CAs loaded from disk that leaves will be signed by.
pub struct Plan {
    /// The decisions, in the order of the request's wants (a want may plan none, a CA
    /// rotation several).
    pub items: Vec<PlanItem>,
    loaded_cas: HashMap<&'static str, authority::Signer>,
    options: Options,
    layout: Layout,
}

/// Decides every item of `request` from what `inventory` found on disk.
pub fn plan(request: &Request, inventory: &Inventory) -> Result<Plan> {
    // A node name picks a directory (`kubelet/<node>/`, `etcd-members/<node>/`, ...): the CLI
    // parses it as a DNS name, but a library caller builds `NodeSpec` and `Target` itself, and
    // `../x` must never reach a path.
    for node in request.wants.iter().flat_map(Want::node_names) {
        if !node.is_empty() {
            crate::pki::names::validate_dns_name(node, false)
                .map_err(|e| Error::usage("node name", format!("node name {e}")))?;
        }
    }
    let mut cas = authority::Authorities::new(inventory, &request.options);
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for want in &request.wants {
        if let Want::RotateCa(w) = want {
            match rotate::plan(request, inventory, &mut cas, w) {
                Ok(planned) => items.extend(planned),
                Err(e) => errors.push(e),
            }
            continue;
        }
        match plan_want(request, inventory, &mut cas, want) {
            Ok(Some(item)) => items.push(item),
            // A CA it needs is unusable: reported once, below.
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    errors.extend(cas.take_errors());
    Error::from_all(errors)?;
    Ok(Plan {
        items,
        loaded_cas: cas.into_loaded(),
        options: request.options.clone(),
        layout: request.layout.clone(),
    })
}

fn plan_want(
    request: &Request,
    inventory: &Inventory,
    cas: &mut authority::Authorities,
    want: &Want,
) -> Result<Option<PlanItem>> {
    let item = match want {
        Want::ServiceAccount => key_pair::plan(inventory, &request.options)?,
        Want::Cert { profile, node } if profile.is_ca() => {
            let (item, state, loaded) = ca::plan(inventory, &request.options, profile, node)?;
            cas.set(profile, state, loaded);
            item
        }
        Want::Cert { profile, node } => {
            let Some(ca) = cas.get(profile.issuer()) else {
                return Ok(None);
            };
            leaf::plan(request, inventory, profile, node, ca)?
        }
        Want::Kubeconfig { profile, node } => {
            let target = kubeconfig::Target::of_profile(request, profile, node)?;
            let Some(ca) = cas.get(kubeconfig_ca()) else {
                return Ok(None);
            };
            kubeconfig::plan(request, inventory, target, ca)?
        }
        Want::UserKubeconfig {
            client_name,
            organizations,
            out,
        } => {
            let target = kubeconfig::Target::user(request, client_name, organizations, out)?;
            let Some(ca) = cas.get(kubeconfig_ca()) else {
                return Ok(None);
            };
            kubeconfig::plan(request, inventory, target, ca)?
        }
        Want::Renew {
            target,
            explicit,
            within,
        } => {
            let Some(ca) = cas.get(target.ca()) else {
                return Ok(None);
            };
            renew::plan(request, inventory, target, (*explicit, *within), ca)?
        }
        Want::Csr { profile, node } => csr::plan_leaf(request, inventory, profile, node)?,
        Want::KubeconfigCsr { profile, node } => {
            csr::plan_kubeconfig(request, inventory, profile, node)?
        }
        Want::EtcdMemberCa { node } => return member::plan_ca_copy(request, inventory, node),
        Want::Import { target, signed } => {
            return import::plan(request, inventory, target, signed);
        }
        Want::ImportUnmatched { signed } => {
            import::unmatched(request, inventory, signed)?;
            return Ok(None);
        }
        Want::Sign(w) => {
            let tree = match w.ca.tree() {
                Some(p) => match cas.get(p) {
                    Some(ca) => Some(ca),
                    None => return Ok(None),
                },
                None => None,
            };
            sign::plan(request, w, tree)?
        }
        Want::Identity(w) => {
            let tree = match w.tree_ca() {
                Some(p) => match cas.get(p) {
                    Some(ca) => Some(ca),
                    None => return Ok(None),
                },
                None => None,
            };
            identity::plan(request, w, tree)?
        }
        Want::BootstrapKit(w) => bootstrap::plan(request, inventory, w)?,
        Want::CsrObjects(w) => {
            let tree = match w.ca.tree() {
                Some(p) => match cas.get(p) {
                    Some(ca) => Some(ca),
                    None => return Ok(None),
                },
                None => None,
            };
            csr_object::plan(request, w, tree)?
        }
        Want::RotateCa(_) => return Ok(None),
    };
    Ok(Some(item))
}

/// What a planner's verdict becomes. `make` builds the item that writes (a new key and
/// certificate); creating or replacing needs `signable` to pass first, and `note` (a warning
/// about the new certificate) is added to its reason; a reuse keeps what is there (`kept`); a
/// conflict is refused at `conflict_at` with how to fix it.
fn conclude(
    verdict: decide::Verdict,
    make: impl Fn(Action, String) -> PlanItem,
    signable: impl Fn() -> Result<()>,
    note: Option<String>,
    kept: Option<&CertFacts>,
    conflict_at: &std::path::Path,
    opts: &Options,
) -> Result<PlanItem> {
    use decide::Verdict;
    let with_note = |reason: String| match &note {
        Some(n) => format!("{reason}; {n}"),
        None => reason,
    };
    match verdict {
        Verdict::Create(reason) => {
            signable()?;
            Ok(make(Action::Create, with_note(reason)))
        }
        Verdict::Replace(reason) => {
            signable()?;
            Ok(make(Action::Replace, with_note(reason)))
        }
        Verdict::Reuse(reason) => Ok(PlanItem {
            work: Work::Keep(kept.cloned().map(Box::new)),
            spec: None,
            key_algorithm: None,
            ..make(Action::Reuse, reason)
        }),
        Verdict::Conflict(message) => Err(Error::conflict(
            conflict_at,
            format!("{message}{}", force_hint(opts)),
        )),
    }
}

/// The hint a refusal ends with.
fn force_hint(opts: &Options) -> &'static str {
    if opts.force {
        ""
    } else {
        "; fix it, or pass --force to replace it (the old files are kept as a backup)"
    }
}

/// The catalog name and (for per-node profiles) the node an item is reported under.
fn display_name(profile: &Profile, node: &NodeSpec) -> (String, Option<String>) {
    (
        profile.name.to_string(),
        profile.per_node().then(|| node.name.clone()),
    )
}
