//! Executing a plan: keys generated up front in parallel, CAs made first (they sign what
//! follows), every other item realised on all cores, every file staged, then the whole batch
//! committed by the store.

use std::path::Path;

use serde::Serialize;
use time::OffsetDateTime;

use super::authority::Signer;
use super::{Action, Decision, Plan, PlanItem, Work};
use super::{csr, renew};
use crate::pki::catalog;
use crate::pki::cert::{self, Authority, CertFacts};
use crate::pki::csr::CsrSpec;
use crate::pki::error::{Error, Result};
use crate::pki::keys::{self, KeyAlgorithm, PrivateKey};
use crate::pki::kubeconfig::Kubeconfig;
use crate::pki::store::{self, FileKind, FileWrite};

/// What a run did, item by item.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// What the item is and what was done (its action, reason and files).
    #[serde(flatten)]
    pub decision: Decision,
    /// For certificates written or kept: what they hold, read back from the DER.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertFacts>,
    /// The algorithm of the key the certificate, key pair or request certifies; `None` when
    /// nothing of the kind was made or kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_algorithm: Option<KeyAlgorithm>,
    /// A kubeconfig made for stdout rather than a file.
    #[serde(skip)]
    pub kubeconfig: Option<String>,
    /// For requests written (`generate-csr`): what they ask for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<CsrSpec>,
    /// What `sign`, `csr` and `issue-cert` made (the PEM, and what the report says).
    #[serde(skip)]
    pub issued: Option<Box<super::signing::Issued>>,
    /// What `csr-object sign` made (the document, and each object's result).
    #[serde(skip)]
    pub csr_objects: Option<Box<super::csr_object::SignedObjects>>,
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
                | Work::Csr(_)
        ) || matches!(&self.work, Work::Signing(w) if w.needs_new_key())
    }
}

impl Plan {
    /// Whether executing the plan would write anything.
    pub fn writes_anything(&self) -> bool {
        self.items
            .iter()
            .any(|i| !matches!(i.decision.action, Action::Reuse | Action::Skip))
    }

    /// Makes every key, certificate and kubeconfig the plan decided and writes them in one
    /// journalled batch, returning what each item did. Errs on the first key or certificate
    /// that cannot be made, or on a write that fails (then nothing of the batch is renamed into
    /// place, or the journal completes it on the next run).
    pub fn execute(self) -> Result<Vec<Outcome>> {
        self.execute_with(&crate::pki::progress::Silent)
    }

    /// [`Plan::execute`], reporting each key generated and each item made to `progress`.
    pub fn execute_with(
        mut self,
        progress: &dyn crate::pki::progress::Progress,
    ) -> Result<Vec<Outcome>> {
        // Every item that needs a new key gets one of its own algorithm, generated up front in
        // parallel (RSA generation is the expensive part of a run).
        let algorithms: Vec<KeyAlgorithm> = self
            .items
            .iter()
            .filter(|i| i.needs_new_key())
            .filter_map(|i| i.key_algorithm)
            .collect();
        progress.start((algorithms.len() + self.items.len()) as u64);
        let new_keys = keys::generate_many_with(&algorithms, progress);
        let mut new_keys = match new_keys {
            Ok(k) => k.into_iter(),
            Err(e) => {
                progress.finish();
                return Err(e);
            }
        };
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
            .filter(|i| !matches!(i.work, Work::Keep(_)))
            .collect();
        let durability =
            store::Durability::for_files(writing.iter().map(|i| i.decision.files.len()).sum());
        // A set: 1,000 nodes' directories compared each with every other cost more than signing.
        let mut seen = std::collections::HashSet::new();
        let dirs: Vec<&Path> = writing
            .iter()
            .flat_map(|i| &i.decision.files)
            .filter_map(|f| f.parent())
            .filter(|dir| !dir.as_os_str().is_empty() && seen.insert(*dir))
            .collect();
        let created = store::create_dirs(dirs)?;
        let result = self.realize_and_commit(jobs, &stamp, durability, progress);
        progress.finish();
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
        progress: &dyn crate::pki::progress::Progress,
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
            progress.advance(1);
            if let Some((name, authority)) = realized.authority.take() {
                self.loaded_cas.insert(name, authority);
            }
            done.push((index, realized));
        }
        done.extend(self.realize_all(others, stamp, durability, progress)?);
        done.sort_by_key(|(index, _)| *index);

