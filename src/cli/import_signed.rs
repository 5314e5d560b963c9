//! `kubepki import-signed FILE|DIR...`: the certificates an external CA signed for the
//! requests `generate-csr` made, checked against their keys, their requests, their roles and
//! their CA, then put beside their keys and into the kubeconfigs (see `pki::plan::import`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use time::OffsetDateTime;

use super::args::CommonArgs;
use super::pipeline::{self, Epilogue};
use super::settings::{Resolved, external_etcd_note};
use crate::exit::ExitStatus;
use crate::pki::cert::{self, CertFacts};
use crate::pki::plan::{ImportTarget, Request, Signed, SignedInput, Want};
use crate::pki::{Error, catalog, store};

#[derive(Debug, Args)]
pub struct ImportSignedArgs {
    /// Signed certificates: files named as the file they become (apiserver.crt,
    /// etcd/server.crt, admin.conf.crt), PEM files holding several, or directories of .crt and
    /// .pem files (searched recursively). A certificate whose name is none of these is matched
    /// to its key by its public key. CA certificates among them count as given with --ca-bundle.
    #[arg(value_name = "FILE|DIR", required = true)]
    pub inputs: Vec<std::path::PathBuf>,

    /// A PEM file of CA certificates: for a tree without ca.crt, front-proxy-ca.crt or
    /// etcd/ca.crt, the CA that signed each family's certificates is written there (its key
    /// stays with the external CA).
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,

    /// Directory of the kubeconfig files (default: the parent of --cert-dir).
    #[arg(long, value_name = "DIR")]
    pub kubeconfig_dir: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

pub(super) fn run(a: &ImportSignedArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let resolved = Resolved::new(&a.common, None, None)?;
    external_etcd_note(&resolved);
    let mut signed = Signed::default();
    // The bundle first: its CAs are the preferred candidates.
    if let Some(bundle) = &a.ca_bundle {
        signed.cas.extend(read_bundle(bundle)?);
    }
    for input in &a.inputs {
        read_input(input, &mut signed)?;
    }
    if signed.inputs.is_empty() {
        return Err(Error::usage(
            "FILE|DIR",
            "no signed certificate (other than CA certificates) was found in what was given",
        )
        .into());
    }
    // Every CA, leaf and kubeconfig of the control plane, in kubeadm's order.
    signed.targets = resolved
        .selection()
        .certificates()
        .filter(|p| !p.per_node())
        .map(|p| match p.is_ca() {
            true => ImportTarget::Ca(p),
            false => ImportTarget::Cert(p),
        })
        .chain(catalog::control_plane_kubeconfigs().map(ImportTarget::Kubeconfig))
        .collect();
    let signed = Arc::new(signed);
    let mut wants = vec![Want::ImportUnmatched {
        signed: signed.clone(),
    }];
    wants.extend(signed.targets.iter().map(|target| Want::Import {
        target: *target,
        signed: signed.clone(),
    }));
    // No CA signs it, and `init` would make it: made here when absent, so that `init` on the
    // imported tree has nothing left to write.
    wants.push(Want::ServiceAccount);
    let request = Request {
        layout: resolved.layout(a.kubeconfig_dir.as_ref()),
        cluster: None,
        wants,
        options: resolved.options(a.common.force, now)?,
    };
    pipeline::write(request, a.common.dry_run, a.common.output, Epilogue::None)
}

/// The CA certificates of `--ca-bundle`; anything that is not a CA is refused.
fn read_bundle(path: &Path) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let bytes = store::read_file(path)?
        .ok_or_else(|| Error::usage("--ca-bundle", format!("{} does not exist", path.display())))?;
    let certs = cert::certs_from_pem(&bytes.bytes).map_err(|e| Error::bad_file(path, e))?;
    let mut out = Vec::with_capacity(certs.len());
    for (i, der) in certs.into_iter().enumerate() {
        let facts = CertFacts::from_der(&der).map_err(|e| Error::bad_file(path, e))?;
        if !facts.is_ca {
            return Err(Error::bad_file(
                path,
                format!(
                    "certificate #{} ({:?}) is not a CA (basicConstraints CA:TRUE)",
                    i + 1,
                    facts.subject
                ),
            )
            .into());
        }
        out.push((path.to_path_buf(), der));
    }
    Ok(out)
}

/// Reads one FILE|DIR argument into `signed`.
fn read_input(arg: &Path, signed: &mut Signed) -> anyhow::Result<()> {
    let meta = std::fs::metadata(arg)
        .map_err(|_| Error::usage("FILE|DIR", format!("{} does not exist", arg.display())))?;
    if !meta.is_dir() {
        return read_file(arg, arg, signed, true);
    }
    let mut files = Vec::new();
    walk(arg, &mut files);
    for file in files {
        let relative = file.strip_prefix(arg).unwrap_or(&file).to_path_buf();
        read_file(&file, &relative, signed, false)?;
    }
    Ok(())
}

/// The `.crt`, `.pem` and `.cer` files below `dir`, sorted; symlinked directories are not
/// followed, and kubepki's own backups, kubelet and etcd member directories are left out.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let skipped = [store::BACKUP_DIR, store::NODE_DIR, store::ETCD_MEMBERS_DIR];
            if !skipped.iter().any(|s| name == *s) {
                walk(&path, out);
            }
        } else if ["crt", "pem", "cer"]
            .iter()
            .any(|ext| path.extension().is_some_and(|e| e == *ext))
        {
            out.push(path);
        }
    }
}

/// Splits a PEM file into leaves (each with the CA certificates that follow it, its
/// intermediates) and CA certificates standing alone. A file found in a directory that holds
/// no certificate at all (a key, a request) is skipped; one named on the command line is not.
fn read_file(path: &Path, named_as: &Path, signed: &mut Signed, named: bool) -> anyhow::Result<()> {
    let Some(data) = store::read_file(path)? else {
        return Err(Error::usage("FILE|DIR", format!("{} does not exist", path.display())).into());
    };
    let has_certificate = pem::parse_many(&data.bytes)
        .map(|blocks| blocks.iter().any(|b| b.tag() == "CERTIFICATE"))
        .unwrap_or(true);
    if !named && !has_certificate {
        return Ok(());
    }
    let certs = cert::certs_from_pem(&data.bytes).map_err(|e| Error::bad_file(path, e))?;
    let mut leaves: Vec<Vec<Vec<u8>>> = Vec::new();
    for der in certs {
        let facts = CertFacts::from_der(&der).map_err(|e| Error::bad_file(path, e))?;
        if !facts.is_ca {
            leaves.push(vec![der]);
            continue;
        }
        // A CA after a leaf is its intermediate (or root); every CA is a candidate too.
        if let Some(chain) = leaves.last_mut() {
            chain.push(der.clone());
        }
        signed.cas.push((path.to_path_buf(), der));
    }
    let several = leaves.len() > 1;
    for (i, chain) in leaves.into_iter().enumerate() {
        signed.inputs.push(SignedInput {
            name: match several {
                true => PathBuf::from(format!("{}#{}", path.display(), i + 1)),
                false => path.to_path_buf(),
            },
            named_as: (!several).then(|| named_as.to_path_buf()),
            chain,
        });
    }
    Ok(())
}
