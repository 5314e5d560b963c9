//! Service CIDRs (`networking.serviceSubnet`, `--service-cidr`) with kubeadm's size limits, and
//! the API server's virtual IP in them.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::pki::untrusted::quote_input;

/// kubeadm's `MinimumAddressesInServiceSubnet`: the API server's service IP is the first
/// address of the service subnet and the cluster DNS service the tenth.
pub const MIN_SERVICE_SUBNET_ADDRESSES: u128 = 10;

/// kubeadm's `MaximumBitsForServiceSubnet` (the API server's own limit): a service subnet has at
/// most 20 bits of host part, so an IPv4 mask of at least /12 and an IPv6 mask of at least /108.
pub const MAX_SERVICE_SUBNET_HOST_BITS: u8 = 20;

/// Parses `networking.serviceSubnet` / `--service-cidr`: one CIDR, or two comma-separated for
/// dual stack (one per family), validated as kubeadm's `ValidateIPNetFromString` and
/// `ValidateServiceSubnetSize` do. Like Go's `net.ParseCIDR`, an address with host bits set
/// (`10.96.3.7/12`) stands for its network (`10.96.0.0/12`). Every error quotes the CIDR at
/// fault (and the whole value when it holds two).
pub fn parse_service_cidrs(s: &str) -> Result<Vec<IpNet>, String> {
    let items: Vec<&str> = s.split(',').map(str::trim).collect();
    // With two CIDRs, say which one is wrong and in what value.
    let context = if items.len() > 1 {
        format!("{}: ", quote_input(s))
    } else {
        String::new()
    };
    let nets = items
        .iter()
        .map(|c| {
            let net = c.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| {
                format!(
                    "{context}{} is not a CIDR (e.g. 10.96.0.0/12)",
                    quote_input(c)
                )
            })?;
            check_service_subnet_size(c, net).map_err(|e| format!("{context}{e}"))?;
            Ok(net)
        })
        .collect::<Result<Vec<_>, String>>()?;
    match nets.as_slice() {
        [_] => Ok(nets),
        [a, b] if a.addr().is_ipv4() != b.addr().is_ipv4() => Ok(nets),
        [_, _] => Err(format!(
            "{}: a dual-stack pair must be one IPv4 and one IPv6 CIDR",
            quote_input(s)
        )),
        _ => Err(format!(
            "{}: at most two CIDRs (one per IP family)",
            quote_input(s)
        )),
    }
}

/// kubeadm's two size limits on one service CIDR, `text` being how the user wrote it.
fn check_service_subnet_size(text: &str, net: IpNet) -> Result<(), String> {
    let bits = net.max_prefix_len();
    let host_bits = bits - net.prefix_len();
    let addresses = 1u128.checked_shl(u32::from(host_bits)).unwrap_or(u128::MAX);
    if addresses < MIN_SERVICE_SUBNET_ADDRESSES {
        return Err(format!(
            "{} is too small for a service subnet: it holds {addresses} address{}, and kubeadm \
             needs at least {MIN_SERVICE_SUBNET_ADDRESSES} (the API server's service IP is the \
             first address, the cluster DNS the tenth); use a /{} or wider",
            quote_input(text),
            if addresses == 1 { "" } else { "es" },
            bits - 4
        ));
    }
    if host_bits > MAX_SERVICE_SUBNET_HOST_BITS {
        return Err(format!(
            "{} is too large for a service subnet: for {bits}-bit addresses the mask must be \
             >= {} (kubeadm and the API server allow at most {MAX_SERVICE_SUBNET_HOST_BITS} \
             bits of host part)",
            quote_input(text),
            bits - MAX_SERVICE_SUBNET_HOST_BITS
        ));
    }
    Ok(())
}

/// The API server's in-cluster virtual IP: the network address + 1 of the first service CIDR.
pub fn apiserver_virtual_ip(service_cidrs: &[IpNet]) -> Option<IpAddr> {
    let net = service_cidrs.first()?;
    match net {
        IpNet::V4(n) if n.prefix_len() < 32 => {
            Some(IpAddr::V4((u32::from(n.network()) + 1).into()))
        }
        IpNet::V6(n) if n.prefix_len() < 128 => {
            Some(IpAddr::V6((u128::from(n.network()) + 1).into()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_ip_is_network_plus_one_of_the_first_cidr() {
        let v6_first = parse_service_cidrs("fd00:10:96::/112,10.96.0.0/12").unwrap();
        assert_eq!(
            apiserver_virtual_ip(&v6_first).unwrap().to_string(),
            "fd00:10:96::1"
        );
        let host_bits = parse_service_cidrs("10.96.3.7/12").unwrap();
        assert_eq!(
            apiserver_virtual_ip(&host_bits).unwrap().to_string(),
            "10.96.0.1"
        );
        assert!(parse_service_cidrs("10.96.0.0/12,10.97.0.0/16").is_err());
        assert!(parse_service_cidrs("10.96.0.0/33").is_err());
    }

    #[test]
    fn service_cidrs_are_refused_where_kubeadm_refuses_them() {
        // No room for the API server's service IP (and the cluster DNS, the tenth address).
        for (cidr, why) in [
            ("10.96.0.5/32", "too small"),
            ("10.96.0.0/29", "too small"),
            ("fd00::/125", "too small"),
            ("0.0.0.0/0", "too large"),
            ("10.0.0.0/11", "too large"),
            ("fd00::/64", "too large"),
            ("::/0", "too large"),
        ] {
            let err = parse_service_cidrs(cidr).unwrap_err();
            assert!(err.contains(cidr) && err.contains(why), "{cidr}: {err}");
        }
        let err = parse_service_cidrs("0.0.0.0/0").unwrap_err();
        assert!(err.contains("mask must be >= 12"), "{err}");
        let err = parse_service_cidrs("fd00::/107").unwrap_err();
        assert!(err.contains("mask must be >= 108"), "{err}");
        let err = parse_service_cidrs("10.96.0.5/32").unwrap_err();
        assert!(err.contains("1 address,") && err.contains("/28"), "{err}");

        // The edges kubeadm accepts.
        for ok in [
            "10.96.0.0/12",
            "10.96.0.0/28",
            "fd00::/108",
            "fd00::/124",
            "10.96.0.0/12,fd00::/108",
            "fd00:10:96::/112, 10.96.0.0/16",
        ] {
            parse_service_cidrs(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        // In a dual-stack value the message names the whole value and the CIDR at fault.
        let err = parse_service_cidrs("10.96.0.0/12,fd00::/64").unwrap_err();
        assert!(
            err.contains("\"10.96.0.0/12,fd00::/64\"") && err.contains("\"fd00::/64\""),
            "{err}"
        );
        let err = parse_service_cidrs("10.96.0.0/12,").unwrap_err();
        assert!(err.contains("\"\" is not a CIDR"), "{err}");
        assert!(parse_service_cidrs("10.96.0.0/12,fd00::/108,10.0.0.0/16").is_err());
        // Host bits set: the network is meant, as Go's net.ParseCIDR (and so kubeadm) reads it.
        let nets = parse_service_cidrs("10.96.3.7/12").unwrap();
        assert_eq!(nets[0].to_string(), "10.96.0.0/12");
        assert_eq!(
            apiserver_virtual_ip(&nets).unwrap().to_string(),
            "10.96.0.1"
        );
    }
}
