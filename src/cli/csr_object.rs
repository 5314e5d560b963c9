//! `kubepki csr-object make|sign|decode`: CertificateSigningRequest objects of the Kubernetes CSR
//! API without a cluster — what the docs do with `base64 | tr -d '\n'`, `cfssl sign`, `jq` and
//! `base64 --decode`.
// The doc comments here are the command-line help (clap), written for a terminal.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use time::OffsetDateTime;

use super::signer_policy::PolicyArgs;
use super::signing::{self, CaArgs, ProfileArgs, input_name, read_input};
use crate::exit::ExitStatus;
use crate::output::OutputFormat;
use crate::pki::cert::{DEFAULT_CA_VALIDITY, DEFAULT_VALIDITY};
use crate::pki::csr_object::{self, Format, ObjectSpec, Shape};
use crate::pki::inventory::{Found, read_key};
use crate::pki::keys::KeyAlgorithm;
use crate::pki::plan::{CsrObjectsWant, Options, Request, Want};
use crate::pki::profile::BuiltinSigner;
use crate::pki::store::{self, FileKind, FileWrite, Layout};
use crate::pki::{Error, csr};

#[derive(Debug, Args)]
pub struct CsrObjectArgs {
    #[command(subcommand)]
    pub command: CsrObjectCommand,
}

#[derive(Debug, Subcommand)]
pub enum CsrObjectCommand {
    /// Make a certificates.k8s.io/v1 CertificateSigningRequest from a request file, checked as
    /// the API server checks it, ready for `kubectl apply -f -`.
    Make(MakeArgs),
    /// Sign CertificateSigningRequest objects offline, each by its signerName's rules (the
    /// built-in signers' with their texts, or --profile for a custom signerName), and write
    /// them back with status.certificate or a Failed condition.
    Sign(SignObjectsArgs),
    /// Take the certificate out of an issued object, checked against the key it was requested
    /// for (--key) or the object's request.
    Decode(DecodeArgs),
}

/// The document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DocFormat {
    Yaml,
    Json,
}

// A method rather than `From`: an impl of a public trait would put this CLI type on the
// library's `Format` page.
impl DocFormat {
    fn format(self) -> Format {
        match self {
            DocFormat::Yaml => Format::Yaml,
            DocFormat::Json => Format::Json,
        }
    }
}

#[derive(Debug, Args)]
pub struct MakeArgs {
    /// The certificate request (PKCS#10 PEM, from `kubepki csr`, openssl or cfssl), or - for
    /// stdin. Its signature must verify.
    #[arg(long, value_name = "FILE|-")]
    pub csr: PathBuf,
    /// metadata.name of the object (a DNS-1123 subdomain, e.g. my-svc.my-namespace).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// spec.signerName: <domain>/<path>, e.g. example.com/serving or
    /// kubernetes.io/kube-apiserver-client.
    #[arg(long, value_name = "NAME")]
    pub signer_name: String,
    /// spec.usages, the API's strings as a comma list (digital signature, key encipherment,
    /// server auth, client auth, ...) [default for the built-in signers: what their rules
    /// want; required for a custom signerName].
    #[arg(long, value_name = "USAGE,...", value_delimiter = ',')]
    pub usages: Vec<String>,
    /// spec.expirationSeconds: the certificate's requested lifetime (at least 600); a signer
    /// may issue a shorter one.
    #[arg(long, value_name = "SECONDS")]
    pub expiration_seconds: Option<i32>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    pub output: DocFormat,
    /// Write the object to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace --out when it exists (a backup is kept).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SignObjectsArgs {
    /// The objects: a file (YAML or JSON: one object, a List as `kubectl get csr -o yaml`
    /// writes it, or several YAML documents), or - for stdin.
    #[arg(value_name = "FILE|-", default_value = "-")]
    pub input: PathBuf,
    #[command(flatten)]
    pub ca: CaArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Approve objects that are pending (an Approved condition, as `kubectl certificate
    /// approve` adds); without it an unapproved object is refused.
    #[arg(long)]
    pub approve: bool,
    /// Output format [default: the input's].
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<DocFormat>,
    /// Write the objects to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace --out when it exists (a backup is kept).
    #[arg(long)]
    pub force: bool,
    /// Say what would be done, sign nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The object (or a List of them; pick one with --name), or - for stdin.
    #[arg(value_name = "FILE|-", default_value = "-")]
    pub input: PathBuf,
    /// The object to decode, when there are several.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The private key the request was made with: the certificate must certify it [default:
    /// check against the object's spec.request].
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Write the certificate to FILE (0644) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace --out when it exists (a backup is kept).
    #[arg(long)]
    pub force: bool,
}

