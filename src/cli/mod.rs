//! The command line: one module per subcommand (its flags and a short `run`), the flag groups
//! they share (`args`), settings resolution (`settings`, `nodes`), and the one write
//! pipeline every file-writing command goes through (`pipeline`).

mod args;
mod audit;
mod check_expiration;
mod component_flags;
mod init;
mod init_ca;
mod inspect;
mod issue;
mod nodes;
mod pipeline;
mod renew;
mod settings;
mod shell;
mod write_kubeconfig;
// Issue 14: the external-CA flow and etcd members.
mod generate_csr;
mod import_signed;
// Signing (issue 14).
mod csr;
mod issue_cert;
mod sign;
mod signing;
// The TLS-bootstrap kit (issue 15).
mod bootstrap_token;
// The CSR API (issue 15).
mod csr_object;
mod signer;
mod signer_policy;
// CA rotation (issue 16).
mod rotate_ca;
mod rotate_steps;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use time::OffsetDateTime;

use crate::exit::{EXIT_CODES_HELP, ExitStatus};
use crate::pki::{Error, ErrorKind};

use audit::AuditArgs;
use bootstrap_token::BootstrapTokenArgs;
use check_expiration::CheckExpirationArgs;
use component_flags::ComponentFlagsArgs;
use csr::CsrArgs;
use csr_object::CsrObjectArgs;
use generate_csr::GenerateCsrArgs;
use import_signed::ImportSignedArgs;
use init::InitArgs;
use init_ca::InitCaArgs;
use inspect::InspectArgs;
use issue::IssueArgs;
use issue_cert::IssueCertArgs;
use renew::RenewArgs;
use rotate_ca::RotateCaCommand;
use shell::{CompletionArgs, ManArgs};
use sign::SignArgs;
use signer::SignerArgs;
use write_kubeconfig::WriteKubeconfigArgs;

