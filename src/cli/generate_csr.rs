//! `kubepki generate-csr`: kubeadm's `certs generate-csr`. Keys and certificate signing
//! requests for every control-plane certificate, and kubeconfigs holding only their new key
//! with a request beside each, for an external CA to sign; `import-signed` takes the result.

use clap::Args;
use time::OffsetDateTime;

use super::args::{CommonArgs, EndpointArgs, KubeconfigArgs, NodeArgs, SanArgs};
use super::nodes::{node_specs, single_node};
use super::pipeline::{self, Epilogue};
use super::settings::{
    Resolved, cluster, external_etcd_note, refuse_etcd_flags_with_external_etcd,
};
use crate::exit::ExitStatus;
use crate::output::OutputFormat;
use crate::pki::catalog;
use crate::pki::plan::{Request, Want};

#[derive(Debug, Args)]
pub struct GenerateCsrArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub nodes: NodeArgs,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub sans: SanArgs,
    #[command(flatten)]
    pub kubeconfig: KubeconfigArgs,
}

pub(super) fn run(a: &GenerateCsrArgs, now: OffsetDateTime) -> anyhow::Result<ExitStatus> {
    let resolved = Resolved::new(&a.common, None, None)?;
    refuse_etcd_flags_with_external_etcd(&resolved, &a.sans)?;
    let nodes = node_specs(&a.nodes, resolved.config(), true)?;
    let node = single_node(&nodes)?;
    let cluster = cluster(
        &a.endpoint,
        Some(&a.sans),
        Some(&a.kubeconfig),
        &node,
        resolved.config(),
    )?;
    external_etcd_note(&resolved);
    // kubeadm's leaf list (with external etcd, without etcd's: they would not be used), then
    // its five kubeconfigs.
    let selection = resolved.selection();
    let leaves = selection
        .certificates()
        .filter(|p| !p.is_ca() && !p.per_node())
        .map(|profile| Want::Csr {
            profile,
            node: node.clone(),
        });
    let kubeconfigs = catalog::control_plane_kubeconfigs().map(|profile| Want::KubeconfigCsr {
        profile,
        node: node.clone(),
    });
    let layout = resolved.layout(a.kubeconfig.kubeconfig_dir.as_ref());
    let request = Request {
        layout: layout.clone(),
        cluster: Some(cluster),
        wants: leaves.chain(kubeconfigs).collect(),
        options: resolved.options(a.common.force, now)?,
    };
    let status = pipeline::write(request, a.common.dry_run, a.common.output, Epilogue::None)?;
    if !a.common.dry_run && a.common.output == OutputFormat::Text {
        println!(
            "Next: have the external CA sign each .csr in {} and {} (the usages of each role \
             are in the README), put the certificates in a directory as <name>.crt (or any \
             names: they are matched by key), and run `kubepki import-signed DIR` with the same \
             --cert-dir.",
            layout.cert_dir().display(),
            layout.kubeconfig_dir().display()
        );
    }
    Ok(status)
}
