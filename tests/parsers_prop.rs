//! Property tests of every parser of user input (issue 13): durations, SANs and SAN lists,
//! service CIDRs, endpoints, node specs and node lists, subject values, PEM keys, certificates,
//! kubeconfigs and kubeadm configurations.
//!
//! Properties:
//! - no parser panics, whatever the input;
//! - an error about a flag value names that value: it contains `quote_input(value)` (the value
//!   quoted and escaped, abbreviated with its length when long), and no raw control character
//!   (so a value cannot forge output lines);
//! - an error about a file never contains a secret planted in that file, however the file is
//!   mutated, in any rendering (Display, Debug, anyhow's `{:#}`).
//!
//! Inputs are random and, for files, real files (made here) mutated byte by byte. 256 cases
//! per property keep the whole file within a few seconds.

use std::path::Path;
use std::sync::OnceLock;

use kubepki::config;
use kubepki::pki::cert::{self, CertFacts, CertSpec};
use kubepki::pki::duration::parse_duration;
use kubepki::pki::error::quote_input;
use kubepki::pki::keys::{KeyAlgorithm, PrivateKey, encode_pem};
use kubepki::pki::kubeconfig::Kubeconfig;
use kubepki::pki::names::{
    self, AltNames, Endpoint, NodeSpec, San, parse_node_list, parse_san_list, parse_service_cidrs,
    validate_subject_value,
};
use kubepki::pki::{self as pki};
use proptest::prelude::*;
use proptest::sample::Index;
use time::OffsetDateTime;

