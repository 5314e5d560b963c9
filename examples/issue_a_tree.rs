//! Issue a kubeadm tree into a temporary directory with the library, then read its expiry
//! report: what `kubepki init` and `kubepki check-expiration` do, as a program.
//!
//! cargo run --example issue_a_tree

use kubepki::pki::cert::{DEFAULT_CA_VALIDITY, DEFAULT_VALIDITY};
use kubepki::pki::expiration;
use kubepki::pki::inventory::Inventory;
use kubepki::pki::keys::KeyAlgorithm;
use kubepki::pki::names::{Cluster, NodeSpec};
use kubepki::pki::plan::{self, Options, Request};
use kubepki::pki::selection::Selection;
use kubepki::pki::store::Layout;
use time::OffsetDateTime;

pub fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let layout = Layout::new(dir.path().join("pki"), dir.path());
    let node: NodeSpec = "node-1".parse().map_err(anyhow::Error::msg)?;
    let cluster = Cluster {
        node_name: "node-1".into(),
        advertise_address: "192.168.1.10".parse()?,
        control_plane_endpoint: None,
        apiserver_extra_sans: vec![],
        service_cidrs: kubepki::pki::names::parse_service_cidrs("10.96.0.0/12")
            .map_err(anyhow::Error::msg)?,
        dns_domain: "cluster.local".into(),
        etcd_server_extra_sans: vec![],
        etcd_peer_extra_sans: vec![],
        bind_port: 6443,
        cluster_name: "kubernetes".into(),
    };
    let now = OffsetDateTime::now_utc();
    let request = Request {
        layout: layout.clone(),
        cluster: Some(cluster),
        wants: Selection::new(false).init(&node),
        options: Options {
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity: DEFAULT_VALIDITY,
            ca_validity: DEFAULT_CA_VALIDITY,
            force: false,
            reuse_key: false,
            keep_key_algorithm: false,
            now,
        },
    };
    // Read what is on disk once, plan as a pure function, then execute.
    let inventory = Inventory::read(&layout, &request.files());
    let plan = plan::plan(&request, &inventory)?;
    let outcomes = plan.execute()?;
    println!("{} items made in {}", outcomes.len(), dir.path().display());
    let report = expiration::report(&expiration::Request {
        layout: Some(layout),
        paths: vec![],
        now,
        warn_within: time::Duration::days(30),
        fail_within: None,
    });
    for row in &report.certificates {
        println!("{:<28} {}", row.name, row.status.as_str());
    }
    assert!(!report.has_missing_or_invalid());
    Ok(())
}
