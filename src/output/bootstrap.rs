//! The report of `bootstrap-token`: the files, the token, the CA pin and the join line, for
//! people (text) and scripts (JSON, YAML: the same facts as data).
//!
//! The token is printed: it is what the command is for, as `kubeadm token create` prints it.

use std::io::Write;

use serde::Serialize;

use super::OutputFormat;
use crate::pki::plan::{Action, Decision, KitReport};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    dry_run: bool,
    #[serde(flatten)]
    decision: &'a Decision,
    #[serde(flatten)]
    kit: &'a KitReport,
    join_command: String,
}

/// Prints what a `bootstrap-token` run did (or, with `dry_run`, would do).
pub fn print(
    decision: &Decision,
    kit: &KitReport,
    dry_run: bool,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let doc = Document {
        dry_run,
        decision,
        kit,
        join_command: kit.join_command(),
    };
    let text = match format {
        OutputFormat::Json | OutputFormat::Yaml => super::serialize(&doc, format)?,
        OutputFormat::Text => text(&doc),
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}

fn text(doc: &Document<'_>) -> String {
    let d = doc.decision;
    let kit = doc.kit;
    let (tag, verb) = match (doc.dry_run, d.action) {
        (true, Action::Reuse) => ("[dry-run]", "would reuse"),
        (true, Action::Replace) => ("[dry-run]", "would replace"),
        (true, _) => ("[dry-run]", "would create"),
        (false, a) => ("[bootstrap-token]", a.past_tense()),
    };
    let mut s = String::new();
    let manifests = kit.manifests.display();
    let kubeconfig = kit.kubeconfig.display();
    s += &format!(
        "{tag} {verb} {manifests} (0600): the token Secret, kubeadm's bootstrap RBAC, \
         cluster-info\n"
    );
    s += &format!("{tag} {verb} {kubeconfig} (0600): the kubelet's --bootstrap-kubeconfig\n");
    if d.action != Action::Create {
        s += &format!("{tag} {}\n", d.reason);
    }
    let expires = kit
        .expiration
        .as_ref()
        .map_or("never".to_string(), |e| e.text().to_string());
    s += &format!("token:    {}\n", kit.token.reveal());
    s += &format!("expires:  {expires}\n");
    s += &format!("groups:   {}\n", kit.groups.join(", "));
    s += &format!("server:   {}\n", kit.server);
    s += &format!("CA pin:   {}\n", kit.ca_cert_hash);
    if doc.dry_run {
        s += "[dry-run] nothing was written\n";
        return s;
    }
    s += &format!(
        "Apply the manifests as a cluster admin:\n  kubectl apply -f {manifests}\nthen join a node \
         with kubeadm:\n  {}\nor give its kubelet {kubeconfig} as --bootstrap-kubeconfig.\nThe \
         token is a credential: keep both files 0600 and delete them once nodes have joined.\n",
        doc.join_command
    );
    s
}
