//! The one path every file-writing command takes: read what is on disk, plan, and then either
//! print the plan (`--dry-run`) or, under the directory lock, complete an interrupted run, sweep
//! stale temporaries, plan again on what is now on disk, execute and report.

use anyhow::Context;

use crate::exit::ExitStatus;
use crate::output::{self, OutputFormat};
use crate::pki::inventory::Inventory;
use crate::pki::plan::{self, Action, Request};
use crate::pki::{Error, store};

/// How long a run waits for another run on the same directory before giving up.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What a command adds after its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Epilogue {
    None,
    /// Renewed certificates take effect once the components restart.
    RestartAfterRenew,
    /// What the operator does next, in order (`rotate-ca`), printed after the plan or results
    /// and part of the JSON/YAML document.
    NextSteps(Vec<String>),
}

impl Epilogue {
    fn steps(&self) -> &[String] {
        match self {
            Epilogue::NextSteps(s) => s,
            _ => &[],
        }
    }
}

/// Prints `steps` after a text report.
fn print_steps(steps: &[String], format: OutputFormat) -> std::io::Result<()> {
    use std::io::Write;
    if format == OutputFormat::Text && !steps.is_empty() {
        let mut out = std::io::stdout().lock();
        writeln!(out, "Next, in order:")?;
        for (n, step) in steps.iter().enumerate() {
            writeln!(out, "  {}. {step}", n + 1)?;
        }
    }
    Ok(())
}

/// Plans `request` and prints it (`dry_run`) or carries it out.
pub(super) fn write(
    request: Request,
    dry_run: bool,
    format: OutputFormat,
    epilogue: Epilogue,
) -> anyhow::Result<ExitStatus> {
    let cert_dir = request.layout.cert_dir();
    if dry_run {
        // A dry run writes nothing, not even the lock; it cannot complete an interrupted run.
        for root in roots(&request) {
            // A journal that would be refused says so; a sound one needs a real run.
            if store::pending(root)? {
                return Err(Error::bad_file(
                    root.join(store::JOURNAL),
                    "an interrupted kubepki run left this journal; run the same command without \
                     --dry-run to complete it",
                )
                .into());
            }
        }
        let inventory = Inventory::read(&request.layout, &request.files());
        warn_exposed(&inventory);
        let plan = plan::plan(&request, &inventory).context("nothing was written")?;
        output::print_plan(&plan, &request.layout, format, epilogue.steps())?;
        print_steps(epilogue.steps(), format)?;
        return Ok(ExitStatus::Success);
    }
    let _lock = store::Lock::acquire(cert_dir, LOCK_WAIT)?;
    for root in roots(&request) {
        recover(root)?;
    }
    // Only where kubepki writes: the whole PKI tree, and in the kubeconfig directory (which holds
    // other tools' files too) just its own files and per-node kubeconfigs.
    let kubeconfig_dir = request.layout.kubeconfig_dir();
    let swept = store::remove_stale_temporaries(cert_dir, true)
        + store::remove_stale_temporaries(kubeconfig_dir, false)
        + store::remove_stale_temporaries(&kubeconfig_dir.join(store::NODE_KUBECONFIG_DIR), true);
    if swept > 0 {
        eprintln!("[recover] removed {swept} temporary files an interrupted run left behind");
    }
    let inventory = Inventory::read(&request.layout, &request.files());
    warn_exposed(&inventory);
    let plan = plan::plan(&request, &inventory).context("nothing was written")?;
    let bar = output::progress::Bar::for_run(format);
    let outcomes = plan.execute_with(&bar).with_context(|| {
        format!(
            "writing to {} failed; files already there are unchanged",
            request.layout.cert_dir().display()
        )
    })?;
    output::print_outcomes(&outcomes, &request.layout, format, epilogue.steps())?;
    print_steps(epilogue.steps(), format)?;
    if epilogue == Epilogue::RestartAfterRenew
        && format == OutputFormat::Text
        && outcomes.iter().any(|o| o.decision.action == Action::Renew)
    {
        println!(
            "Restart kube-apiserver, kube-controller-manager, kube-scheduler and etcd so that \
             they use the new certificates."
        );
    }
    Ok(ExitStatus::Success)
}

/// Keys and kubeconfigs readable by others are used (they may be in use right now), but never
/// without a word.
fn warn_exposed(inventory: &Inventory) {
    for (path, mode) in inventory.exposed_secrets() {
        eprintln!(
            "[warning] {}: mode {mode:04o}: a private key or kubeconfig readable or writable by \
             group or others; it should be 0600 (chmod 600 {})",
            path.display(),
            path.display()
        );
    }
}

/// The directories kubepki journals in: the certificate directory and the kubeconfig directory.
fn roots(request: &Request) -> Vec<&std::path::Path> {
    let layout = &request.layout;
    let mut roots = vec![layout.cert_dir(), layout.kubeconfig_dir()];
    roots.dedup();
    roots
}

/// `--explain`: plans `request` as a dry run does, and prints the openssl/kubectl script that
/// makes the same files. Writes nothing.
pub(super) fn explain(request: &Request, command: &str) -> anyhow::Result<ExitStatus> {
    let inventory = Inventory::read(&request.layout, &request.files());
    let plan = plan::plan(request, &inventory).context("nothing was written")?;
    let script = output::explain::script(&plan, &request.layout, command);
    use std::io::Write;
    std::io::stdout().lock().write_all(script.as_bytes())?;
    Ok(ExitStatus::Success)
}

/// Completes (or discards) what an interrupted run left in `root`'s journal, saying which.
pub(super) fn recover(root: &std::path::Path) -> anyhow::Result<()> {
    if let Some(r) = store::recover(root)? {
        if r.discarded > 0 {
            eprintln!(
                "[recover] {}: an interrupted run had not finished writing its {} files to disk \
                 and had replaced none: removed them; nothing was changed",
                root.display(),
                r.listed
            );
        } else {
            eprintln!(
                "[recover] {}: completed an interrupted run: renamed {} of the {} files its \
                 journal lists (a file without a staged copy was renamed before the interruption)",
                root.display(),
                r.renamed,
                r.listed
            );
        }
    }
    Ok(())
}
