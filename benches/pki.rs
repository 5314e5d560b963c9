//! Criterion benchmarks of the PKI core, in memory (no disk, no process start):
//!
//! - `keygen/<ALG>`: one `PrivateKey::generate` per algorithm; `keygen/RSA-2048 (aws-lc-rs
//!   alone)`: one `aws_lc_rs::rsa::KeyPair::generate`, the floor of an RSA `init`.
//! - `sign_leaf/<ALG>`: one `cert::issue` of the apiserver certificate with a prebuilt CA
//!   [`Authority`] and a pregenerated subject key of the same algorithm: only the signing (which
//!   includes the self-check `issue` does: parsing the CA and verifying the new signature).
//! - `full_pki/<ALG>`: what `kubepki init` computes, minus the writes: 16 keys from
//!   `keys::generate_many` (3 CAs, 7 control-plane leaves, 5 kubeconfig client certificates and
//!   sa.key), the 15 certificates via `cert::issue`, and the PEM encoding of every key and
//!   certificate.
//!
//! - `sign_csr/ECDSA-P256`: what `kubepki sign` computes for a P-256 request with the built-in
//!   `server` profile, minus reading and writing files: parse the PEM request and verify its
//!   signature (proof of possession), check it against the profile, issue the certificate for
//!   its public key with a P-256 CA (including the self-check) and encode it as PEM.
//!
//! Sample sizes and times are set so that the whole `cargo bench` run stays under two minutes on
//! a 2-core machine; RSA benchmarks use flat sampling (the same iteration count in each sample)
//! because a single RSA key takes tens to hundreds of milliseconds.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use kubepki::pki::catalog;
use kubepki::pki::cert::{self, Authority, CertSpec};
use kubepki::pki::inventory::Inventory;
use kubepki::pki::keys::{self, KeyAlgorithm, PrivateKey};
use kubepki::pki::names::{self, Cluster, NodeSpec};
use kubepki::pki::plan::{self, Options, Request, Want};
use kubepki::pki::selection::Selection;
use kubepki::pki::store::Layout;
use time::OffsetDateTime;

/// The cluster of the README example: `--node-name node-1 --apiserver-advertise-address
/// 192.168.1.10`, everything else kubeadm's defaults.
fn cluster() -> Cluster {
    Cluster {
        node_name: "node-1".into(),
        advertise_address: "192.168.1.10".parse().expect("IP"),
        control_plane_endpoint: None,
        apiserver_extra_sans: Vec::new(),
        service_cidrs: names::parse_service_cidrs("10.96.0.0/12").expect("CIDR"),
        dns_domain: "cluster.local".into(),
        etcd_server_extra_sans: Vec::new(),
        etcd_peer_extra_sans: Vec::new(),
        bind_port: 6443,
        cluster_name: "kubernetes".into(),
    }
}

/// Every certificate spec of `kubepki init` with kubeconfigs, in kubeadm's order (each CA
/// before its leaves, then the five kubeconfig client certificates), as the planner itself makes
/// them: a plan for an `init` into a directory that does not exist (planning only reads). Each
/// entry names its issuing CA (`None` for a self-signed CA).
fn init_specs(now: OffsetDateTime) -> Vec<(&'static str, Option<&'static str>, CertSpec)> {
    let cluster = cluster();
    let node: NodeSpec = cluster.node_name.parse().expect("node name");
    let nowhere = std::env::temp_dir().join("kubepki-bench-plans-only-read-this");
    // init's own list, less the service-account key pair (a key, not a certificate).
    let wants = Selection::new(false)
        .init(&node)
        .into_iter()
        .filter(|w| !matches!(w, Want::ServiceAccount))
        .collect();
    let request = Request {
        layout: Layout::new(nowhere.join("pki"), &nowhere),
        cluster: Some(cluster),
        wants,
        options: Options {
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity: cert::DEFAULT_VALIDITY,
            ca_validity: cert::DEFAULT_CA_VALIDITY,
            force: false,
            reuse_key: false,
            keep_key_algorithm: false,
            now,
        },
    };
    let inventory = Inventory::read(&request.layout, &request.files());
    let specs: Vec<_> = plan::plan(&request, &inventory)
        .expect("plan")
        .items
        .into_iter()
        .map(|item| {
            let spec = item.spec.expect("every item is created");
            match catalog::find(&item.decision.name) {
                Some(p) => (p.name, (!p.is_ca()).then(|| p.issuer().name), spec),
                None => {
                    let k = catalog::find_kubeconfig(&item.decision.name).expect("kubeconfig");
                    (k.name, Some(catalog::KUBECONFIG_CA), spec)
                }
            }
        })
        .collect();
    assert_eq!(
        specs.len(),
        15,
        "3 CAs + 7 leaves + 5 kubeconfig client certs"
    );
    specs
}

