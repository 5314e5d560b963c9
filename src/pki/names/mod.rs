//! Names: validation of the DNS names, IPs, CIDRs and endpoints users pass, and the SAN rules of
//! kubeadm (`GetAPIServerAltNames`, `getAltNames`, `RemoveDuplicateAltNames`).
//!
//! `san` holds one SAN and the SANs of a certificate, `cidr` the service subnet, `node`
//! the nodes and subject values, `cluster` the cluster facts, the endpoint and the SAN rules.

mod cidr;
mod cluster;
mod node;
mod san;

pub use cidr::{
    MAX_SERVICE_SUBNET_HOST_BITS, MIN_SERVICE_SUBNET_ADDRESSES, apiserver_virtual_ip,
    parse_service_cidrs,
};
pub use cluster::{Cluster, Endpoint, alt_names};
pub use node::{NodeSpec, parse_node_list, validate_subject_value};
pub use san::{AltNames, San, ip_from_bytes, parse_ip, parse_san_list, validate_dns_name};
