//! Where every file of the tree lives: the certificate directory (kubeadm's `certificatesDir`),
//! per-node directories, the kubeconfig directory, and the backups.

use std::path::{Path, PathBuf};

use super::{exists, parent};
use crate::pki::catalog::{
    self, KubeconfigPlacement, KubeconfigProfile, Profile, SERVICE_ACCOUNT_KEY_BASE, Scope,
};

/// Where per-node certificates live below the certificate directory: `kubelet/<node>/`.
pub const NODE_DIR: &str = "kubelet";
/// Where per-node kubeconfigs live below the kubeconfig directory: `nodes/<node>/`.
pub const NODE_KUBECONFIG_DIR: &str = "nodes";
/// Where the members of an etcd cluster get their certificates below the certificate directory:
/// `etcd-members/<node>/`, laid out as a certificate directory (`etcd/server.crt`, ...), so
/// that it can be copied over the member's `/etc/kubernetes/pki/` as it is.
pub const ETCD_MEMBERS_DIR: &str = "etcd-members";
/// Where replaced files are kept, below the certificate directory for PKI files and below the
/// kubeconfig directory for kubeconfigs: `kubepki-backup/<time>/`.
pub const BACKUP_DIR: &str = "kubepki-backup";
/// CA rotation's files: `<ca>.new.crt`, `<ca>.new.key`, and `ca.signing.crt`.
const ROTATION_NEW_CERT: &str = "new.crt";
const ROTATION_NEW_KEY: &str = "new.key";
const ROTATION_CROSS_CERT: &str = "cross.crt";
const SIGNING_CERT: &str = "ca.signing.crt";

/// The layout of a certificate directory (kubeadm's `certificatesDir`) and of the kubeconfig
/// directory (kubeadm's `/etc/kubernetes`).
#[derive(Debug, Clone)]
pub struct Layout {
    cert_dir: PathBuf,
    kubeconfig_dir: PathBuf,
}

impl Layout {
    /// The tree with its certificates in `cert_dir` and its kubeconfigs in `kubeconfig_dir`.
    pub fn new(cert_dir: impl Into<PathBuf>, kubeconfig_dir: impl Into<PathBuf>) -> Self {
        Layout {
            cert_dir: cert_dir.into(),
            kubeconfig_dir: kubeconfig_dir.into(),
        }
    }

    /// kubeadm keeps the PKI in `/etc/kubernetes/pki` and the kubeconfigs in `/etc/kubernetes`:
    /// by default the kubeconfig directory is the certificate directory's parent.
    pub fn default_kubeconfig_dir(cert_dir: &Path) -> PathBuf {
        super::parent_dir(cert_dir).to_path_buf()
    }

    /// The certificate directory (kubeadm's `certificatesDir`).
    pub fn cert_dir(&self) -> &Path {
        &self.cert_dir
    }

    /// The kubeconfig directory.
    pub fn kubeconfig_dir(&self) -> &Path {
        &self.kubeconfig_dir
    }

    /// Where a catalog kubeconfig goes: `<kubeconfig-dir>/<file>`, or
    /// `<kubeconfig-dir>/nodes/<node>/<file>` for a per-node one.
    pub fn kubeconfig_path(&self, profile: &KubeconfigProfile, node: &str) -> PathBuf {
        match profile.placement {
            KubeconfigPlacement::ControlPlane => self.kubeconfig_dir.join(profile.file_name),
            KubeconfigPlacement::PerNode => self
                .kubeconfig_dir
                .join(NODE_KUBECONFIG_DIR)
                .join(node)
                .join(profile.file_name),
        }
    }

    /// The path stem of a profile's files; per-node profiles live in the node's directory.
    fn stem(&self, profile: &Profile, node: &str) -> PathBuf {
        match profile.scope {
            Scope::Node => self
                .cert_dir
                .join(NODE_DIR)
                .join(node)
                .join(profile.base_name),
            Scope::EtcdMember => self.etcd_member_dir(node).join(profile.base_name),
            _ => self.cert_dir.join(profile.base_name),
        }
    }

    /// `<cert-dir>/etcd-members/<node>`: a member's own certificate directory.
    pub fn etcd_member_dir(&self, node: &str) -> PathBuf {
        self.cert_dir.join(ETCD_MEMBERS_DIR).join(node)
    }

