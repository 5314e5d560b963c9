//! `kubepki signer`: a signer for one signerName on a real API server, on kube-rs.
//!
//! It lists and watches the CertificateSigningRequests of its signerName (a field selector on
//! `spec.signerName`), and for each one asks [`crate::pki::csr_object::decide()`] what to do — the same pure
//! decision `csr-object sign` makes offline. An approved object that passes the rules gets its
//! certificate in `status.certificate`, one that does not gets a `Failed` condition (reason
//! `SignerValidationFailure`), both written through the `/status` subresource with the object's
//! resourceVersion; everything else is left alone.
//!
//! Never twice: an object with a certificate or a `Failed` condition is skipped (also after a
//! restart, from what the API server says); a write that meets a newer resourceVersion (409) is
//! dropped, the object read again and decided again; an object this process has written is not
//! signed again by it. API errors are retried with an exponential backoff (100 ms doubling to
//! 30 s), and the watch itself re-lists with kube-runtime's backoff, so the signer rides out an
//! API server restart. One log line per decision (the object's name and what was done, never a
//! key or a certificate). SIGTERM and ctrl-c stop it between two objects.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use time::OffsetDateTime;

use crate::pki::csr_object::{self, Signer, Skip, Verdict};
use crate::pki::plan::LoadedCa;
use crate::pki::untrusted::show_untrusted;

/// What the signer needs.
pub struct Config {
    pub signer: Signer,
    pub ca: LoadedCa,
    pub kubeconfig: PathBuf,
    /// Process what is there now and exit.
    pub once: bool,
}

/// What a run did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub issued: usize,
    pub failed: usize,
    /// Objects whose write did not go through after every retry (`--once` only).
    pub errors: usize,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often `--once` retries one object before giving up on it.
const ONCE_ATTEMPTS: u32 = 8;

/// Runs the signer until it is stopped (or, with `once`, until the pending objects are done).
pub async fn run(config: Config) -> anyhow::Result<Stats> {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(&config.kubeconfig).with_context(|| {
            format!(
                "{}: cannot read the kubeconfig",
                config.kubeconfig.display()
            )
        })?;
    let client_config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .with_context(|| format!("{}: cannot use the kubeconfig", config.kubeconfig.display()))?;
    let client = kube::Client::try_from(client_config).context("cannot make the API client")?;
    let api: Api<CertificateSigningRequest> = Api::all(client);
    let mut signer = Worker {
        api,
        config,
        written: HashSet::new(),
        stats: Stats::default(),
    };
    let selector = format!("spec.signerName={}", signer.config.signer.signer_name);
    eprintln!(
        "[signer] {}: signing with {} (valid until {}){}",
        signer.config.signer.signer_name,
        signer.config.ca.label,
        csr_object::show_time(signer.config.ca.not_after),
        if signer.config.once { ", once" } else { "" }
    );
    if signer.config.once {
        signer.once(&selector).await?;
    } else {
        signer.watch(&selector).await?;
    }
    eprintln!(
        "[signer] {}: stopped: {} issued, {} failed",
        signer.config.signer.signer_name, signer.stats.issued, signer.stats.failed
    );
    Ok(signer.stats)
}

struct Worker {
    api: Api<CertificateSigningRequest>,
    config: Config,
    /// The uids of the objects this process wrote a certificate or a Failed condition to.
    written: HashSet<String>,
    stats: Stats,
}

/// What processing one object came to.
enum Processed {
    Done,
    /// The API server did not take the write (or could not be asked): try again later.
    Retry(kube::Error),
}