fn config() -> ProptestConfig {
    ProptestConfig {
        // 256 by default; PROPTEST_CASES=20000 for a long hunt.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(256),
        // Shrinking a failure is useful; a runaway shrink is not.
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Flag values.

/// Strings as users (and fuzzers) type them: mostly the characters each parser cares about,
/// sometimes anything at all, sometimes very long.
fn flag_text(alphabet: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::collection::vec(proptest::sample::select(alphabet.chars().collect::<Vec<_>>()), 0..40)
            .prop_map(|c| c.into_iter().collect::<String>()),
        2 => any::<String>(),
        1 => "\\PC{0,8}[\\x00-\\x1f\\x7f\\u{85}]\\PC{0,8}",
        1 => (any::<String>(), 60usize..400).prop_map(|(s, n)| s.chars().cycle().take(n).collect()),
    ]
}

/// The property of every flag parser's error.
fn names_its_input(err: &str, input: &str) -> Result<(), TestCaseError> {
    let named = err.contains(&quote_input(input)) || err.contains(&quote_input(input.trim()));
    prop_assert!(named, "the error does not name {:?}: {}", input, err);
    prop_assert!(
        !err.chars().any(char::is_control),
        "the error holds a raw control character: {:?}",
        err
    );
    Ok(())
}

const DURATION_CHARS: &str = "0123456789ywdhmsx .-+";
const NAME_CHARS: &str = "abcxyz019-.*_:/[]=, ABC\u{e9}\n\t";
const CIDR_CHARS: &str = "0123456789abcdef.:/, ";
const ENDPOINT_CHARS: &str = "abz019-.:[]/ ";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn durations(s in flag_text(DURATION_CHARS)) {
        if let Err(e) = parse_duration(&s) {
            names_its_input(&e, &s)?;
        }
    }

    #[test]
    fn durations_with_huge_numbers(n in "[0-9]{1,40}", unit in "[ywdhms]", more in "[0-9]{0,20}[ywdhms]?") {
        let s = format!("{n}{unit}{more}");
        match parse_duration(&s) {
            // Whatever parses can be checked against a clock without panicking.
            Ok(d) => {
                let now = OffsetDateTime::now_utc();
                let _ = pki::duration::check_validity(now, d, "--validity");
                let _ = cert::validity(now, d);
                let _ = cert::try_validity(now, d, "--validity");
            }
            Err(e) => names_its_input(&e, &s)?,
        }
    }

    #[test]
    fn sans(s in flag_text(NAME_CHARS)) {
        if let Err(e) = s.parse::<San>() {
            names_its_input(&e, &s)?;
        }
    }

    #[test]
    fn san_lists(s in flag_text(NAME_CHARS)) {
        if let Err(e) = parse_san_list(&s) {
            prop_assert!(e.contains(&quote_input(&s)), "{:?}: {}", s, e);
            prop_assert!(!e.chars().any(char::is_control), "{:?}", e);
        }
    }

    #[test]
    fn ips(s in flag_text(CIDR_CHARS)) {
        if let Err(e) = names::parse_ip(&s) {
            names_its_input(&e, &s)?;
        }
    }

    #[test]
    fn service_cidrs(s in prop_oneof![
        flag_text(CIDR_CHARS),
        (any::<[u8; 4]>(), 0u8..=40).prop_map(|(a, p)| format!("{}.{}.{}.{}/{p}", a[0], a[1], a[2], a[3])),
        (any::<u128>(), 0u8..=140).prop_map(|(a, p)| format!("{}/{p}", std::net::Ipv6Addr::from(a))),
        (any::<[u8; 4]>(), 0u8..=33, any::<u128>(), 0u8..=129).prop_map(|(a, p, b, q)| format!(
            "{}.{}.{}.{}/{p},{}/{q}", a[0], a[1], a[2], a[3], std::net::Ipv6Addr::from(b))),
    ]) {
        match parse_service_cidrs(&s) {
            Ok(nets) => {
                prop_assert!(matches!(nets.len(), 1 | 2));
                // What kubeadm accepts always has room for the API server's service IP.
                let vip = names::apiserver_virtual_ip(&nets);
                prop_assert!(vip.is_some_and(|ip| nets[0].contains(&ip)), "{:?}", nets);
                for net in &nets {
                    let host_bits = net.max_prefix_len() - net.prefix_len();
                    prop_assert!((4..=20).contains(&host_bits), "{}", net);
                }
            }
            Err(e) => names_its_input(&e, &s)?,
        }
    }

    #[test]
    fn endpoints(s in flag_text(ENDPOINT_CHARS)) {
        if let Err(e) = s.parse::<Endpoint>() {
            names_its_input(&e, &s)?;
        }
    }

    #[test]
    fn node_specs(s in flag_text(NAME_CHARS)) {
        match s.parse::<NodeSpec>() {
            Ok(node) => prop_assert!(!node.name.chars().any(char::is_control)),
            Err(e) => names_its_input(&e, &s)?,
        }
    }

    #[test]
    fn subject_values(s in flag_text(NAME_CHARS)) {
        match validate_subject_value(&s) {
            Ok(()) => prop_assert!(!s.chars().any(char::is_control) && s.chars().count() <= 64),
            Err(e) => names_its_input(&e, &s)?,
        }
    }

    #[test]
    fn key_algorithms(s in flag_text("RSAECDP-0123456789ed")) {
        if let Err(e) = s.parse::<KeyAlgorithm>() {
            names_its_input(&e, &s)?;
        }
    }

    #[test]
    fn node_lists(lines in proptest::collection::vec(
        prop_oneof![
            3 => "[a-z0-9-]{1,12}( [0-9.]{1,15}| fd00::[0-9a-f]{1,4}| [a-z.]{1,10}){0,3}",
            1 => "#\\PC{0,20}",
            1 => " *",
            1 => flag_text(NAME_CHARS),
        ],
        0..12,
    ), crlf in any::<bool>()) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        match parse_node_list(&text) {
            Ok(nodes) => {
                prop_assert!(!nodes.is_empty());
                let mut names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
                names.sort_unstable();
                names.dedup();
                prop_assert_eq!(names.len(), nodes.len(), "a node listed twice was accepted");
            }
            Err(e) => {
                prop_assert!(e.starts_with("line ") || e.contains("lists no nodes"), "{}", e);
                prop_assert!(!e.chars().any(char::is_control), "{:?}", e);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Files: real ones, made here, then mutated.

/// One byte-level change to a file.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index, usize),
    /// Duplicate a slice elsewhere (repeats a line, a key, a base64 run).
    Splice(Index, Index, usize),
    Truncate(Index),
}

/// Bytes worth inserting into text files: YAML and PEM syntax, line breaks, non-UTF-8.
const SYNTAX: &[u8] = b":-[]{}\"'#!&*|>? \n\t,=/+0a\xff\xc3";

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<Index>(), proptest::sample::select(SYNTAX)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<Index>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<Index>(), any::<Index>(), 1usize..80).prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ];
    proptest::collection::vec(one, 1..6)
}

