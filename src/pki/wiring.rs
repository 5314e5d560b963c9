//! Which component flag reads which file of the tree (../shared/reference/kubeadm-pki.md §10):
//! the wiring kubeadm writes into its static-pod manifests, as data. `inspect` names the flags
//! that use a file; it is the table an operator running components by hand needs.

use serde::Serialize;

/// A file of the tree, by what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "name")]
pub enum FileRef {
    /// The certificate of a catalog profile.
    Cert(&'static str),
    /// The private key of a catalog profile.
    Key(&'static str),
    /// A kubeconfig, by catalog name.
    Kubeconfig(&'static str),
    ServiceAccountKey,
    ServiceAccountPublicKey,
}

/// One flag of one component that reads one file.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Wire {
    pub component: &'static str,
    pub flag: &'static str,
    pub file: FileRef,
}

const fn wire(component: &'static str, flag: &'static str, file: FileRef) -> Wire {
    Wire {
        component,
        flag,
        file,
    }
}

use FileRef::{Cert, Key, Kubeconfig, ServiceAccountKey, ServiceAccountPublicKey};

pub const APISERVER: &str = "kube-apiserver";
const CONTROLLER_MANAGER: &str = "kube-controller-manager";
const SCHEDULER: &str = "kube-scheduler";
const ETCD: &str = "etcd";
const KUBELET: &str = "kubelet";

/// kubeadm's wiring, component by component.
pub static WIRING: &[Wire] = &[
    wire(APISERVER, "--client-ca-file", Cert("ca")),
    wire(APISERVER, "--tls-cert-file", Cert("apiserver")),
    wire(APISERVER, "--tls-private-key-file", Key("apiserver")),
    wire(
        APISERVER,
        "--kubelet-client-certificate",
        Cert("apiserver-kubelet-client"),
    ),
    wire(
        APISERVER,
        "--kubelet-client-key",
        Key("apiserver-kubelet-client"),
    ),
    wire(APISERVER, "--etcd-cafile", Cert("etcd-ca")),
    wire(APISERVER, "--etcd-certfile", Cert("apiserver-etcd-client")),
    wire(APISERVER, "--etcd-keyfile", Key("apiserver-etcd-client")),
    wire(
        APISERVER,
        "--requestheader-client-ca-file",
        Cert("front-proxy-ca"),
    ),
    wire(
        APISERVER,
        "--proxy-client-cert-file",
        Cert("front-proxy-client"),
    ),
    wire(
        APISERVER,
        "--proxy-client-key-file",
        Key("front-proxy-client"),
    ),
    wire(
        APISERVER,
        "--service-account-key-file",
        ServiceAccountPublicKey,
    ),
    wire(
        APISERVER,
        "--service-account-signing-key-file",
        ServiceAccountKey,
    ),
    wire(ETCD, "--cert-file", Cert("etcd-server")),
    wire(ETCD, "--key-file", Key("etcd-server")),
    wire(ETCD, "--trusted-ca-file", Cert("etcd-ca")),
    wire(ETCD, "--peer-cert-file", Cert("etcd-peer")),
    wire(ETCD, "--peer-key-file", Key("etcd-peer")),
    wire(ETCD, "--peer-trusted-ca-file", Cert("etcd-ca")),
    wire(
        CONTROLLER_MANAGER,
        "--kubeconfig",
        Kubeconfig("controller-manager"),
    ),
    wire(
        CONTROLLER_MANAGER,
        "--authentication-kubeconfig",
        Kubeconfig("controller-manager"),
    ),
    wire(
        CONTROLLER_MANAGER,
        "--authorization-kubeconfig",
        Kubeconfig("controller-manager"),
    ),
    wire(CONTROLLER_MANAGER, "--client-ca-file", Cert("ca")),
    wire(CONTROLLER_MANAGER, "--root-ca-file", Cert("ca")),
    wire(
        CONTROLLER_MANAGER,
        "--requestheader-client-ca-file",
        Cert("front-proxy-ca"),
    ),
    wire(
        CONTROLLER_MANAGER,
        "--service-account-private-key-file",
        ServiceAccountKey,
    ),
    wire(
        CONTROLLER_MANAGER,
        "--cluster-signing-cert-file",
        Cert("ca"),
    ),
    wire(CONTROLLER_MANAGER, "--cluster-signing-key-file", Key("ca")),
    wire(SCHEDULER, "--kubeconfig", Kubeconfig("scheduler")),
    wire(
        SCHEDULER,
        "--authentication-kubeconfig",
        Kubeconfig("scheduler"),
    ),
    wire(
        SCHEDULER,
        "--authorization-kubeconfig",
        Kubeconfig("scheduler"),
    ),
    wire(KUBELET, "--kubeconfig", Kubeconfig("kubelet")),
    wire(KUBELET, "clientCAFile (KubeletConfiguration)", Cert("ca")),
];

/// The flags that read `file`.
pub fn used_by(file: FileRef) -> Vec<Wire> {
    WIRING.iter().filter(|w| w.file == file).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::catalog;

    #[test]
    fn every_wired_file_is_in_the_catalog() {
        for w in WIRING {
            match w.file {
                Cert(n) | Key(n) => assert!(catalog::find(n).is_some(), "{n}"),
                Kubeconfig(n) => assert!(catalog::find_kubeconfig(n).is_some(), "{n}"),
                ServiceAccountKey | ServiceAccountPublicKey => {}
            }
        }
        assert_eq!(used_by(Cert("ca")).len(), 5);
    }
}