impl Worker {
    async fn once(&mut self, selector: &str) -> anyhow::Result<()> {
        let mut backoff = FIRST_BACKOFF;
        let list = loop {
            match self.api.list(&ListParams::default().fields(selector)).await {
                Ok(list) => break list,
                Err(e) if backoff < MAX_BACKOFF => {
                    eprintln!(
                        "[signer] cannot list: {}; retrying in {backoff:?}",
                        brief(&e)
                    );
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(e) => return Err(e).context("cannot list CertificateSigningRequests"),
            }
        };
        for object in list.items {
            let mut object = object;
            let mut backoff = FIRST_BACKOFF;
            for attempt in 1..=ONCE_ATTEMPTS {
                match self.process(object.clone(), true).await {
                    Processed::Done => break,
                    Processed::Retry(e) if attempt < ONCE_ATTEMPTS => {
                        eprintln!(
                            "[signer] {}: API error: {}; retrying in {backoff:?}",
                            name_of(&object),
                            brief(&e)
                        );
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        if let Some(fresh) = self.reread(&object).await {
                            object = fresh;
                        }
                    }
                    Processed::Retry(e) => {
                        eprintln!("[signer] {}: giving up: {}", name_of(&object), brief(&e));
                        self.stats.errors += 1;
                    }
                }
            }
        }
        Ok(())
    }

    async fn watch(&mut self, selector: &str) -> anyhow::Result<()> {
        let stream = watcher(
            self.api.clone(),
            watcher::Config::default().fields(selector),
        )
        .default_backoff();
        let mut stream = std::pin::pin!(stream);
        let mut stop = std::pin::pin!(shutdown());
        // Objects whose write failed: when to try again, and the next wait.
        let mut retry: HashMap<String, (tokio::time::Instant, Duration)> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                signal = &mut stop => {
                    eprintln!("[signer] {signal}: stopping");
                    return Ok(());
                }
                event = stream.next() => {
                    let object = match event {
                        None => return Ok(()),
                        Some(Err(e)) => {
                            eprintln!("[signer] watch: {e}; backing off");
                            continue;
                        }
                        Some(Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o))) => o,
                        Some(Ok(_)) => continue,
                    };
                    let name = object.metadata.name.clone().unwrap_or_default();
                    if retry.contains_key(&name) {
                        continue;
                    }
                    if let Processed::Retry(e) = self.process(object, false).await {
                        eprintln!("[signer] {}: API error: {}; retrying in {FIRST_BACKOFF:?}", show_untrusted(&name), brief(&e));
                        retry.insert(name, (tokio::time::Instant::now() + FIRST_BACKOFF, FIRST_BACKOFF));
                    }
                }
                _ = tick.tick() => {
                    let now = tokio::time::Instant::now();
                    let due: Vec<String> = retry
                        .iter()
                        .filter(|(_, (at, _))| *at <= now)
                        .map(|(n, _)| n.clone())
                        .collect();
                    for name in due {
                        let Some((_, wait)) = retry.remove(&name) else { continue };
                        let outcome = match self.api.get_opt(&name).await {
                            Ok(Some(object)) => self.process(object, false).await,
                            Ok(None) => Processed::Done,
                            Err(e) => Processed::Retry(e),
                        };
                        if let Processed::Retry(e) = outcome {
                            let next = (wait * 2).min(MAX_BACKOFF);
                            eprintln!("[signer] {}: API error: {}; retrying in {next:?}", show_untrusted(&name), brief(&e));
                            retry.insert(name, (tokio::time::Instant::now() + next, next));
                        }
                    }
                }
            }
        }
    }

    /// Reads the object again (after a failed write), if the API server answers.
    async fn reread(
        &self,
        object: &CertificateSigningRequest,
    ) -> Option<CertificateSigningRequest> {
        let name = object.metadata.name.as_deref()?;
        self.api.get_opt(name).await.ok().flatten()
    }

    /// Decides one object and writes what was decided; a 409 re-reads and decides again.
    async fn process(
        &mut self,
        mut object: CertificateSigningRequest,
        log_skips: bool,
    ) -> Processed {
        loop {
            let uid = object.metadata.uid.clone().unwrap_or_default();
            let name = name_of(&object);
            if self.written.contains(&uid) {
                return Processed::Done;
            }
            let now = OffsetDateTime::now_utc();
            let verdict = match csr_object::decide(
                &object,
                &self.config.signer,
                self.config.ca.not_after,
                now,
            ) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("[signer] {name}: not signed: {e}");
                    return Processed::Done;
                }
            };
            let (line, issued) = match &verdict {
                Verdict::Skip(skip) => {
                    if log_skips || matches!(skip, Skip::NotApproved | Skip::Denied) {
                        eprintln!("[signer] {name}: left alone: {}", skip.describe());
                    }
                    return Processed::Done;
                }
                Verdict::Issue(issue) => {
                    let pem = match csr_object::sign(issue, &self.config.ca.authority) {
                        Ok(p) => p,
                        Err(e) => {
                            eprintln!("[signer] {name}: cannot sign: {e}");
                            return Processed::Done;
                        }
                    };
                    csr_object::set_certificate(&mut object, &pem);
                    (
                        format!(
                            "issued: {} until {}",
                            show_untrusted(&issue.spec.common_name),
                            csr_object::show_time(issue.spec.not_after)
                        ),
                        true,
                    )
                }
                Verdict::Fail(message) => {
                    csr_object::fail(&mut object, message, now);
                    (format!("failed: {message}"), false)
                }
            };
            let raw = object.metadata.name.clone().unwrap_or_default();
            match self
                .api
                .replace_status(&raw, &PostParams::default(), &object)
                .await
            {
                Ok(_) => {
                    eprintln!("[signer] {name}: {line}");
                    self.written.insert(uid);
                    match issued {
                        true => self.stats.issued += 1,
                        false => self.stats.failed += 1,
                    }
                    return Processed::Done;
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    // Someone changed it since it was read: decide again on what it is now.
                    match self.api.get_opt(&raw).await {
                        Ok(Some(fresh)) => object = fresh,
                        Ok(None) => return Processed::Done,
                        Err(e) => return Processed::Retry(e),
                    }
                }
                Err(kube::Error::Api(status)) if status.code == 404 => return Processed::Done,
                Err(e) => return Processed::Retry(e),
            }
        }
    }
}

fn name_of(object: &CertificateSigningRequest) -> String {
    csr_object::display_name(object)
}

/// An API error in one line, without the body it may carry.
fn brief(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}", s.code, s.reason),
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// Waits for SIGTERM or ctrl-c (SIGINT); says which.
async fn shutdown() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "interrupt";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "interrupt",
    }
}