fn mutate(original: &[u8], changes: &[Mutation]) -> Vec<u8> {
    let mut data = original.to_vec();
    for change in changes {
        if data.is_empty() {
            break;
        }
        match change {
            Mutation::Flip(i, b) => {
                let i = i.index(data.len());
                data[i] ^= b | 1;
            }
            Mutation::Insert(i, b) => data.insert(i.index(data.len() + 1), *b),
            Mutation::Delete(i, n) => {
                let i = i.index(data.len());
                let end = (i + n).min(data.len());
                data.drain(i..end);
            }
            Mutation::Splice(from, to, n) => {
                let from = from.index(data.len());
                let end = (from + n).min(data.len());
                let piece = data[from..end].to_vec();
                let to = to.index(data.len() + 1);
                data.splice(to..to, piece);
            }
            Mutation::Truncate(i) => data.truncate(i.index(data.len())),
        }
    }
    data
}

/// A secret planted in files. It holds `+`, `/` and `=`, as base64 does, so no rule that lets
/// a name or a short value be quoted can let it through whole.
const MARKER: &str = "Zk9+MARKER/s3cr3t=";

struct Keys {
    rsa: PrivateKey,
    ec256: PrivateKey,
    ec384: PrivateKey,
    ed: PrivateKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut all = pki::keys::generate_many(&[
            KeyAlgorithm::Rsa(2048),
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
        ])
        .expect("key generation")
        .into_iter();
        let mut next = || all.next().expect("four keys");
        Keys {
            rsa: next(),
            ec256: next(),
            ec384: next(),
            ed: next(),
        }
    })
}

fn key_pems() -> &'static [String] {
    static PEMS: OnceLock<Vec<String>> = OnceLock::new();
    PEMS.get_or_init(|| {
        let k = keys();
        let mut pems: Vec<String> = [&k.rsa, &k.ec256, &k.ec384, &k.ed]
            .iter()
            .map(|key| key.to_pem().expect("PEM"))
            .collect();
        // PKCS#8 forms too, and an EC key after an EC PARAMETERS block, as openssl writes it.
        pems.push(encode_pem("PRIVATE KEY", k.rsa.key_pair().serialize_der()));
        pems.push(encode_pem(
            "PRIVATE KEY",
            k.ec256.key_pair().serialize_der(),
        ));
        pems.push(format!(
            "{}{}",
            encode_pem(
                "EC PARAMETERS",
                vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]
            ),
            k.ec256.to_pem().expect("PEM")
        ));
        pems
    })
}

/// The base64 body of a PEM text, in 12-character chunks: no error may quote any of them.
fn body_chunks(pem_text: &str) -> Vec<String> {
    let body: String = pem_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    body.as_bytes()
        .chunks(12)
        .filter(|c| c.len() == 12)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

const LABELS: [&str; 6] = [
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "CERTIFICATE",
    "OPENSSH PRIVATE KEY",
];

fn assert_key_error_is_clean(err: &str, original: &str) -> Result<(), TestCaseError> {
    prop_assert!(err.len() < 400, "a long key error: {}", err);
    for chunk in body_chunks(original) {
        prop_assert!(!err.contains(&chunk), "key bytes {:?} in: {}", chunk, err);
    }
    Ok(())
}

struct Certs {
    pems: Vec<String>,
}

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let k = keys();
        let now = OffsetDateTime::now_utc();
        let (not_before, not_after) = cert::validity(now, cert::DEFAULT_VALIDITY);
        let spec = |cn: &str, is_ca: bool| CertSpec {
            common_name: cn.into(),
            organizations: if is_ca {
                vec![]
            } else {
                vec!["system:masters".into(), "ops".into()]
            },
            alt_names: AltNames {
                dns: vec!["a.example".into(), "*.b.example".into()],
                ips: vec!["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()],
                ..Default::default()
            },
            usages: vec![],
            is_ca,
            not_before,
            not_after,
        };
        let ca_der = cert::issue(&spec("kubernetes", true), &k.ec256, None).expect("CA");
        let ca = cert::Authority::new(
            ca_der.clone(),
            PrivateKey::from_pem(k.ec256.to_pem().unwrap().as_bytes()).unwrap(),
        )
        .expect("authority");
        let leaf = cert::issue(&spec("kube-apiserver", false), &k.ed, Some(&ca)).expect("leaf");
        let rsa_leaf = cert::issue(&spec("admin", false), &k.rsa, Some(&ca)).expect("leaf");
        Certs {
            pems: vec![
                cert::cert_pem(&ca_der),
                format!("{}{}", cert::cert_pem(&leaf), cert::cert_pem(&ca_der)),
                cert::cert_pem(&rsa_leaf),
            ],
        }
    })
}