pub(super) fn run(a: &CsrObjectArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    match &a.command {
        CsrObjectCommand::Make(m) => make(m, now),
        CsrObjectCommand::Sign(s) => sign(s, now),
        CsrObjectCommand::Decode(d) => decode(d, now),
    }
}

/// The usages a built-in signer's rules want (for keys of any algorithm, as v1.22 wants).
fn default_usages(signer_name: &str) -> Option<Vec<String>> {
    let role = match BuiltinSigner::from_name(signer_name)? {
        BuiltinSigner::KubeletServing => "server auth",
        BuiltinSigner::KubeletClient | BuiltinSigner::KubeApiserverClient => "client auth",
    };
    Some(
        ["digital signature", "key encipherment", role]
            .map(str::to_string)
            .to_vec(),
    )
}

fn make(a: &MakeArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let source = input_name(&a.csr);
    let bytes = read_input(&a.csr, "--csr")?;
    let request = csr::parse(&bytes).map_err(|e| Error::bad_file(&source, e))?;
    let usages = match (a.usages.is_empty(), default_usages(&a.signer_name)) {
        (false, _) => a.usages.iter().map(|u| u.trim().to_string()).collect(),
        (true, Some(d)) => d,
        (true, None) => {
            return Err(Error::usage(
                "--usages",
                "is required for a custom signerName (e.g. --usages 'digital signature,key \
                 encipherment,server auth')",
            )
            .into());
        }
    };
    let spec = ObjectSpec {
        name: a.name.clone(),
        signer_name: a.signer_name.clone(),
        usages,
        expiration_seconds: a.expiration_seconds,
    };
    // The request as PEM, whatever form it came in (DER, or after an EC PARAMETERS block).
    let pem = csr::csr_pem(&request.der);
    let object = csr_object::make(&spec, pem.as_bytes())
        .map_err(|errors| Error::usage("csr-object make", errors.join("\n")))?;
    let text = csr_object::document::render(&[object], Shape::One, a.output.format())?;
    emit(&text, a.out.as_deref(), a.force, now)?;
    if let Some(out) = &a.out {
        eprintln!(
            "[csr-object] wrote {} for {} ({}): kubectl apply -f {}",
            out.display(),
            a.signer_name,
            request.subject,
            out.display()
        );
    }
    Ok(ExitStatus::Success)
}

fn sign(a: &SignObjectsArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let source = input_name(&a.input);
    let bytes = read_input(&a.input, "FILE")?;
    let document = csr_object::document::read(&bytes, &source)?;
    // The profile is needed only for custom signerNames; its absence is said where it is.
    let (profile, profile_missing) =
        if a.profile.profile.is_none() && a.profile.profile_file.is_none() {
            (None, Some("no --profile given".to_string()))
        } else {
            (Some(a.profile.resolve()?), None)
        };
    let ca = a.ca.source()?;
    let tree = ca.tree().is_some();
    let want = CsrObjectsWant {
        document,
        source,
        ca,
        profile,
        profile_missing,
        policy: a.policy.policy(),
        duration: a.profile.validity,
        approve: a.approve,
        out: a.out.clone(),
        format: a.output.map(DocFormat::format),
    };
    let request = Request {
        layout: signing::layout(a.ca.cert_dir()?),
        cluster: None,
        wants: vec![Want::CsrObjects(Box::new(want))],
        options: Options {
            key_algorithm: KeyAlgorithm::DEFAULT,
            validity: DEFAULT_VALIDITY,
            ca_validity: DEFAULT_CA_VALIDITY,
            force: a.force,
            reuse_key: false,
            keep_key_algorithm: false,
            now,
        },
    };
    let run = signing::RunArgs {
        force: a.force,
        dry_run: a.dry_run,
        explain: false,
        output: OutputFormat::Text,
    };
    signing::write_with(request, tree, &run, |outcomes| {
        let mut stdout = std::io::stdout().lock();
        for outcome in outcomes {
            let Some(signed) = &outcome.csr_objects else {
                continue;
            };
            for r in &signed.results {
                let name = crate::pki::untrusted::show_untrusted(&r.name);
                let approved = if r.approved { "approved and " } else { "" };
                match (r.result, &r.message, r.not_after) {
                    ("issued", _, Some(until)) => eprintln!(
                        "[csr-object] {name} ({}): {approved}issued, valid until {}",
                        r.signer_name,
                        csr_object::show_time(until)
                    ),
                    ("failed", Some(m), _) => eprintln!(
                        "[csr-object] {name} ({}): {approved}failed: {m}",
                        r.signer_name
                    ),
                    (_, m, _) => eprintln!(
                        "[csr-object] {name} ({}): {}",
                        r.signer_name,
                        m.as_deref().unwrap_or("skipped")
                    ),
                }
            }
            match outcome.decision.files.first() {
                Some(f) => eprintln!("[csr-object] wrote {}", f.display()),
                None => stdout
                    .write_all(signed.document.as_bytes())
                    .map_err(|e| Error::io("<stdout>", "write", e))?,
            }
        }
        Ok(())
    })
}