    /// The copy of the etcd CA certificate in a member's directory, so that it is complete.
    pub fn etcd_member_ca(&self, node: &str) -> PathBuf {
        with_extension(
            self.etcd_member_dir(node).join(catalog::ETCD_CA_BASE),
            "crt",
        )
    }

    /// The request `generate-csr` writes beside a key (`<base>.csr`).
    pub fn csr_path(&self, profile: &Profile, node: &str) -> PathBuf {
        with_extension(self.stem(profile, node), "csr")
    }

    /// The request `generate-csr` writes beside a kubeconfig (`admin.conf.csr`).
    pub fn kubeconfig_csr_path(&self, profile: &KubeconfigProfile, node: &str) -> PathBuf {
        with_extension(self.kubeconfig_path(profile, node), "csr")
    }

    /// Where a catalog certificate goes (`<base>.crt`, below its node's directory for a
    /// per-node profile).
    pub fn cert_path(&self, profile: &Profile, node: &str) -> PathBuf {
        with_extension(self.stem(profile, node), "crt")
    }

    /// Where its private key goes (`<base>.key`).
    pub fn key_path(&self, profile: &Profile, node: &str) -> PathBuf {
        with_extension(self.stem(profile, node), "key")
    }

    /// `sa.key`: the key service-account tokens are signed with.
    pub fn sa_key(&self) -> PathBuf {
        self.cert_dir
            .join(format!("{SERVICE_ACCOUNT_KEY_BASE}.key"))
    }

    /// `sa.pub`: the public keys service-account tokens are verified with.
    pub fn sa_pub(&self) -> PathBuf {
        self.cert_dir
            .join(format!("{SERVICE_ACCOUNT_KEY_BASE}.pub"))
    }

    /// Service-account key rotation: the pending new signing key (`sa.new.key`), 0600.
    pub fn sa_new_key(&self) -> PathBuf {
        self.cert_dir
            .join(format!("{SERVICE_ACCOUNT_KEY_BASE}.{ROTATION_NEW_KEY}"))
    }

    /// CA rotation: the pending new CA certificate beside the CA (`ca.new.crt`, `etcd/ca.new.crt`).
    pub fn rotation_new_cert(&self, ca: &Profile) -> PathBuf {
        with_extension(self.stem(ca, ""), ROTATION_NEW_CERT)
    }

    /// CA rotation: the pending new CA key (`ca.new.key`), 0600.
    pub fn rotation_new_key(&self, ca: &Profile) -> PathBuf {
        with_extension(self.stem(ca, ""), ROTATION_NEW_KEY)
    }

    /// CA rotation with `--cross-sign`: the new CA cross-signed by the old one (`ca.cross.crt`).
    pub fn rotation_cross_cert(&self, ca: &Profile) -> PathBuf {
        with_extension(self.stem(ca, ""), ROTATION_CROSS_CERT)
    }

    /// The single certificate kube-controller-manager's `--cluster-signing-cert-file` reads
    /// while `ca.crt` is a bundle: `ca.signing.crt`.
    pub fn signing_cert(&self) -> PathBuf {
        self.cert_dir.join(SIGNING_CERT)
    }

    /// `stamp`, or `stamp-2`, `stamp-3`, ... : the first name no backup directory uses yet.
    pub fn unique_backup_stamp(&self, stamp: &str) -> String {
        let taken = |s: &str| {
            exists(&self.cert_dir.join(BACKUP_DIR).join(s))
                || exists(&self.kubeconfig_dir.join(BACKUP_DIR).join(s))
        };
        let mut candidate = stamp.to_string();
        let mut n = 1;
        while taken(&candidate) {
            n += 1;
            candidate = format!("{stamp}-{n}");
        }
        candidate
    }

    /// Where a file replaced in the run stamped `stamp` is kept: below the certificate
    /// directory, the kubeconfig directory, or (for a file elsewhere) the file's own directory,
    /// with its path relative to that root.
    pub fn backup_path(&self, stamp: &str, file: &Path) -> PathBuf {
        let (root, relative) = if let Ok(rel) = file.strip_prefix(&self.cert_dir) {
            (self.cert_dir.as_path(), rel)
        } else if let Ok(rel) = file.strip_prefix(&self.kubeconfig_dir) {
            (self.kubeconfig_dir.as_path(), rel)
        } else {
            (
                parent(file),
                Path::new(file.file_name().unwrap_or_default()),
            )
        };
        root.join(BACKUP_DIR).join(stamp).join(relative)
    }
}