fn kubeconfig_texts() -> &'static [String] {
    static TEXTS: OnceLock<Vec<String>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let k = keys();
        let c = certs();
        let key_pem = k.ec384.to_pem().unwrap();
        let mut config = Kubeconfig::with_client_cert(
            "kubernetes",
            "https://192.168.1.10:6443",
            &c.pems[0],
            "kubernetes-admin",
            &c.pems[2],
            &key_pem,
        );
        let plain = config.to_yaml().unwrap();
        // The marker in secret places: a token, the key data, a pasted key, an auth provider.
        config.users[0].user.extra.insert("token".into(), MARKER.into());
        config.users[0].user.client_key_data = Some(format!("{MARKER}{}", config.users[0].user.client_key_data.clone().unwrap()));
        let with_marker = config.to_yaml().unwrap();
        let pasted = plain.replace(
            "  user:\n",
            &format!(
                "  user:\n    password: {MARKER}\n    # -----BEGIN RSA PRIVATE KEY-----\n    # {MARKER}\n"
            ),
        );
        let as_string = plain.replace(
            "  user:\n",
            &format!("  user: {MARKER}LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=\n  x:\n"),
        );
        let as_key = format!("{plain}\"{MARKER}\": 1\n{MARKER}: [{MARKER}]\n");
        vec![plain, with_marker, pasted, as_string, as_key]
    })
}

fn kubeadm_config_texts() -> &'static [String] {
    static TEXTS: OnceLock<Vec<String>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let example = include_str!("../examples/kubeadm-config.yaml");
        let with_secrets = example
            .replace(
                "kind: InitConfiguration\n",
                &format!(
                    "kind: InitConfiguration\nbootstrapTokens:\n- token: {MARKER}\n  description: {MARKER}\ncertificateKey: {MARKER}\n"
                ),
            )
            .replace(
                "  certSANs:\n",
                &format!("  extraArgs:\n  - name: token\n    value: {MARKER}\n  certSANs:\n"),
            );
        // A key pasted into the file, in places a mutation can turn into a field or value.
        let pasted = example.replace(
            "clusterName: prod\n",
            &format!(
                "clusterName: prod\nimageRepository: |\n  -----BEGIN EC PRIVATE KEY-----\n  {MARKER}\n  -----END EC PRIVATE KEY-----\n"
            ),
        );
        let as_values = example
            .replace("  name: cp-1\n", &format!("  name: {MARKER}\n"))
            .replace("  dnsDomain: cluster.local\n", &format!("  {MARKER}: cluster.local\n"));
        vec![example.to_string(), with_secrets, pasted, as_values]
    })
}