fn decode(a: &DecodeArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let source = input_name(&a.input);
    let bytes = read_input(&a.input, "FILE")?;
    let document = csr_object::document::read(&bytes, &source)?;
    let object = match &a.name {
        Some(name) => document
            .objects
            .iter()
            .find(|o| o.metadata.name.as_deref() == Some(name.as_str()))
            .ok_or_else(|| {
                Error::usage(
                    "--name",
                    format!(
                        "{} holds no object named {}",
                        source.display(),
                        crate::pki::untrusted::quote_input(name)
                    ),
                )
            })?,
        None if document.objects.len() == 1 => &document.objects[0],
        None => {
            return Err(Error::usage(
                "--name",
                format!(
                    "{} holds {} objects: say which one",
                    source.display(),
                    document.objects.len()
                ),
            )
            .into());
        }
    };
    let key = match &a.key {
        None => None,
        Some(path) => match read_key(path) {
            Found::Present(k) => Some(k.key.public_key_raw().to_vec()),
            Found::Missing => {
                return Err(
                    Error::usage("--key", format!("{} does not exist", path.display())).into(),
                );
            }
            Found::Broken(p) => return Err(p.to_error(path).into()),
        },
    };
    let name = csr_object::display_name(object);
    let (pem, facts) = csr_object::certificate(object, key.as_deref()).map_err(|e| {
        Error::bad_file(
            &source,
            format!("the CertificateSigningRequest {name}: {e}"),
        )
    })?;
    emit(&pem, a.out.as_deref(), a.force, now)?;
    eprintln!(
        "[csr-object] {name}: {}, valid until {}, {}",
        facts.subject,
        csr_object::show_time(facts.not_after),
        if a.key.is_some() {
            "certifies the key given"
        } else {
            "certifies the request's key"
        }
    );
    Ok(ExitStatus::Success)
}

/// Writes `text` to `out` (atomically, 0644; an existing file only with `force`, kept as a
/// backup), or to stdout.
fn emit(text: &str, out: Option<&Path>, force: bool, now: OffsetDateTime) -> anyhow::Result<()> {
    let Some(path) = out else {
        std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| Error::io("<stdout>", "write", e))?;
        return Ok(());
    };
    let exists = store::exists(path);
    if exists && !force {
        return Err(Error::conflict(
            path,
            "exists; pass --force to replace it (a backup is kept)",
        )
        .into());
    }
    let dir = store::parent_dir(path).to_path_buf();
    store::create_dir(&dir)?;
    let layout = Layout::new(dir.clone(), dir);
    let stamp = layout.unique_backup_stamp(&now.unix_timestamp().to_string());
    store::commit_staged(
        vec![store::stage(
            &FileWrite {
                path: path.to_path_buf(),
                kind: FileKind::Certificate,
                contents: text.as_bytes().to_vec(),
                backup: exists.then(|| layout.backup_path(&stamp, path)),
            },
            store::Durability::PerFile,
        )?],
        &[],
        store::Durability::PerFile,
    )?;
    Ok(())
}
