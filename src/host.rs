//! Defaults kubeadm takes from the host: the node name (the hostname) and the advertise address
//! (the IPv4 address of the interface that holds the default route), read from /proc.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};

/// The hostname, lowercased, as kubeadm's default `nodeRegistration.name`.
pub fn node_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok())
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
}

/// The address kubeadm would advertise: an IPv4 address of the default-route interface (like
/// kubeadm's `ChooseHostInterface`). `None` when the host has no default route.
pub fn advertise_address() -> Option<IpAddr> {
    let routes = fs::read_to_string("/proc/net/route").ok()?;
    let trie = fs::read_to_string("/proc/net/fib_trie").ok()?;
    choose_address(&routes, &trie).map(IpAddr::V4)
}

fn hex_ip(s: &str) -> Option<Ipv4Addr> {
    // /proc/net/route prints addresses as host-order (little-endian) hex.
    u32::from_str_radix(s, 16)
        .ok()
        .map(|n| Ipv4Addr::from(n.swap_bytes()))
}

fn choose_address(routes: &str, fib_trie: &str) -> Option<Ipv4Addr> {
    let rows: Vec<Vec<&str>> = routes
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| f.len() >= 8)
        .collect();
    let iface = rows
        .iter()
        .find(|f| f[1] == "00000000" && f[7] == "00000000")?[0];
    let subnets: Vec<(u32, u32)> = rows
        .iter()
        .filter(|f| f[0] == iface && f[7] != "00000000")
        .filter_map(|f| Some((u32::from(hex_ip(f[1])?), u32::from(hex_ip(f[7])?))))
        .collect();
    // fib_trie lists each local address as "|-- a.b.c.d" followed by "/32 host LOCAL".
    let lines: Vec<&str> = fib_trie.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| w[1].starts_with("/32 host LOCAL"))
        .filter_map(|w| w[0].strip_prefix("|-- ")?.parse::<Ipv4Addr>().ok())
        .find(|ip| {
            let n = u32::from(*ip);
            !ip.is_loopback() && subnets.iter().any(|(net, mask)| n & mask == *net)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_default_route_interface_address() {
        let routes = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\n\
eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\n";
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 172.17.0.1\n        /32 host LOCAL\n\
     |-- 192.168.1.10\n        /32 host LOCAL\n     |-- 127.0.0.1\n        /32 host LOCAL\n";
        assert_eq!(
            choose_address(routes, trie),
            Some(Ipv4Addr::new(192, 168, 1, 10))
        );
        assert_eq!(choose_address("Iface\n", trie), None);
    }
}
