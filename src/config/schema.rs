//! kubeadm's configuration types as serde reads them: `InitConfiguration` and
//! `ClusterConfiguration` of `kubeadm.k8s.io/v1beta3` and `v1beta4`, every field kubeadm knows,
//! so that a misspelt field is an error.

use std::collections::BTreeMap;

use serde::Deserialize;

pub(super) type Ignored = yaml_serde::Value;

pub(super) const V1BETA3: &str = "kubeadm.k8s.io/v1beta3";
pub(super) const V1BETA4: &str = "kubeadm.k8s.io/v1beta4";

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct InitConfiguration {
    pub(super) api_version: String,
    pub(super) kind: String,
    pub(super) bootstrap_tokens: Option<Ignored>,
    pub(super) node_registration: Option<NodeRegistration>,
    #[serde(rename = "localAPIEndpoint")]
    pub(super) local_api_endpoint: Option<ApiEndpoint>,
    pub(super) certificate_key: Option<Ignored>,
    pub(super) skip_phases: Option<Ignored>,
    pub(super) patches: Option<Ignored>,
    // v1beta4
    pub(super) timeouts: Option<Ignored>,
    pub(super) dry_run: Option<Ignored>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct NodeRegistration {
    pub(super) name: Option<String>,
    pub(super) cri_socket: Option<Ignored>,
    pub(super) taints: Option<Ignored>,
    pub(super) kubelet_extra_args: Option<Ignored>,
    pub(super) ignore_preflight_errors: Option<Ignored>,
    pub(super) image_pull_policy: Option<Ignored>,
    pub(super) image_pull_serial: Option<Ignored>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ApiEndpoint {
    pub(super) advertise_address: Option<String>,
    pub(super) bind_port: Option<u16>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ClusterConfiguration {
    pub(super) api_version: String,
    pub(super) kind: String,
    pub(super) etcd: Option<Etcd>,
    pub(super) networking: Option<Networking>,
    pub(super) kubernetes_version: Option<Ignored>,
    pub(super) control_plane_endpoint: Option<String>,
    pub(super) api_server: Option<ApiServer>,
    pub(super) controller_manager: Option<Ignored>,
    pub(super) scheduler: Option<Ignored>,
    pub(super) dns: Option<Ignored>,
    pub(super) certificates_dir: Option<String>,
    pub(super) image_repository: Option<Ignored>,
    pub(super) feature_gates: Option<BTreeMap<String, bool>>,
    pub(super) cluster_name: Option<String>,
    // v1beta4
    pub(super) proxy: Option<Ignored>,
    pub(super) upgrade: Option<Ignored>,
    pub(super) encryption_algorithm: Option<String>,
    pub(super) certificate_validity_period: Option<String>,
    pub(super) ca_certificate_validity_period: Option<String>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Etcd {
    pub(super) local: Option<LocalEtcd>,
    pub(super) external: Option<ExternalEtcd>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct LocalEtcd {
    pub(super) image_repository: Option<Ignored>,
    pub(super) image_tag: Option<Ignored>,
    pub(super) data_dir: Option<Ignored>,
    pub(super) extra_args: Option<Ignored>,
    pub(super) extra_envs: Option<Ignored>,
    #[serde(rename = "serverCertSANs")]
    pub(super) server_cert_sans: Option<Vec<String>>,
    #[serde(rename = "peerCertSANs")]
    pub(super) peer_cert_sans: Option<Vec<String>>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ExternalEtcd {
    pub(super) endpoints: Option<Vec<String>>,
    pub(super) ca_file: Option<String>,
    pub(super) cert_file: Option<String>,
    pub(super) key_file: Option<String>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Networking {
    pub(super) service_subnet: Option<String>,
    pub(super) pod_subnet: Option<Ignored>,
    pub(super) dns_domain: Option<String>,
}

// Fields kubeadm knows but the PKI does not use are modelled (and never read) so that a
// misspelt field is an error rather than silently ignored.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ApiServer {
    #[serde(rename = "certSANs")]
    pub(super) cert_sans: Option<Vec<String>>,
    pub(super) extra_args: Option<Ignored>,
    pub(super) extra_volumes: Option<Ignored>,
    pub(super) extra_envs: Option<Ignored>,
    pub(super) timeout_for_control_plane: Option<Ignored>,
}