/// One `kubepki init` in memory: keys, certificates, PEM. Returns the bytes of PEM produced so the
/// optimizer cannot drop any of it.
fn build_pki(
    algorithm: KeyAlgorithm,
    specs: &[(&'static str, Option<&'static str>, CertSpec)],
) -> usize {
    // One key per certificate, plus sa.key, generated in parallel as `Plan::execute` does.
    let algorithms = vec![algorithm; specs.len() + 1];
    let mut new_keys = keys::generate_many(&algorithms).expect("keys");
    let sa = new_keys.pop().expect("sa key");
    let mut pem_bytes = sa.to_pem().expect("PEM").len() + sa.public_key_pem().len();
    let mut cas: Vec<(&str, Authority)> = Vec::with_capacity(3);
    for ((name, issuer, spec), key) in specs.iter().zip(new_keys) {
        let der = match issuer {
            None => cert::issue(spec, &key, None),
            Some(ca) => {
                let authority = &cas.iter().find(|(n, _)| n == ca).expect("CA first").1;
                cert::issue(spec, &key, Some(authority))
            }
        }
        .expect("issue");
        pem_bytes += cert::cert_pem(&der).len() + key.to_pem().expect("PEM").len();
        if issuer.is_none() {
            cas.push((
                name,
                Authority::new(der, key).expect("CA pairs with its key"),
            ));
        }
    }
    pem_bytes
}

fn keygen(c: &mut Criterion) {
    let mut group = c.benchmark_group("keygen");
    group.warm_up_time(Duration::from_millis(500));
    for (algorithm, slow) in [
        (KeyAlgorithm::Rsa(2048), true),
        (KeyAlgorithm::Rsa(3072), true),
        (KeyAlgorithm::EcdsaP256, false),
        (KeyAlgorithm::EcdsaP384, false),
        (KeyAlgorithm::Ed25519, false),
    ] {
        if slow {
            // RSA generation time varies a lot from key to key (prime search): flat sampling,
            // few samples. RSA-3072 takes ~0.2-0.5 s per key.
            group.sampling_mode(SamplingMode::Flat);
            group.sample_size(if algorithm == KeyAlgorithm::Rsa(2048) {
                30
            } else {
                10
            });
            group.measurement_time(Duration::from_secs(4));
        } else {
            group.sampling_mode(SamplingMode::Auto);
            group.sample_size(50);
            group.measurement_time(Duration::from_secs(2));
        }
        group.bench_function(algorithm.to_string(), |b| {
            b.iter(|| PrivateKey::generate(black_box(algorithm)).expect("key"))
        });
    }
    // The floor of an RSA `init`: the crypto library's own key generation, without rcgen's
    // PKCS#8 round trip that `PrivateKey::generate` adds. 16 of these on 2 cores is the least an
    // RSA-2048 `kubepki init` can take (README, "Performance").
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("RSA-2048 (aws-lc-rs alone)", |b| {
        b.iter(|| {
            aws_lc_rs::rsa::KeyPair::generate(black_box(aws_lc_rs::rsa::KeySize::Rsa2048))
                .expect("key")
        })
    });
    group.finish();
}

