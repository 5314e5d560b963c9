//! The certificate flags of each control-plane component for a tree's paths: kubeadm's wiring
//! ([`super::wiring`]) resolved against a [`Layout`], plus the settings that go with it and the TLS
//! hardening the Kubernetes docs recommend (TLS 1.2 or newer, AEAD cipher suites only, client
//! certificates required by etcd, no self-made etcd certificates).

use serde::Serialize;

use super::catalog;
use super::store::Layout;
use super::wiring::{FileRef, WIRING};

/// The components, in the order they start.
pub const COMPONENTS: [&str; 5] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
];

/// The TLS 1.2 cipher suites the Kubernetes docs' hardening guides keep: ECDHE with AES-GCM or
/// ChaCha20-Poly1305 (TLS 1.3 suites are not configurable and always on).
pub const CIPHER_SUITES: &str = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,\
TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,\
TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,\
TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256";

/// One flag with its value, and why it is there.
#[derive(Debug, Clone, Serialize)]
pub struct Flag {
    pub flag: String,
    pub value: String,
    /// `file` (a file of the tree), `setting` (kubeadm's value) or `hardening`.
    pub kind: &'static str,
}

/// A component's flags.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentFlags {
    pub component: &'static str,
    pub flags: Vec<Flag>,
}

/// What the flags are made for.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The cluster DNS domain (`--service-account-issuer`).
    pub dns_domain: String,
    /// etcd's client URL as the API server reaches it (kubeadm: `https://127.0.0.1:2379`).
    pub etcd_servers: String,
}

/// The flags of `component` (one of [`COMPONENTS`]) for the tree in `layout`.
pub fn flags_for(component: &'static str, layout: &Layout, settings: &Settings) -> ComponentFlags {
    let mut flags: Vec<Flag> = WIRING
        .iter()
        .filter(|w| w.component == component && w.flag.starts_with("--"))
        .filter_map(|w| {
            Some(Flag {
                flag: w.flag.to_string(),
                value: path(layout, w.file)?,
                kind: "file",
            })
        })
        .collect();
    let mut add = |flag: &str, value: &str, kind: &'static str| {
        flags.push(Flag {
            flag: flag.to_string(),
            value: value.to_string(),
            kind,
        })
    };
    match component {
        "etcd" => {
            add("--client-cert-auth", "true", "setting");
            add("--peer-client-cert-auth", "true", "setting");
            add("--auto-tls", "false", "hardening");
            add("--peer-auto-tls", "false", "hardening");
            add("--cipher-suites", CIPHER_SUITES, "hardening");
        }
        "kube-apiserver" => {
            add("--etcd-servers", &settings.etcd_servers, "setting");
            add(
                "--requestheader-allowed-names",
                &catalog::find("front-proxy-client")
                    .map(|p| p.common_name(""))
                    .unwrap_or_default(),
                "setting",
            );
            add(
                "--requestheader-username-headers",
                "X-Remote-User",
                "setting",
            );
            add("--requestheader-group-headers", "X-Remote-Group", "setting");
            add(
                "--requestheader-extra-headers-prefix",
                "X-Remote-Extra-",
                "setting",
            );
            add(
                "--service-account-issuer",
                &format!("https://kubernetes.default.svc.{}", settings.dns_domain),
                "setting",
            );
            add("--tls-min-version", "VersionTLS12", "hardening");
            add("--tls-cipher-suites", CIPHER_SUITES, "hardening");
        }
        "kube-controller-manager" | "kube-scheduler" => {
            add("--tls-min-version", "VersionTLS12", "hardening");
            add("--tls-cipher-suites", CIPHER_SUITES, "hardening");
        }
        "kubelet" => {
            add("--tls-min-version", "VersionTLS12", "hardening");
            add("--tls-cipher-suites", CIPHER_SUITES, "hardening");
            add("--rotate-certificates", "true", "setting");
            if let Some(ca) = catalog::find("ca") {
                add(
                    "--client-ca-file",
                    &layout.cert_path(ca, "").display().to_string(),
                    "file",
                );
            }
        }
        _ => {}
    }
    ComponentFlags { component, flags }
}

fn path(layout: &Layout, file: FileRef) -> Option<String> {
    let p = match file {
        FileRef::Cert(name) => layout.cert_path(catalog::find(name)?, ""),
        FileRef::Key(name) => layout.key_path(catalog::find(name)?, ""),
        FileRef::Kubeconfig(name) => layout.kubeconfig_path(catalog::find_kubeconfig(name)?, ""),
        FileRef::ServiceAccountKey => layout.sa_key(),
        FileRef::ServiceAccountPublicKey => layout.sa_pub(),
    };
    Some(p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_component_has_its_files_and_hardening() {
        let layout = Layout::new("/etc/kubernetes/pki", "/etc/kubernetes");
        let settings = Settings {
            dns_domain: "cluster.local".into(),
            etcd_servers: "https://127.0.0.1:2379".into(),
        };
        for c in COMPONENTS {
            let f = flags_for(c, &layout, &settings);
            assert!(f.flags.iter().any(|f| f.kind == "hardening"), "{c}");
        }
        let api = flags_for("kube-apiserver", &layout, &settings);
        let get = |name: &str| {
            api.flags
                .iter()
                .find(|f| f.flag == name)
                .map(|f| f.value.clone())
        };
        assert_eq!(
            get("--tls-cert-file").unwrap(),
            "/etc/kubernetes/pki/apiserver.crt"
        );
        assert_eq!(
            get("--etcd-cafile").unwrap(),
            "/etc/kubernetes/pki/etcd/ca.crt"
        );
        assert_eq!(
            get("--requestheader-allowed-names").unwrap(),
            "front-proxy-client"
        );
    }
}
