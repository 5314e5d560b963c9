//! `bootstrap-token`: the TLS-bootstrap kit, planned from the tree's CA certificate, the token
//! and the cluster's server (`crate::pki::bootstrap` makes the objects).
//!
//! Two files: the manifests to `kubectl apply -f` ([`MANIFESTS_FILE`]) and the kubelet's
//! `--bootstrap-kubeconfig` ([`KUBECONFIG_FILE`]). Both hold the token, a credential, so both are
//! created 0600. A file that already holds, byte for byte and 0600, what this run would write is
//! kept (a fixed `--token` with `--ttl 0` is idempotent); any other file there is refused without
//! `--force` (the token it holds may be in use) and replaced, with a backup, with it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use time::Duration;

use super::decide::{Existing, Verdict, decide};
use super::{Action, Decision, ItemKind, PlanItem, Request, Work, force_hint};
use crate::pki::bootstrap::{
    Expiration, KitRequest, Token, bootstrap_kubeconfig, check_groups, join_command, manifests,
};
use crate::pki::error::{Error, Result};
use crate::pki::inventory::{Found, Inventory};
use crate::pki::store::{self, FileData, FileKind};

/// The manifests file in `--out-dir`.
pub const MANIFESTS_FILE: &str = "bootstrap-token.yaml";
/// The bootstrap kubeconfig in `--out-dir`, named as `kubeadm join` names it on a node.
pub const KUBECONFIG_FILE: &str = "bootstrap-kubelet.conf";

/// `bootstrap-token`: one kit to make.
#[derive(Debug, Clone)]
pub struct KitWant {
    /// The bootstrap token the kit is for ([`Token::generate`] makes a random one).
    pub token: Token,
    /// How long the token is valid from [`Options::now`](super::Options::now) (its Secret's
    /// `expiration`); zero: the token never expires.
    pub ttl: Duration,
    /// The Secret's `description`; left out when empty, as kubeadm does.
    pub description: String,
    /// The extra groups the token authenticates as, each `system:bootstrappers:...`; empty:
    /// kubeadm's default group
    /// ([`DEFAULT_GROUP`](crate::pki::bootstrap::DEFAULT_GROUP)).
    pub groups: Vec<String>,
    /// The API server URL nodes are given.
    pub server: String,
    /// The cluster's name in the bootstrap kubeconfig.
    pub cluster_name: String,
    /// The tree's `ca.crt` (read by the inventory): its certificates go into both files, the
    /// first one is pinned.
    pub ca_path: PathBuf,
    /// The manifests file ([`MANIFESTS_FILE`] in `--out-dir`).
    pub manifests: KitFile,
    /// The bootstrap kubeconfig ([`KUBECONFIG_FILE`] in `--out-dir`).
    pub kubeconfig: KitFile,
}

/// An output file of the kit and what is there now (read before planning).
#[derive(Clone)]
pub struct KitFile {
    /// Where the file goes (created 0600: it holds the token).
    pub path: PathBuf,
    /// What is there now, as [`store::read_file`] read it: a file that already holds, byte for
    /// byte, what this run would write, with no permission for group or others, is kept.
    pub found: Arc<Found<FileData>>,
}

impl fmt::Debug for KitFile {
    // What is there may hold a token: never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KitFile")
            .field("path", &self.path)
            .field("exists", &self.found.exists())
            .finish()
    }
}

/// What a kit gives the operator: the token, when it expires, the CA pin and the join line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KitReport {
    /// The token, a credential: serialised in full (`-o json` is how scripts get it), never
    /// shown by `Debug`.
    #[serde(serialize_with = "reveal")]
    pub token: Token,
    /// The token's public part (the `<id>` of `<id>.<secret>`), which names its Secret
    /// `bootstrap-token-<id>`.
    pub token_id: String,
    /// RFC 3339; `None` (null) for a token that never expires.
    #[serde(serialize_with = "expiration")]
    pub expiration: Option<Expiration>,
    /// The groups the token authenticates as (kubeadm's default group when none were asked).
    pub groups: Vec<String>,
    /// The Secret's description; empty when none was given.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The API server URL the bootstrap kubeconfig and the join command name.
    pub server: String,
    /// `sha256:<hex>` of the first CA certificate's public key.
    pub ca_cert_hash: String,
    /// How many certificates the CA file holds (all go into the files).
    pub ca_certificates: usize,
    /// Where the manifests are (to `kubectl apply -f`).
    pub manifests: PathBuf,
    /// Where the bootstrap kubeconfig is (the kubelet's `--bootstrap-kubeconfig`).
    pub kubeconfig: PathBuf,
}

impl KitReport {
    /// `kubeadm join <endpoint> --token ... --discovery-token-ca-cert-hash sha256:...`.
    pub fn join_command(&self) -> String {
        join_command(&self.server, &self.token, &self.ca_cert_hash)
    }
}

fn reveal<S: serde::Serializer>(t: &Token, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&t.reveal())
}

fn expiration<S: serde::Serializer>(
    e: &Option<Expiration>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match e {
        Some(e) => s.serialize_str(e.text()),
        None => s.serialize_none(),
    }
}

/// What executing a kit item writes (the contents hold the token: never in `Debug`).
pub(super) struct KitWork {
    pub(super) files: Vec<(PathBuf, FileKind, Vec<u8>)>,
    pub(super) report: KitReport,
}