        let mut staged = Vec::new();
        let mut archive = Vec::new();
        let mut outcomes = Vec::with_capacity(done.len());
        for (_, realized) in done {
            staged.extend(realized.staged);
            archive.extend(realized.archive);
            outcomes.push(realized.outcome);
        }
        store::commit_staged(
            staged,
            &[self.layout.cert_dir(), self.layout.kubeconfig_dir()],
            durability,
        )?;
        // After the batch: a run killed in between archives them when run again.
        for (path, backup) in archive {
            let secret = path.extension().is_some_and(|e| e == "key");
            store::archive(&path, &backup, secret)?;
        }
        Ok(outcomes)
    }

    /// Realises independent items on all cores, keeping their indices.
    fn realize_all(
        &self,
        jobs: Vec<(usize, (PlanItem, Option<PrivateKey>))>,
        stamp: &str,
        durability: store::Durability,
        progress: &dyn crate::pki::progress::Progress,
    ) -> Result<Vec<(usize, Realized)>> {
        // A thread per ITEMS_PER_THREAD items at most, the calling thread being one of them. The
        // dozen items of an `init` stay on one thread: a second one (its stack, malloc arena and
        // crypto state, some 35 page faults) cost about what it saved (measured, README).
        let wanted = jobs.len().div_ceil(ITEMS_PER_THREAD);
        let threads = match wanted {
            0 | 1 => 1,
            _ => std::thread::available_parallelism().map_or(1, |n| n.get().min(wanted)),
        };
        let run = |share: Vec<(usize, (PlanItem, Option<PrivateKey>))>| {
            share
                .into_iter()
                .map(|(index, (item, key))| {
                    let realized = self.realize(item, key, stamp, durability)?;
                    progress.advance(1);
                    Ok((index, realized))
                })
                .collect::<Result<Vec<_>>>()
        };
        if threads <= 1 {
            return run(jobs);
        }
        let mut shares: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
        for (n, job) in jobs.into_iter().enumerate() {
            shares[n % threads].push(job);
        }
        let mine = shares.remove(0);
        std::thread::scope(|scope| {
            let handles: Vec<_> = shares
                .into_iter()
                .map(|share| scope.spawn(move || run(share)))
                .collect();
            // A panic here is caught as a joined thread's is, and becomes an error.
            let mut parts = vec![std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                || run(mine),
            ))];
            parts.extend(handles.into_iter().map(|h| h.join()));
            let mut all = Vec::new();
            for part in parts {
                all.extend(part.map_err(|_| Error::Crypto("a signing thread failed".into()))??);
            }
            Ok(all)
        })
    }

    /// The CA that signs as `ca` in this run.
    fn signer(&self, ca: &str) -> Result<&Signer> {
        self.loaded_cas
            .get(ca)
            .ok_or_else(|| internal(&format!("CA {ca} is not loaded")))
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
        let write = |path: &Path, kind: FileKind, contents: String| FileWrite {
            path: path.to_path_buf(),
            kind,
            contents: contents.into_bytes(),
            backup: backup(path),
        };
        // Issues the item's spec for `key`, signed by `ca` (self-signed when `None`).
        let issue = |key: &PrivateKey, ca: Option<&Signer>| -> Result<Vec<u8>> {
            let spec = item
                .spec
                .as_ref()
                .ok_or_else(|| internal("an item that signs has no spec"))?;
            cert::issue(spec, key, ca.map(|s| &s.authority))
        };
        let mut writes = Vec::new();
        let mut certificate = None;
        let mut kubeconfig = None;
        let mut authority = None;
        let mut request = None;
        let mut issued = None;
        let mut csr_objects = None;
        let mut archive = Vec::new();
        match &item.work {
            Work::Archive(paths) => {
                archive.extend(
                    paths
                        .iter()
                        .map(|p| (p.clone(), self.layout.backup_path(stamp, p))),
                );
            }
            Work::Keep(facts) => certificate = facts.as_deref().cloned(),
            Work::Cert {
                ca,
                cert_path,
                key_path,
                reuse_key,
            } => {
                let key = signing_key(reuse_key, &new_key)?;
                let signer = ca.map(|ca| self.signer(ca)).transpose()?;
                let der = issue(key, signer)?;
                certificate = CertFacts::from_der(&der).ok();
                if reuse_key.is_none() {
                    writes.push(write(key_path, FileKind::PrivateKey, key.to_pem()?));
                }
                // During a cross-signed CA rotation, the new CA cross-signed by the old one
                // follows the leaf, for peers that still trust only the old CA.
                let chain = signer.map(Signer::chain_pem).unwrap_or_default();
                writes.push(write(
                    cert_path,
                    FileKind::Certificate,
                    cert::cert_pem(&der) + &chain,
                ));
                if ca.is_none() {
                    // A CA made now signs the leaves that follow it in the plan.
                    let name = catalog::find(&item.decision.name)
                        .map(|p| p.name)
                        .ok_or_else(|| internal("a CA item is not a catalog profile"))?;
                    let key = new_key.ok_or_else(|| internal("no key generated for a CA"))?;
                    let made = Authority::new(der, key).map_err(Error::Crypto)?;
                    authority = Some((name, Signer::new(made)));
                }
            }
            Work::ServiceAccount { key_path, pub_path } => {
                let key = signing_key(&None, &new_key)?;
                writes.push(write(key_path, FileKind::PrivateKey, key.to_pem()?));
                writes.push(write(pub_path, FileKind::PublicKey, key.public_key_pem()));
            }
            Work::ServiceAccountPublic { key, pub_path } => {
                writes.push(write(pub_path, FileKind::PublicKey, key.public_key_pem()));
            }
            Work::Kubeconfig {
                dest,
                server,
                cluster_name,
            } => {
                let key = signing_key(&None, &new_key)?;
                let ca = self.signer(catalog::KUBECONFIG_CA)?;
                let der = issue(key, Some(ca))?;
                certificate = CertFacts::from_der(&der).ok();
                let yaml = Kubeconfig::with_client_cert(
                    cluster_name,
                    server,
                    &ca.trust_pem(),
                    item.spec.as_ref().map_or("", |s| s.common_name.as_str()),
                    &cert::cert_pem(&der),
                    &key.to_pem()?,
                )
                .to_yaml()
                .map_err(Error::Crypto)?;
                match dest {
                    Some(path) => writes.push(write(path, FileKind::Kubeconfig, yaml)),
                    None => kubeconfig = Some(yaml),
                }
            }
            Work::RenewKubeconfig {
                path,
                config,
                reuse_key,
            } => {
                let key = signing_key(reuse_key, &new_key)?;
                let ca = self.signer(catalog::KUBECONFIG_CA)?;
                let der = issue(key, Some(ca))?;
                certificate = CertFacts::from_der(&der).ok();
                let yaml = renew::rewrite_kubeconfig(
                    config,
                    &ca.trust_pem(),
                    &cert::cert_pem(&der),
                    &key.to_pem()?,
                )?;
                writes.push(write(path, FileKind::Kubeconfig, yaml));
            }
            Work::Csr(work) => {
                let key = signing_key(&None, &new_key)?;
                for (path, kind, text) in csr::realize(work, key)? {
                    writes.push(write(&path, kind, text));
                }
                request = Some(work.request.clone());
            }
            Work::Write {
                files,
                certificate: facts,
            } => {
                certificate = facts.as_deref().cloned();
                writes.extend(files.iter().map(|(path, kind, contents)| FileWrite {
                    path: path.clone(),
                    kind: *kind,
                    contents: contents.clone(),
                    backup: backup(path),
                }));
            }
            Work::Signing(work) => {
                let made = work.realize(self, item.spec.as_ref(), new_key.as_ref())?;
                for (path, kind, contents) in made.files {
                    writes.push(write(&path, kind, contents));
                }
                certificate = made.certificate;
                issued = Some(Box::new(made.issued));
            }
            Work::BootstrapKit(kit) => {
                writes.extend(kit.files.iter().map(|(path, kind, contents)| FileWrite {
                    path: path.clone(),
                    kind: *kind,
                    contents: contents.clone(),
                    backup: backup(path),
                }));
            }
            Work::CsrObjects(work) => {
                let (files, signed) = work.realize(self)?;
                for (path, kind, contents) in files {
                    writes.push(write(&path, kind, contents));
                }
                csr_objects = Some(Box::new(signed));
            }
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
                request,
                issued,
                csr_objects,
            },
            staged,
            authority,
            archive,
        })
    }
}

