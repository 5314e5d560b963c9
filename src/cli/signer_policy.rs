//! The policy flags of a signer (`csr-object sign` and `signer`): limits on what it signs
//! besides its signerName's rules.
// The doc comments here are the command-line help (clap), written for a terminal.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use clap::Args;
use ipnet::IpNet;
use time::Duration;

use crate::pki::csr_object::Policy;
use crate::pki::duration::parse_duration;

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Sign only DNS SANs at or below these domains (repeatable, or a comma list); others are
    /// failed.
    #[arg(
        long = "allowed-dns-suffix",
        value_name = "DOMAIN,...",
        value_delimiter = ','
    )]
    pub allowed_dns_suffixes: Vec<String>,
    /// Sign only IP SANs inside these ranges (repeatable, or a comma list of CIDRs).
    #[arg(
        long = "allowed-ip-range",
        value_name = "CIDR,...",
        value_delimiter = ','
    )]
    pub allowed_ip_ranges: Vec<IpNet>,
    /// The longest certificate issued, e.g. 90d (a cap: an object asking for more gets this).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub max_duration: Option<Duration>,
    /// Sign only objects created by these users (spec.username; repeatable, or a comma list).
    #[arg(
        long = "allowed-requestor",
        value_name = "USER,...",
        value_delimiter = ','
    )]
    pub allowed_requestors: Vec<String>,
}

impl PolicyArgs {
    pub(super) fn policy(&self) -> Policy {
        let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        Policy {
            allowed_dns_suffixes: some(&self.allowed_dns_suffixes),
            allowed_ip_ranges: (!self.allowed_ip_ranges.is_empty())
                .then(|| self.allowed_ip_ranges.clone()),
            max_duration: self.max_duration,
            allowed_requestors: some(&self.allowed_requestors),
        }
    }
}