impl fmt::Debug for KitWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paths: Vec<&Path> = self.files.iter().map(|(p, _, _)| p.as_path()).collect();
        f.debug_struct("KitWork")
            .field("files", &paths)
            .field("report", &self.report)
            .finish()
    }
}

impl PlanItem {
    /// For `bootstrap-token` items: the token, the pin, the join line.
    pub fn bootstrap_kit(&self) -> Option<&KitReport> {
        match &self.work {
            Work::BootstrapKit(kit) => Some(&kit.report),
            _ => None,
        }
    }
}

pub(super) fn plan(request: &Request, inventory: &Inventory, want: &KitWant) -> Result<PlanItem> {
    let opts = &request.options;
    let ca_chain = ca_chain(inventory, &want.ca_path, opts.now)?;
    let expires = Expiration::after(opts.now, want.ttl).map_err(|e| Error::usage("--ttl", e))?;
    check_groups(&want.groups).map_err(|e| Error::usage("--groups", e))?;
    let kit = KitRequest {
        token: want.token.clone(),
        expires,
        description: want.description.clone(),
        groups: want.groups.clone(),
        ca_chain,
        server: want.server.clone(),
        cluster_name: want.cluster_name.clone(),
    };
    let pin = kit.pin().map_err(|e| Error::bad_file(&want.ca_path, e))?;
    let yaml = |v: &serde_json::Value| {
        yaml_serde::to_string(v)
            .map(String::into_bytes)
            .map_err(|e| Error::Crypto(format!("internal: the kit does not serialise: {e}")))
    };
    let contents = [
        (
            &want.manifests,
            FileKind::SecretManifest,
            yaml(&manifests(&kit))?,
        ),
        (
            &want.kubeconfig,
            FileKind::Kubeconfig,
            yaml(&bootstrap_kubeconfig(&kit))?,
        ),
    ];
    let mut missing = false;
    let mut differs = Vec::new();
    for (file, _, bytes) in &contents {
        match file.found.as_ref() {
            Found::Missing => missing = true,
            Found::Broken(p) => return Err(p.to_error(&file.path)),
            Found::Present(d) if store::exposed(d.mode) => differs.push(format!(
                "{} is readable by group or others (mode {:04o})",
                file.path.display(),
                d.mode
            )),
            Found::Present(d) if d.bytes != *bytes => differs.push(format!(
                "{} holds another kit (a token that may be in use)",
                file.path.display()
            )),
            Found::Present(_) => {}
        }
    }
    let existing = match (differs.is_empty(), missing) {
        (false, _) => Existing::Differs(differs.clone()),
        (true, true) => Existing::Missing,
        (true, false) => Existing::Matches("holds this kit already".into()),
    };
    let report = KitReport {
        token_id: kit.token.id().to_string(),
        token: kit.token.clone(),
        expiration: kit.expires.clone(),
        groups: kit.groups(),
        description: kit.description.clone(),
        server: kit.server.clone(),
        ca_cert_hash: pin,
        ca_certificates: kit.ca_chain.len(),
        manifests: want.manifests.path.clone(),
        kubeconfig: want.kubeconfig.path.clone(),
    };
    let (action, reason, writes) = match decide(existing, opts.force) {
        Verdict::Create(reason) => (Action::Create, reason, true),
        Verdict::Replace(reason) => (Action::Replace, reason, true),
        Verdict::Reuse(reason) => (Action::Reuse, reason, false),
        Verdict::Conflict(_) => {
            return Err(Error::conflict(
                parent_or_self(&want.manifests.path),
                format!(
                    "the kit's files are there already: {}{}",
                    differs.join("; "),
                    force_hint(opts)
                ),
            ));
        }
    };
    let files = match writes {
        true => contents
            .into_iter()
            .map(|(f, kind, bytes)| (f.path.clone(), kind, bytes))
            .collect(),
        false => Vec::new(),
    };
    Ok(PlanItem {
        decision: Decision {
            kind: ItemKind::BootstrapKit,
            name: "bootstrap-token".into(),
            node: None,
            action,
            reason,
            files: vec![want.manifests.path.clone(), want.kubeconfig.path.clone()],
        },
        spec: None,
        key_algorithm: None,
        work: Work::BootstrapKit(Box::new(KitWork { files, report })),
    })
}

/// The CA file's certificates: it must exist, be a CA and not have expired.
fn ca_chain(inventory: &Inventory, path: &Path, now: time::OffsetDateTime) -> Result<Vec<Vec<u8>>> {
    let found = inventory
        .cert_file(path)
        .ok_or_else(|| Error::Crypto("internal: the CA file was not read".into()))?;
    match found {
        Found::Missing => Err(Error::usage(
            "--cert-dir",
            format!(
                "{} does not exist: the kit needs the cluster CA certificate (kubepki init-ca \
                 makes it)",
                path.display()
            ),
        )),
        Found::Broken(p) => Err(p.to_error(path)),
        Found::Present(c) if !c.facts.is_ca => Err(Error::bad_file(
            path,
            "is not a CA certificate (no basicConstraints CA:TRUE); nodes are to trust the \
             cluster CA",
        )),
        Found::Present(c) if c.facts.not_after <= now => Err(Error::bad_file(
            path,
            format!(
                "the CA certificate expired on {}: nodes could not verify the API server",
                c.facts
                    .not_after
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ),
        )),
        Found::Present(c) => Ok(c.chain.clone()),
    }
}

/// Conflicts are reported at the output directory, which both files share.
fn parent_or_self(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => path,
    }
}