/// The key an item signs: the kept one (`--reuse-key`), else the one generated for it.
fn signing_key<'k>(
    reuse: &'k Option<PrivateKey>,
    new: &'k Option<PrivateKey>,
) -> Result<&'k PrivateKey> {
    reuse
        .as_ref()
        .or(new.as_ref())
        .ok_or_else(|| internal("no key generated for an item"))
}

fn internal(what: &str) -> Error {
    Error::Crypto(format!("internal: {what}"))
}

/// One realised item: what it reports, the files it staged, and the CA it made (if it is one).
struct Realized {
    outcome: Outcome,
    staged: Vec<store::Staged>,
    authority: Option<(&'static str, Signer)>,
    /// Files to move into the backup once the batch is in place (CA rotation).
    archive: Vec<(std::path::PathBuf, std::path::PathBuf)>,
}

fn next_key(keys: &mut impl Iterator<Item = PrivateKey>) -> Result<PrivateKey> {
    keys.next()
        .ok_or_else(|| Error::Crypto("internal: fewer keys generated than planned".into()))
}

/// Items realised by one thread at most (see `realize_all`).
const ITEMS_PER_THREAD: usize = 16;

/// A backup directory name for this run: the UTC time to the millisecond.
fn backup_stamp(now: OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
    );
    now.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}