// `Path::with_extension` would cut "etcd/ca" fine but also a node name with dots; append instead.
fn with_extension(stem: PathBuf, ext: &str) -> PathBuf {
    let mut s = stem.into_os_string();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Whether `relative` (below the certificate or kubeconfig directory) is a file kubepki writes:
/// a catalog certificate, key or request (`.csr`), `sa.key`/`sa.pub`/`sa.new.key`, a per-node
/// certificate or key (`kubelet/<node>/...`), an etcd member's (`etcd-members/<node>/etcd/...`, with its copy of
/// the etcd CA), one of kubeadm's kubeconfigs or its request (`admin.conf.csr`), or a per-node
/// kubeconfig (`nodes/<node>/kubelet.conf`). Journals and the sweep of temporaries touch nothing
/// else.
pub fn is_kubepki_file(relative: &Path) -> bool {
    // Called for every file of a batch and of the sweep (4,000 for 1,000 nodes): names are
    // compared in place, without building each candidate name as a string.
    let mut parts: Vec<&str> = Vec::with_capacity(4);
    for c in relative.components() {
        match c {
            std::path::Component::Normal(s) => match s.to_str() {
                Some(s) => parts.push(s),
                None => return false,
            },
            _ => return false,
        }
    }
    if parts.is_empty() {
        return false;
    }
    let joined = parts.join("/");
    let joined = joined.as_str();
    const CERT_KEY: &[&str] = &["crt", "key"];
    if parts.len() == 3
        && parts[0] == NODE_DIR
        && catalog::node_leaves().any(|p| named(parts[2], p.base_name, CERT_KEY))
    {
        return true;
    }
    if parts.len() > 2 && parts[0] == ETCD_MEMBERS_DIR {
        let inside = parts[2..].join("/");
        if catalog::etcd_member_leaves().any(|p| named(&inside, p.base_name, CERT_KEY))
            || named(&inside, catalog::ETCD_CA_BASE, &["crt"])
        {
            return true;
        }
    }
    let catalog_file = || {
        catalog::CATALOG
            .iter()
            .filter(|p| !p.per_node())
            .any(|p| named(joined, p.base_name, &["crt", "key", "csr"]))
    };
    let sa = || {
        named(
            joined,
            SERVICE_ACCOUNT_KEY_BASE,
            &["key", "pub", ROTATION_NEW_KEY],
        )
    };
    let kubeconfig = || {
        catalog::KUBECONFIGS.iter().any(|k| match k.placement {
            KubeconfigPlacement::ControlPlane => {
                joined == k.file_name || named(joined, k.file_name, &["csr"])
            }
            KubeconfigPlacement::PerNode => {
                parts.len() == 3 && parts[0] == NODE_KUBECONFIG_DIR && parts[2] == k.file_name
            }
        })
    };
    let rotation = || {
        joined == SIGNING_CERT
            || catalog::authorities().any(|p| {
                let rotated = [ROTATION_NEW_CERT, ROTATION_NEW_KEY, ROTATION_CROSS_CERT];
                named(joined, p.base_name, &rotated)
            })
    };
    catalog_file() || sa() || kubeconfig() || rotation()
}

/// Whether `name` is `<base>.<ext>` for one of `exts`.
fn named(name: &str, base: &str, exts: &[&str]) -> bool {
    name.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|ext| exts.contains(&ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The implementation before names were compared in place (it built every candidate name
    /// as a string), kept to check the faster one against.
    fn reference(relative: &Path) -> bool {
        let parts: Vec<&str> = relative
            .components()
            .map(|c| match c {
                std::path::Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default();
        if parts.is_empty() {
            return false;
        }
        let joined = parts.join("/");
        let with_ext = |base: &str| [format!("{base}.crt"), format!("{base}.key")];
        let catalog_file = catalog::CATALOG.iter().filter(|p| !p.per_node()).any(|p| {
            with_ext(p.base_name).contains(&joined) || joined == format!("{}.csr", p.base_name)
        });
        let sa = [
            format!("{SERVICE_ACCOUNT_KEY_BASE}.key"),
            format!("{SERVICE_ACCOUNT_KEY_BASE}.pub"),
            format!("{SERVICE_ACCOUNT_KEY_BASE}.{ROTATION_NEW_KEY}"),
        ]
        .contains(&joined);
        let kubeconfig = catalog::KUBECONFIGS.iter().any(|k| match k.placement {
            KubeconfigPlacement::ControlPlane => {
                joined == k.file_name || joined == format!("{}.csr", k.file_name)
            }
            KubeconfigPlacement::PerNode => {
                parts.len() == 3 && parts[0] == NODE_KUBECONFIG_DIR && parts[2] == k.file_name
            }
        });
        let node_file = parts.len() == 3
            && parts[0] == NODE_DIR
            && catalog::node_leaves()
                .any(|p| with_ext(p.base_name).contains(&parts[2].to_string()));
        let member_file = parts.len() > 2 && parts[0] == ETCD_MEMBERS_DIR && {
            let inside = parts[2..].join("/");
            catalog::etcd_member_leaves().any(|p| with_ext(p.base_name).contains(&inside))
                || inside == format!("{}.crt", catalog::ETCD_CA_BASE)
        };
        let rotation = joined == SIGNING_CERT
            || catalog::authorities().any(|p| {
                [ROTATION_NEW_CERT, ROTATION_NEW_KEY, ROTATION_CROSS_CERT]
                    .iter()
                    .any(|ext| joined == format!("{}.{ext}", p.base_name))
            });
        catalog_file || sa || kubeconfig || node_file || member_file || rotation
    }

    #[test]
    fn the_in_place_comparison_decides_as_the_reference_did() {
        let mut names: Vec<String> = Vec::new();
        let exts = [
            "crt",
            "key",
            "csr",
            "pub",
            "conf",
            "new.crt",
            "new.key",
            "cross.crt",
            "tmp",
        ];
        let mut bases: Vec<&str> = catalog::CATALOG.iter().map(|p| p.base_name).collect();
        bases.extend(["sa", "ca.signing", "etcd", "kubelet", "x", ""]);
        bases.extend(catalog::KUBECONFIGS.iter().map(|k| k.file_name));
        for base in &bases {
            names.push((*base).to_string());
            for ext in exts {
                names.push(format!("{base}.{ext}"));
            }
        }
        let mut paths = Vec::new();
        for name in &names {
            for prefix in [
                "",
                "kubelet/n1/",
                "kubelet/",
                "kubelet/n1/x/",
                "etcd-members/m1/",
                "etcd-members/m1/etcd/",
                "etcd-members/",
                "nodes/w1/",
                "nodes/",
                "./",
                "../",
                "/",
            ] {
                paths.push(format!("{prefix}{name}"));
            }
        }
        paths.extend(
            [
                "",
                ".",
                "ca.crt/",
                "ca..crt",
                "etcd//ca.crt",
                "etcd/./ca.crt",
            ]
            .map(String::from),
        );
        let mut ours = 0;
        for path in &paths {
            let (new, old) = (is_kubepki_file(Path::new(path)), reference(Path::new(path)));
            assert_eq!(new, old, "{path:?}");
            ours += usize::from(new);
        }
        assert!(
            ours > 50,
            "the cases cover kubepki's files too ({ours} of {})",
            paths.len()
        );
    }

    #[test]
    fn requests_and_etcd_members_are_kubepki_files() {
        for ours in [
            "apiserver.csr",
            "etcd/server.csr",
            "admin.conf.csr",
            "etcd-members/m1/etcd/server.key",
            "etcd-members/m1/etcd/peer.crt",
            "etcd-members/m1/etcd/ca.crt",
        ] {
            assert!(is_kubepki_file(Path::new(ours)), "{ours}");
        }
        for theirs in [
            "notes.csr",
            "etcd-members/m1/etcd/ca.key",
            "etcd-members/m1/server.crt",
            "etcd-members/etcd/server.crt",
            "nodes/w1/kubelet.conf.csr",
        ] {
            assert!(!is_kubepki_file(Path::new(theirs)), "{theirs}");
        }
        let layout = Layout::new("/pki", "/k");
        let member = catalog::find("etcd-member-peer").unwrap();
        assert_eq!(
            layout.cert_path(member, "m2"),
            Path::new("/pki/etcd-members/m2/etcd/peer.crt")
        );
        assert_eq!(
            layout.etcd_member_ca("m2"),
            Path::new("/pki/etcd-members/m2/etcd/ca.crt")
        );
    }
}
