//! The nodes a command is for: `--node-name`, `--node-list`, the config's
//! `nodeRegistration.name`, or this host's name.

use anyhow::Context;

use super::args::NodeArgs;
use super::settings::pick;
use crate::config::KubeadmConfig;
use crate::host;
use crate::pki::Error;
use crate::pki::names::NodeSpec;

/// The nodes named by --node-name and --node-list, else the config's nodeRegistration.name, else
/// the host's name. With `control_plane`, the nodes include the control-plane node, which the
/// config may name too (then the flags may not).
pub(super) fn node_specs(
    a: &NodeArgs,
    config: Option<&KubeadmConfig>,
    control_plane: bool,
) -> anyhow::Result<Vec<NodeSpec>> {
    let mut nodes = a.nodes.clone();
    if let Some(path) = &a.node_list {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, "read", e))
            .context("--node-list")?;
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            let mut fields = line.split_whitespace();
            let Some(name) = fields.next() else { continue };
            let spec = format!("{name}={}", fields.collect::<Vec<_>>().join(","));
            let node = spec
                .parse::<NodeSpec>()
                .map_err(|e| Error::bad_file(path, format!("line {}: {e}", i + 1)))?;
            nodes.push(node);
        }
    }
    let from_config = config.and_then(|c| c.node_name.clone());
    if !nodes.is_empty() && from_config.is_some() && control_plane {
        pick(
            Some(()),
            "--node-name",
            Some(()),
            "nodeRegistration.name",
            config,
        )?;
    }
    if nodes.is_empty() {
        let name = match from_config {
            Some(name) => name,
            None => host::node_name().ok_or_else(|| {
                Error::usage("--node-name", "no hostname to default to; pass --node-name")
            })?,
        };
        let node = name
            .parse::<NodeSpec>()
            .map_err(|e| Error::usage("--node-name", format!("{e}; pass --node-name")))?;
        nodes.push(node);
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = nodes.iter().find(|n| !seen.insert(n.name.clone())) {
        return Err(
            Error::usage("--node-name", format!("node {:?} is named twice", dup.name)).into(),
        );
    }
    Ok(nodes)
}

pub(super) fn single_node(nodes: &[NodeSpec]) -> anyhow::Result<NodeSpec> {
    match nodes {
        [one] => Ok(one.clone()),
        _ => Err(Error::usage(
            "--node-name",
            format!(
                "control-plane certificates are for one node, got {}; issue kubelet \
                 certificates for many nodes separately",
                nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .into()),
    }
}
