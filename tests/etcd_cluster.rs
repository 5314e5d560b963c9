//! kubepki's etcd certificates, proven with a real etcd: a 3-member cluster on 127.0.0.1 whose
//! members talk to each other over mutual TLS with their own `etcd/peer` certificates, serve
//! clients with their own `etcd/server` certificates, and admit only clients whose certificates
//! the etcd CA signed. Then the members are restarted one at a time (a rolling restart, as when
//! certificates are rotated) and the cluster must stay healthy and keep its data.
//!
//! Needs `etcd` and `etcdctl` on PATH (Debian: `apt-get install -y etcd-server etcd-client`,
//! etcd 3.4). A missing tool fails the test; nothing is skipped.

mod common;
mod etcd_support;

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use common::free_ports;
use etcd_support::*;

const MEMBERS: [&str; 3] = ["m1", "m2", "m3"];

impl Cluster {
    /// One CA dir with every CA and the client certificates, and one cert dir per member with a
    /// copy of the etcd CA and the member's own etcd-server and etcd-peer certificates.
    fn new(alg: &str) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ca_dir = tmp.path().join("ca");
        kubepki(&["init-ca"], &ca_dir, alg);
        kubepki(
            &[
                "issue",
                "etcd-healthcheck-client",
                "apiserver-etcd-client",
                "front-proxy-client",
                "--node-name",
                "m0",
                "--apiserver-advertise-address",
                ADDRESS,
            ],
            &ca_dir,
            alg,
        );

        let ports = free_ports(2 * MEMBERS.len());
        let mut members = Vec::new();
        for (i, name) in MEMBERS.into_iter().enumerate() {
            let cert_dir = tmp.path().join(name);
            fs::create_dir_all(cert_dir.join("etcd")).unwrap();
            for file in ["ca.crt", "ca.key"] {
                fs::copy(
                    ca_dir.join("etcd").join(file),
                    cert_dir.join("etcd").join(file),
                )
                .unwrap();
            }
            kubepki(
                &[
                    "issue",
                    "etcd-server",
                    "etcd-peer",
                    "--node-name",
                    name,
                    "--apiserver-advertise-address",
                    ADDRESS,
                ],
                &cert_dir,
                alg,
            );
            members.push(Member {
                name,
                data_dir: tmp.path().join(format!("{name}.data")),
                log: tmp.path().join(format!("{name}.log")),
                cert_dir,
                client_url: format!("https://{ADDRESS}:{}", ports[2 * i]),
                peer_url: format!("https://{ADDRESS}:{}", ports[2 * i + 1]),
                child: None,
                starts: 0,
            });
        }
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        Cluster {
            alg: alg.to_string(),
            token: format!("kubepki-e2e-{}", alg.to_lowercase()),
            ca_dir,
            members,
            initial_cluster,
            _tmp: tmp,
        }
    }
}

// ------------------------------------------------------------------------------------------
// The scenario
// ------------------------------------------------------------------------------------------

/// Restarts the members one at a time: stop (SIGTERM), `kubepki renew all` on its certificate
/// directory, start again with the same data dir and the renewed certificates, wait until all
/// are healthy. While a member is down the other two keep quorum
/// and take a write; once back, the member must serve that write from its own store (so it
/// caught up from its peers over peer TLS) and the cluster's data must be intact.
fn rolling_restart(cluster: &mut Cluster) {
    let value = cluster.get(&cluster.all(), KEY, "l");
    assert!(
        !value.is_empty(),
        "{KEY} must be written before the restart"
    );
    for i in 0..cluster.members.len() {
        let name = cluster.members[i].name;
        cluster.stop(i);

        let others = cluster.endpoints(|j| j != i);
        let key = format!("/kubepki/written-while-{name}-down");
        let marker = format!("{name}-was-down");
        cluster.put(&others, &key, &marker);
        assert_eq!(cluster.get(&others, KEY, "l"), value);

        // Renew the member's certificates while it is down: new keys and serials, same CA,
        // so the restarted member must rejoin over peer TLS and serve the same clients.
        let member_dir = cluster.members[i].cert_dir.clone();
        let before: Vec<Vec<u8>> = ["server.crt", "peer.crt", "server.key", "peer.key"]
            .iter()
            .map(|f| fs::read(member_dir.join("etcd").join(f)).unwrap())
            .collect();
        kubepki(&["renew", "all"], &member_dir, &cluster.alg);
        for (f, old) in ["server.crt", "peer.crt", "server.key", "peer.key"]
            .iter()
            .zip(&before)
        {
            let new = fs::read(member_dir.join("etcd").join(f)).unwrap();
            assert_ne!(&new, old, "{name}: renew all did not replace etcd/{f}");
        }

        cluster.start(i);
        cluster.wait_healthy();

        let own = [cluster.members[i].client_url.clone()];
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        while cluster.get(&own, &key, "s") != marker {
            assert!(
                Instant::now() < deadline,
                "{}: restarted {name} did not catch up on {key} within {HEALTH_TIMEOUT:?}",
                cluster.alg
            );
            thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(cluster.get(&own, KEY, "s"), value, "{name} lost {KEY}");
        assert_eq!(cluster.get(&cluster.all(), KEY, "l"), value);
    }
}

fn etcd_cluster(alg: &str) {
    let version = require_etcd();
    eprintln!("{alg}: {version}");
    let mut cluster = Cluster::new(alg);

    // All three start before any can be healthy: they elect a leader over peer TLS.
    for i in 0..cluster.members.len() {
        cluster.start(i);
    }
    cluster.wait_healthy();

    let value = format!("hello-from-{}", alg.to_lowercase());
    cluster.put(&cluster.all(), KEY, &value);
    assert_eq!(cluster.get(&cluster.all(), KEY, "l"), value);

    let foreign = cluster.front_proxy_client();
    cluster.assert_rejected(
        Some(&foreign),
        "front-proxy-client (signed by front-proxy-ca)",
        "certificate signed by unknown authority",
        &value,
    );
    cluster.assert_rejected(
        None,
        "no client certificate",
        "didn't provide a certificate",
        &value,
    );

    rolling_restart(&mut cluster);

    cluster.wait_healthy();
    assert_eq!(cluster.get(&cluster.all(), KEY, "l"), value);
    for i in 0..cluster.members.len() {
        cluster.stop(i);
    }
}

#[test]
fn etcd_cluster_rsa_2048() {
    etcd_cluster("RSA-2048");
}

#[test]
fn etcd_cluster_ecdsa_p256() {
    etcd_cluster("ECDSA-P256");
}