#[derive(Debug, Parser)]
#[command(
    name = "kubepki",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KUBEPKI_GIT_COMMIT"), ")"),
    about = "Bootstrap and run the PKI of a self-managed Kubernetes cluster, as kubeadm lays it out",
    after_help = EXIT_CODES_HELP
)]
/// The `kubepki` command line, parsed: make one with clap's [`Parser`] (`Cli::try_parse_from`,
/// the first item being the program name) and hand it to [`run`].
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the CAs, the service-account key pair, every control-plane certificate and the
    /// five kubeconfigs (kubeadm init phase certs all + init phase kubeconfig all).
    #[command(after_help = EXIT_CODES_HELP)]
    Init(InitArgs),
    /// Create the three CAs (ca, front-proxy-ca, etcd/ca) and the service-account key pair.
    #[command(after_help = EXIT_CODES_HELP)]
    InitCa(InitCaArgs),
    /// Issue leaf certificates signed by the existing CAs.
    #[command(after_help = EXIT_CODES_HELP)]
    Issue(IssueArgs),
    /// Write kubeconfig files with client certificates signed by the cluster CA
    /// (kubeadm init phase kubeconfig, kubeadm kubeconfig user).
    #[command(after_help = EXIT_CODES_HELP)]
    WriteKubeconfig(WriteKubeconfigArgs),
    /// Renew leaf certificates and kubeconfig client certificates, keeping their subject,
    /// SANs and usages (kubeadm certs renew); CAs are not renewed.
    #[command(after_help = EXIT_CODES_HELP)]
    Renew(RenewArgs),
    /// Report when certificates expire: the kubeadm tree, per-node kubelet certificates,
    /// kubeconfig client certificates, and any extra files or directories (kubeadm certs
    /// check-expiration, with exit codes for CI).
    #[command(after_help = EXIT_CODES_HELP)]
    CheckExpiration(CheckExpirationArgs),
    /// Write a key and a certificate signing request for every control-plane certificate, and
    /// the five kubeconfigs with only their new key, for an external CA to sign (kubeadm certs
    /// generate-csr).
    #[command(after_help = EXIT_CODES_HELP)]
    GenerateCsr(GenerateCsrArgs),
    /// Check certificates an external CA signed for generate-csr's requests and put them in
    /// place: beside their keys, and into the kubeconfigs with the CA (external CA mode).
    #[command(after_help = EXIT_CODES_HELP)]
    ImportSigned(ImportSignedArgs),
    /// Make a new key and a certificate signing request (PKCS#10) for any identity, from flags
    /// or a cfssl JSON request (openssl req -new, cfssl genkey).
    #[command(after_help = EXIT_CODES_HELP)]
    Csr(CsrArgs),
    /// Sign a certificate signing request with a CA and a signing profile (openssl x509 -req,
    /// cfssl sign): usages from the profile only, CA:FALSE, subject and SANs from the request.
    #[command(after_help = EXIT_CODES_HELP)]
    Sign(SignArgs),
    /// Make a new key and a certificate for any identity, signed by a CA with a signing
    /// profile, in one step (separate .key and .crt files).
    #[command(after_help = EXIT_CODES_HELP)]
    IssueCert(IssueCertArgs),
    /// Show what certificates, keys, requests and kubeconfigs hold (openssl x509 -text, kubectl
    /// config view) and what each is for in a kubeadm cluster; never a key or token.
    #[command(after_help = EXIT_CODES_HELP)]
    Inspect(InspectArgs),
    /// Print the certificate flags of etcd, kube-apiserver, kube-controller-manager,
    /// kube-scheduler and the kubelet for this tree's paths, with the docs' TLS hardening.
    #[command(after_help = EXIT_CODES_HELP)]
    ComponentFlags(ComponentFlagsArgs),
    /// Check a tree against the PKI best practices: modes and owners, keys, chains, validity,
    /// key and signature strength, usages, SANs, kubeconfigs; each finding with its fix.
    #[command(after_help = EXIT_CODES_HELP)]
    Audit(AuditArgs),
    /// Print the completion script for a shell (bash, zsh, fish, powershell, elvish).
    Completion(CompletionArgs),
    /// Print the man page (roff) of kubepki and its subcommands.
    Man(ManArgs),
    /// Make a bootstrap token and the kit a node joins with: the token Secret, kubeadm's
    /// bootstrap RBAC and cluster-info as manifests to apply, the kubelet's bootstrap kubeconfig,
    /// the sha256 CA pin and the kubeadm join line (kubeadm init phase bootstrap-token, offline).
    #[command(after_help = EXIT_CODES_HELP)]
    BootstrapToken(BootstrapTokenArgs),
    /// CertificateSigningRequest objects of the Kubernetes CSR API, offline: make one from a
    /// request, sign them as a signer would, take the certificate back out.
    #[command(after_help = EXIT_CODES_HELP)]
    CsrObject(CsrObjectArgs),
    /// A signer for the cluster: watch CertificateSigningRequests of one signerName on an API
    /// server, sign the approved ones that pass its rules, fail the others.
    #[command(after_help = EXIT_CODES_HELP)]
    Signer(SignerArgs),
    /// Rotate a CA in phases: start (trust old and new), reissue (the new CA signs every
    /// leaf), finish (the new CA alone) or abort (the old CA alone); status shows the phase.
    #[command(subcommand, after_help = EXIT_CODES_HELP)]
    RotateCa(RotateCaCommand),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                ExitStatus::Usage.code()
            } else {
                ExitStatus::Success.code()
            });
        }
    };
    match run(cli, OffsetDateTime::now_utc()) {
        Ok(status) => ExitCode::from(status.code()),
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            // The reader went away (`| head`): nothing more to say.
            ExitCode::from(ExitStatus::Success.code())
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            let kind = e
                .chain()
                .find_map(|c| c.downcast_ref::<Error>())
                .map_or(ErrorKind::Io, Error::kind);
            ExitCode::from(ExitStatus::from_kind(kind).code())
        }
    }
}

/// Runs a parsed command with `now` as the clock.
pub fn run(cli: Cli, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    match &cli.command {
        Command::Init(a) => init::run(a, now),
        Command::InitCa(a) => init_ca::run(a, now),
        Command::Issue(a) => issue::run(a, now),
        Command::WriteKubeconfig(a) => write_kubeconfig::run(a, now),
        Command::Renew(a) => renew::run(a, now),
        Command::CheckExpiration(a) => check_expiration::run(a, now),
        Command::GenerateCsr(a) => generate_csr::run(a, now),
        Command::ImportSigned(a) => import_signed::run(a, now),
        Command::Csr(a) => csr::run(a, now),
        Command::Sign(a) => sign::run(a, now),
        Command::IssueCert(a) => issue_cert::run(a, now),
        Command::Inspect(a) => inspect::run(a, now),
        Command::ComponentFlags(a) => component_flags::run(a, now),
        Command::Audit(a) => audit::run(a, now),
        Command::Completion(a) => shell::completion(a, now),
        Command::Man(a) => shell::man(a, now),
        Command::BootstrapToken(a) => bootstrap_token::run(a, now),
        Command::CsrObject(a) => csr_object::run(a, now),
        Command::Signer(a) => signer::run(a),
        Command::RotateCa(c) => rotate_ca::run(c, now),
    }
}
