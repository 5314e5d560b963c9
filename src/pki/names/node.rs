//! Nodes: `NAME[=ADDR,...]` as `--node-name` takes it, node list files (`--node-list`), and the
//! subject values (`--client-name`, `--org`) a certificate is issued for.

use std::str::FromStr;

use super::san::{San, validate_dns_name};
use crate::pki::untrusted::quote_input;

/// A node to issue per-node certificates for: its name and the extra addresses its kubelet
/// serving certificate must carry. Written `NAME` or `NAME=ADDR[,ADDR...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// The node's name, a DNS-1123 subdomain, as its certificates' CN (`system:node:<name>`)
    /// and SANs carry it.
    pub name: String,
    /// The extra IPs and DNS names of its kubelet serving certificate (after the `=`).
    pub addresses: Vec<San>,
}

impl FromStr for NodeSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, addrs) = match s.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a)),
            None => (s.trim(), None),
        };
        // With addresses, the message names the whole value as well as the part at fault.
        let context = if addrs.is_some() {
            format!("{}: ", quote_input(s))
        } else {
            String::new()
        };
        validate_dns_name(name, false).map_err(|e| {
            format!(
                "{context}node name {}",
                e.replace(
                    " is neither an IP address nor a valid DNS name",
                    " is not a valid node name"
                )
            )
        })?;
        let addresses = addrs
            .map(|a| {
                a.split(',')
                    .filter(|x| !x.trim().is_empty())
                    .map(|x| x.parse::<San>().map_err(|e| format!("{context}{e}")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(NodeSpec {
            name: name.to_string(),
            addresses,
        })
    }
}

/// Parses a node list file (`--node-list`): one node per line, `NAME [ADDR...]` with the
/// addresses separated by spaces or commas (or `NAME=ADDR,...` as `--node-name` takes it); `#`
/// starts a comment, blank lines are skipped. Errors start with `line N:`; a node named twice and
/// a list without any node are errors too. The caller names the file.
pub fn parse_node_list(text: &str) -> Result<Vec<NodeSpec>, String> {
    let mut nodes: Vec<(NodeSpec, usize)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let line = line.split('#').next().unwrap_or("").trim();
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        let mut node = first
            .parse::<NodeSpec>()
            .map_err(|e| format!("line {number}: {e}"))?;
        for field in fields {
            for address in field.split(',').filter(|a| !a.is_empty()) {
                node.addresses.push(
                    address
                        .parse::<San>()
                        .map_err(|e| format!("line {number}: node {:?}: {e}", node.name))?,
                );
            }
        }
        if let Some((_, first_line)) = nodes.iter().find(|(n, _)| n.name == node.name) {
            return Err(format!(
                "line {number}: node {:?} is already listed on line {first_line}",
                node.name
            ));
        }
        nodes.push((node, number));
    }
    if nodes.is_empty() {
        return Err("lists no nodes (every line is blank or a comment)".into());
    }
    Ok(nodes.into_iter().map(|(n, _)| n).collect())
}

/// Checks a subject value the user gives for a certificate (`--client-name` as the CN, `--org`
/// as an O): not empty, no control characters (a newline in a name forges output lines and
/// breaks RBAC group matching), at most 64 characters (X.520's ub-common-name and
/// ub-organization-name, which count characters, not bytes).
pub fn validate_subject_value(s: &str) -> Result<(), String> {
    const UPPER_BOUND: usize = 64;
    let why = if s.trim().is_empty() {
        "is empty".to_string()
    } else if s.chars().any(char::is_control) {
        "holds a control character".to_string()
    } else if s.chars().count() > UPPER_BOUND {
        format!(
            "is longer than {UPPER_BOUND} characters (X.520's upper bound for a common name or \
             organization)"
        )
    } else {
        return Ok(());
    };
    Err(format!("{} {why}", quote_input(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sans_and_node_names_are_validated() {
        assert!("*.example.com".parse::<San>().is_ok());
        assert!("foo_bar".parse::<San>().is_err());
        assert!("UPPER.example".parse::<San>().is_err());
        assert!(
            "1.2.3.4.5".parse::<San>().is_err()
                || matches!("1.2.3.4.5".parse::<San>(), Ok(San::Dns(_)))
        );
        assert!("../etc".parse::<NodeSpec>().is_err());
        let n: NodeSpec = "worker-1=10.0.0.11,fd00::11,worker-1.lan".parse().unwrap();
        assert_eq!(n.addresses.len(), 3);
        assert!("worker-1=not_an_ip".parse::<NodeSpec>().is_err());
    }

    #[test]
    fn node_lists() {
        let text = "\
# nodes of rack 1
worker-1 10.0.0.11 fd00::11
worker-2 10.0.0.12,worker-2.lan   # trailing comment

worker-3
worker-4=10.0.0.14
";
        let nodes = parse_node_list(text).unwrap();
        let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["worker-1", "worker-2", "worker-3", "worker-4"]);
        assert_eq!(nodes[0].addresses.len(), 2);
        assert_eq!(
            nodes[1].addresses,
            [
                San::Ip("10.0.0.12".parse().unwrap()),
                San::Dns("worker-2.lan".into())
            ]
        );
        assert!(nodes[2].addresses.is_empty());
        assert_eq!(nodes[3].addresses.len(), 1);
        // CRLF line ends are fine.
        assert_eq!(parse_node_list("a\r\nb\r\n").unwrap().len(), 2);

        for (text, want) in [
            ("worker-1\nWorker_2\n", "line 2:"),
            ("worker-1\n\nworker-2 not_an_ip\n", "line 3:"),
            (
                "worker-1\nworker-1 10.0.0.1\n",
                "line 2: node \"worker-1\" is already listed on line 1",
            ),
            ("a\u{7}b\n", "line 1:"),
            ("ok\nbad\u{1b}[31m 10.0.0.1\n", "line 2:"),
        ] {
            let err = parse_node_list(text).unwrap_err();
            assert!(err.starts_with(want), "{text:?}: {err}");
            assert!(!err.chars().any(char::is_control), "{err:?}");
        }
        for empty in ["", "\n\n", "# only comments\n   # more\n"] {
            let err = parse_node_list(empty).unwrap_err();
            assert!(err.contains("lists no nodes"), "{err}");
        }
    }

    #[test]
    fn subject_values() {
        for ok in [
            "jane",
            "system:masters",
            "ops team",
            "ünïcödé",
            &"x".repeat(64),
        ] {
            validate_subject_value(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
        }
        // 64 characters, more than 64 bytes: X.520 counts characters.
        validate_subject_value(&"é".repeat(64)).unwrap();
        for (bad, why) in [
            ("", "empty"),
            ("   ", "empty"),
            ("jane\n[certs] renewed FAKE", "control character"),
            ("a\tb", "control character"),
            ("a\u{7f}b", "control character"),
            ("a\u{85}b", "control character"),
            (&"x".repeat(65), "longer than 64"),
        ] {
            let err = validate_subject_value(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(!err.chars().any(char::is_control), "{err:?}");
        }
    }
}