/// The property of every file parser's error: the planted secret appears in no rendering.
fn keeps_the_secret(err: &pki::Error) -> Result<(), TestCaseError> {
    let chained = anyhow::Error::msg(err.to_string()).context("kubepki init");
    for text in [
        err.to_string(),
        format!("{err:?}"),
        format!("{chained:#}"),
        format!("{chained:?}"),
    ] {
        prop_assert!(!text.contains(MARKER), "the secret leaked: {}", text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn keys_from_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = PrivateKey::from_pem(&data);
    }

    #[test]
    fn keys_from_random_blocks(der in proptest::collection::vec(any::<u8>(), 0..300), label in proptest::sample::select(&LABELS[..])) {
        let text = encode_pem(label, der);
        if let Err(e) = PrivateKey::from_pem(text.as_bytes()) {
            assert_key_error_is_clean(&e, &text)?;
        }
    }

    #[test]
    fn keys_mutated_as_text(which in any::<Index>(), changes in mutations()) {
        let original = &key_pems()[which.index(key_pems().len())];
        let data = mutate(original.as_bytes(), &changes);
        if let Err(e) = PrivateKey::from_pem(&data) {
            assert_key_error_is_clean(&e, original)?;
        }
    }

    #[test]
    fn keys_mutated_inside_the_der(which in any::<Index>(), changes in mutations(), label in proptest::sample::select(&LABELS[..3])) {
        let original = &key_pems()[which.index(key_pems().len())];
        let block = pem::parse_many(original).unwrap().pop().unwrap();
        let der = mutate(block.contents(), &changes);
        let text = encode_pem(label, der);
        if let Err(e) = PrivateKey::from_pem(text.as_bytes()) {
            assert_key_error_is_clean(&e, original)?;
            assert_key_error_is_clean(&e, &text)?;
        }
    }

    #[test]
    fn certificates_from_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = cert::certs_from_pem(&data);
        let _ = CertFacts::from_der(&data);
        if let Err(e) = cert::certs_from_pem(encode_pem("CERTIFICATE", data).as_bytes()) {
            prop_assert!(e.len() < 400, "{}", e);
        }
    }

    #[test]
    fn certificates_mutated(which in any::<Index>(), changes in mutations(), inside in any::<bool>()) {
        let original = &certs().pems[which.index(certs().pems.len())];
        let data = if inside {
            let der = pem::parse_many(original).unwrap().remove(0).into_contents();
            encode_pem("CERTIFICATE", mutate(&der, &changes)).into_bytes()
        } else {
            mutate(original.as_bytes(), &changes)
        };
        match cert::certs_from_pem(&data) {
            Ok(chain) => {
                for der in &chain {
                    if let Ok(facts) = CertFacts::from_der(der) {
                        let _ = facts.missing_names(&AltNames::default());
                    }
                    let _ = cert::verify_chain(&chain, der);
                }
            }
            Err(e) => prop_assert!(e.len() < 400, "{}", e),
        }
        if inside {
            let der = pem::parse_many(original).unwrap().remove(0).into_contents();
            let _ = CertFacts::from_der(&mutate(&der, &changes));
        }
    }

    #[test]
    fn kubeconfigs_from_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Kubeconfig::parse(&data);
    }

    #[test]
    fn kubeconfigs_mutated(which in any::<Index>(), changes in mutations()) {
        let original = &kubeconfig_texts()[which.index(kubeconfig_texts().len())];
        let data = mutate(original.as_bytes(), &changes);
        let err = match Kubeconfig::parse(&data) {
            Err(e) => e,
            Ok(k) => match k.current() {
                Err(e) => e,
                Ok(current) => {
                    // Embedded data only: a path names a file (and may be named back).
                    let dir = Path::new("/nonexistent/kubepki-prop");
                    let mut errors = Vec::new();
                    for (result, by_path) in [
                        (current.ca_pem(dir), current.cluster.certificate_authority_data.is_none()),
                        (current.client_cert_pem(dir), current.user.client_certificate_data.is_none()),
                        (current.client_key_pem(dir), current.user.client_key_data.is_none()),
                    ] {
                        if let (Err(e), false) = (result, by_path) {
                            errors.push(e);
                        }
                    }
                    let _ = k.clone().set_client_credentials("C", "K");
                    let _ = k.to_yaml();
                    errors.join("\n")
                }
            },
        };
        keeps_the_secret(&pki::Error::bad_file("/etc/kubernetes/admin.conf", err))?;
    }

    #[test]
    fn kubeadm_configs_mutated(which in any::<Index>(), changes in mutations()) {
        let original = &kubeadm_config_texts()[which.index(kubeadm_config_texts().len())];
        let data = mutate(original.as_bytes(), &changes);
        if let Err(e) = config::parse_bytes(&data, Path::new("kubeadm.yaml")) {
            keeps_the_secret(&e)?;
            prop_assert!(e.to_string().starts_with("kubeadm.yaml: "), "{}", e);
        }
    }

    #[test]
    fn kubeadm_configs_from_random_text(text in "(\\PC|\n){0,300}") {
        let _ = config::parse(&text, Path::new("kubeadm.yaml"));
    }
}

/// The unmutated files are valid (else the mutations would test little).
#[test]
fn the_real_files_parse() {
    for pem_text in key_pems() {
        PrivateKey::from_pem(pem_text.as_bytes()).expect("a real key parses");
    }
    for pem_text in &certs().pems {
        let chain = cert::certs_from_pem(pem_text.as_bytes()).expect("a real certificate parses");
        CertFacts::from_der(&chain[0]).expect("facts");
    }
    for (i, text) in kubeconfig_texts().iter().enumerate() {
        let parsed = Kubeconfig::parse(text.as_bytes());
        // The fourth has the marker where a mapping must be: it fails on purpose. (Unknown
        // top-level keys, even the marker, are kept, as client-go keeps them.)
        assert_eq!(parsed.is_ok(), i != 3, "kubeconfig {i}: {parsed:?}");
        if let Err(e) = parsed {
            assert!(!e.contains(MARKER), "{e}");
        }
    }
    for (i, text) in kubeadm_config_texts().iter().enumerate() {
        let parsed = config::parse(text, Path::new("kubeadm.yaml"));
        // The last plants the marker as a node name and a field name: refused, unquoted.
        assert_eq!(parsed.is_ok(), i < 3, "kubeadm config {i}: {parsed:?}");
        if let Err(e) = parsed {
            assert!(!e.to_string().contains(MARKER), "{e}");
        }
    }
}