fn sign_leaf(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let specs = init_specs(now);
    let ca_spec = &specs.iter().find(|(n, ..)| *n == "ca").expect("ca").2;
    let leaf_spec = &specs
        .iter()
        .find(|(n, ..)| *n == "apiserver")
        .expect("apiserver")
        .2;
    let mut group = c.benchmark_group("sign_leaf");
    group.warm_up_time(Duration::from_millis(500));
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(2));
    for algorithm in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa(2048),
    ] {
        let ca_key = PrivateKey::generate(algorithm).expect("CA key");
        let ca_der = cert::issue(ca_spec, &ca_key, None).expect("CA");
        let ca = Authority::new(ca_der, ca_key).expect("CA pairs with its key");
        let leaf_key = PrivateKey::generate(algorithm).expect("leaf key");
        group.bench_function(algorithm.to_string(), |b| {
            b.iter(|| cert::issue(black_box(leaf_spec), &leaf_key, Some(&ca)).expect("leaf"))
        });
    }
    group.finish();
}

fn full_pki(c: &mut Criterion) {
    let specs = init_specs(OffsetDateTime::now_utc());
    let mut group = c.benchmark_group("full_pki");
    group.warm_up_time(Duration::from_millis(500));

    group.sample_size(30);
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("ECDSA-P256", |b| {
        b.iter(|| build_pki(black_box(KeyAlgorithm::EcdsaP256), &specs))
    });

    // 16 RSA-2048 keys on all cores: ~0.3-0.5 s per iteration on 2 cores.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("RSA-2048", |b| {
        b.iter(|| build_pki(black_box(KeyAlgorithm::Rsa(2048)), &specs))
    });
    group.finish();
}

fn sign_csr(c: &mut Criterion) {
    use kubepki::pki::csr::{self, CsrSpec};
    use kubepki::pki::profile::Profile;
    let now = OffsetDateTime::now_utc();
    let specs = init_specs(now);
    let ca_spec = &specs.iter().find(|(n, ..)| *n == "ca").expect("ca").2;
    let ca_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).expect("CA key");
    let ca = Authority::new(cert::issue(ca_spec, &ca_key, None).expect("CA"), ca_key)
        .expect("CA pairs with its key");
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).expect("key");
    let request = CsrSpec {
        common_name: "my-pod.my-namespace.pod.cluster.local".into(),
        organizations: vec![],
        alt_names: names::AltNames {
            dns: vec![
                "my-svc.my-namespace.svc.cluster.local".into(),
                "my-pod.my-namespace.pod.cluster.local".into(),
            ],
            ips: vec![
                "192.0.2.24".parse().expect("IP"),
                "10.0.34.2".parse().expect("IP"),
            ],
            ..Default::default()
        },
    };
    let pem = csr::csr_pem(&csr::build(&request, &key).expect("CSR"));
    let profile = Profile::builtin("server").expect("built-in profile");
    let (not_before, not_after) = cert::validity(now, profile.validity);
    let mut group = c.benchmark_group("sign_csr");
    group.warm_up_time(Duration::from_millis(500));
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("ECDSA-P256", |b| {
        b.iter(|| {
            let req = csr::parse(black_box(pem.as_bytes())).expect("request verifies");
            let s = &req.spec;
            profile
                .check(
                    &s.common_name,
                    &s.organizations,
                    &s.alt_names,
                    req.key_algorithm,
                )
                .expect("profile accepts");
            let spec = CertSpec {
                common_name: s.common_name.clone(),
                organizations: s.organizations.clone(),
                alt_names: s.alt_names.clone(),
                usages: profile.ext_usages(),
                is_ca: false,
                not_before,
                not_after,
            };
            let der = cert::issue_leaf_with_usages(
                &spec,
                &req.public_key,
                &ca,
                profile.key_encipherment(),
            )
            .expect("certificate");
            cert::cert_pem(&der)
        })
    });
    group.finish();
}

criterion_group!(benches, keygen, sign_leaf, full_pki, sign_csr);
criterion_main!(benches);
