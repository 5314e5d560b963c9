//! The nodes a command is for: `--node-name`, `--node-list`, the config's
//! `nodeRegistration.name`, or this host's name.

use super::args::NodeArgs;
use super::settings::pick;
use crate::config::KubeadmConfig;
use crate::host;
use crate::pki::Error;
use crate::pki::names::{self, NodeSpec};

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
        let text = match crate::pki::store::read_file(path) {
            Ok(Some(data)) => String::from_utf8(data.bytes).map_err(|_| {
                Error::usage(
                    "--node-list",
                    format!("{} is not UTF-8 text", path.display()),
                )
            })?,
            Ok(None) => {
                return Err(Error::usage(
                    "--node-list",
                    format!("{} does not exist", path.display()),
                )
                .into());
            }
            Err(e) => return Err(anyhow::Error::from(e).context("--node-list")),
        };
        let listed = names::parse_node_list(&text)
            .map_err(|e| Error::usage("--node-list", format!("{}: {e}", path.display())))?;
        nodes.extend(listed);
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
