//! `--explain`: a plan as the bash script that makes the same files with openssl and kubectl, the
//! way the Kubernetes docs' walkthroughs do, with a comment per step saying why. Generated from
//! the same plan kubepki would execute, so the script shows exactly the subjects, SANs, usages and
//! validity kubepki would write.

use std::fmt::Write as _;
use std::path::Path;

use crate::pki::catalog;
use crate::pki::cert::CertSpec;
use crate::pki::keys::KeyAlgorithm;
use crate::pki::plan::{Making, Plan, PlanItem};
use crate::pki::store::Layout;

/// The script for `plan`, run from the directory kubepki was run from.
pub fn script(plan: &Plan, layout: &Layout, command: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "#!/usr/bin/env bash\n# What `kubepki {command}` would do, with openssl and kubectl, as the \
         Kubernetes docs teach it.\n# Generated from kubepki's own plan: the same subjects, SANs, \
         usages and validity.\nset -euo pipefail\n# Keys and kubeconfigs must never be readable by \
         others, not even for a moment.\numask 077\nwork=$(mktemp -d)   # CSRs and extension \
         files, removed at the end\ntrap 'rm -rf \"$work\"' EXIT\n"
    );
    for item in &plan.items {
        explain(&mut s, item, layout);
    }
    s += "echo done\n";
    s
}

fn q(p: &Path) -> String {
    shell_quote(&p.display().to_string())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn explain(s: &mut String, item: &PlanItem, layout: &Layout) {
    let d = &item.decision;
    match item.making() {
        Making::Nothing => {
            let _ = writeln!(
                s,
                "# {} {}: kept as it is ({}).\n",
                d.name,
                d.kind.label(),
                d.reason
            );
        }
        Making::Cert {
            signer,
            cert,
            key,
            new_key,
        } => {
            let (Some(spec), Some(alg)) = (&item.spec, item.key_algorithm) else {
                return;
            };
            let _ = writeln!(s, "# --- {}: {}", d.name, role(&d.name));
            mkdir(s, cert);
            if new_key {
                genkey(s, alg, key);
            }
            match signer {
                None => self_signed(s, spec, alg, key, cert),
                Some(ca) => signed(s, spec, alg, key, cert, ca, layout, &d.name),
            }
            let _ = writeln!(s, "chmod 644 {}\n", q(cert));
        }
        Making::KeyPair { key, public } => {
            let Some(alg) = item.key_algorithm else {
                return;
            };
            let _ = writeln!(
                s,
                "# --- the service-account key pair: kube-apiserver signs tokens with sa.key \
                 (--service-account-signing-key-file) and checks them with sa.pub \
                 (--service-account-key-file). Not a certificate."
            );
            mkdir(s, key);
            genkey(s, alg, key);
            pubkey(s, alg, key, public);
        }
        Making::PublicKey { public } => {
            let key = public.with_extension("key");
            let alg = item.key_algorithm.unwrap_or(KeyAlgorithm::DEFAULT);
            let _ = writeln!(s, "# --- sa.pub is missing: derive it from sa.key.");
            pubkey(s, alg, &key, public);
        }
        Making::Kubeconfig {
            dest,
            server,
            cluster_name,
        } => {
            let (Some(spec), Some(alg)) = (&item.spec, item.key_algorithm) else {
                return;
            };
            let Some(dest) = dest else {
                let _ = writeln!(
                    s,
                    "# {}: printed to stdout by kubepki; not scripted.\n",
                    d.name
                );
                return;
            };
            let _ = writeln!(
                s,
                "# --- {}: a client certificate for {} signed by the cluster CA, embedded in a \
                 kubeconfig with the CA and the server ({server}).",
                dest.display(),
                subject(spec)
            );
            let base = format!("$work/{}", d.name.replace('/', "_"));
            let key = Path::new(&base).with_extension("key");
            let crt = Path::new(&base).with_extension("crt");
            genkey(s, alg, &key);
            signed(
                s,
                spec,
                alg,
                &key,
                &crt,
                catalog::KUBECONFIG_CA,
                layout,
                &d.name,
            );
            let ca = catalog::find(catalog::KUBECONFIG_CA).map(|p| layout.cert_path(p, ""));
            let ca = ca.as_deref().map(q).unwrap_or_default();
            let user = shell_quote(&spec.common_name);
            let context = shell_quote(&format!("{}@{cluster_name}", spec.common_name));
            let cluster = shell_quote(cluster_name);
            let conf = q(dest);
            mkdir(s, dest);
            let _ = writeln!(
                s,
                "kubectl config set-cluster {cluster} --server={} --certificate-authority={ca} \
                 --embed-certs=true --kubeconfig={conf} >/dev/null\nkubectl config set-credentials \
                 {user} --client-certificate=\"{}\" --client-key=\"{}\" --embed-certs=true \
                 --kubeconfig={conf} >/dev/null\nkubectl config set-context {context} \
                 --cluster={cluster} --user={user} --kubeconfig={conf} >/dev/null\nkubectl config \
                 use-context {context} --kubeconfig={conf} >/dev/null\n",
                shell_quote(server),
                crt.display(),
                key.display()
            );
        }
        Making::RenewKubeconfig { path } => {
            let (Some(spec), Some(alg)) = (&item.spec, item.key_algorithm) else {
                return;
            };
            let _ = writeln!(
                s,
                "# --- {}: a new client key and certificate, same identity, replacing the ones \
                 embedded in it (everything else in the file is kept).",
                path.display()
            );
            let key = Path::new("$work/renew.key");
            let crt = Path::new("$work/renew.crt");
            genkey(s, alg, key);
            signed(
                s,
                spec,
                alg,
                key,
                crt,
                catalog::KUBECONFIG_CA,
                layout,
                &d.name,
            );
            let _ = writeln!(
                s,
                "kubectl config set-credentials {} --client-certificate=\"{}\" --client-key=\"{}\" \
                 --embed-certs=true --kubeconfig={} >/dev/null\n",
                shell_quote(&spec.common_name),
                crt.display(),
                key.display(),
                q(path)
            );
        }
        Making::KeyAndRequest { key, csr, spec } => {
            let Some(alg) = item.key_algorithm else {
                return;
            };
            let _ = writeln!(
                s,
                "# --- a new key and a request (PKCS#10) for {}: the request carries the subject \
                 and SANs; the signer decides the usages.",
                subject_of(&spec.common_name, &spec.organizations)
            );
            mkdir(s, key);
            genkey(s, alg, key);
            let sans = san_list(&spec.alt_names);
            let addext = if sans.is_empty() {
                String::new()
            } else {
                format!(
                    " -addext {}",
                    shell_quote(&format!("subjectAltName={sans}"))
                )
            };
            let _ = writeln!(
                s,
                "openssl req -new -key {} -subj {}{addext} -out {}\nchmod 644 {}\n",
                q(key),
                shell_quote(&subject_of(&spec.common_name, &spec.organizations)),
                q(csr),
                q(csr)
            );
        }
        Making::SignRequest { signer, dest } => {
            let (Some(spec), Some(alg)) = (&item.spec, item.key_algorithm) else {
                return;
            };
            let Some(ca) = catalog::find(signer) else {
                return;
            };
            let out = dest.map(q).unwrap_or_else(|| "/dev/stdout".into());
            let _ = writeln!(
                s,
                "# --- sign the request in $CSR with the {} CA: subject and SANs from the request, \
                 usages from the profile only, CA:FALSE, {} days.\nCSR=${{CSR:?set CSR to the \
                 request file}}\ncat > \"$work/ext\" <<'EOF'\n{}authorityKeyIdentifier = keyid\nEOF\n\
                 openssl x509 -req -in \"$CSR\" -CA {} -CAkey {} -set_serial \"0x$(openssl rand -hex 8)\" \
                 -days {} {} -extfile \"$work/ext\" -out {out}\n",
                ca.name,
                days(spec),
                extensions(spec, alg),
                q(&layout.cert_path(ca, "")),
                q(&layout.key_path(ca, "")),
                days(spec),
                digest(alg)
            );
        }
        Making::Other => {
            let _ = writeln!(
                s,
                "# {}: no openssl equivalent is generated for this step.\n",
                d.name
            );
        }
    }
}

fn role(name: &str) -> String {
    catalog::find(name)
        .map(|p| p.long_name.to_string())
        .unwrap_or_else(|| "a kubeconfig".into())
}

fn mkdir(s: &mut String, file: &Path) {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = writeln!(s, "mkdir -p {} && chmod 755 {}", q(dir), q(dir));
    }
}

fn genkey(s: &mut String, alg: KeyAlgorithm, key: &Path) {
    let k = if key.starts_with("$work") {
        format!("\"{}\"", key.display())
    } else {
        q(key)
    };
    let cmd = match alg {
        // PKCS#1 (`RSA PRIVATE KEY`), as kubeadm writes RSA keys.
        KeyAlgorithm::Rsa(bits) => {
            format!("openssl genrsa -traditional -out {k} {bits} 2>/dev/null")
        }
        // SEC1 (`EC PRIVATE KEY`) with the named curve, as kubeadm writes ECDSA keys.
        KeyAlgorithm::EcdsaP256 => {
            format!("openssl ecparam -name prime256v1 -genkey -noout -out {k}")
        }
        KeyAlgorithm::EcdsaP384 => {
            format!("openssl ecparam -name secp384r1 -genkey -noout -out {k}")
        }
        KeyAlgorithm::Ed25519 => format!("openssl genpkey -algorithm ed25519 -out {k}"),
    };
    let _ = writeln!(s, "# A new {alg} key, kept 0600 (umask).\n{cmd}");
}

fn pubkey(s: &mut String, alg: KeyAlgorithm, key: &Path, public: &Path) {
    let tool = if alg.is_rsa() { "rsa" } else { "ec" };
    let _ = writeln!(
        s,
        "openssl {tool} -in {} -pubout -out {} 2>/dev/null && chmod 644 {}\n",
        q(key),
        q(public),
        q(public)
    );
}

/// `/O=a/O=b/CN=c`, as `openssl req -subj` takes it (O before CN, as Go orders them).
fn subject(spec: &CertSpec) -> String {
    subject_of(&spec.common_name, &spec.organizations)
}

fn subject_of(common_name: &str, organizations: &[String]) -> String {
    let esc = |v: &str| v.replace('\\', r"\\").replace('/', r"\/");
    let mut s: String = organizations
        .iter()
        .map(|o| format!("/O={}", esc(o)))
        .collect();
    s += &format!("/CN={}", esc(common_name));
    s
}

/// `DNS:a,IP:b,URI:c,email:d`, as openssl's subjectAltName takes them.
fn san_list(a: &crate::pki::names::AltNames) -> String {
    crate::pki::identity::san_list(a)
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn days(spec: &CertSpec) -> i64 {
    // kubepki backdates NotBefore 5 minutes for clock skew; openssl starts now.
    let whole = spec.not_after - spec.not_before - time::Duration::minutes(5);
    (whole.whole_seconds() + 86_399) / 86_400
}

fn digest(alg: KeyAlgorithm) -> &'static str {
    match alg {
        KeyAlgorithm::EcdsaP384 => "-sha384",
        KeyAlgorithm::Ed25519 => "",
        _ => "-sha256",
    }
}

fn extensions(spec: &CertSpec, alg: KeyAlgorithm) -> String {
    let mut ku = vec!["digitalSignature"];
    if alg.is_rsa() {
        // RFC 8813: keyEncipherment means something only for RSA keys.
        ku.push("keyEncipherment");
    }
    if spec.is_ca {
        ku.push("keyCertSign");
    }
    let mut e = format!(
        "basicConstraints = critical,CA:{}\nkeyUsage = critical,{}\nsubjectKeyIdentifier = hash\n",
        if spec.is_ca { "TRUE" } else { "FALSE" },
        ku.join(",")
    );
    if !spec.usages.is_empty() {
        let eku: Vec<&str> = spec
            .usages
            .iter()
            .map(|u| match u {
                catalog::ExtUsage::ServerAuth => "serverAuth",
                catalog::ExtUsage::ClientAuth => "clientAuth",
            })
            .collect();
        e += &format!("extendedKeyUsage = {}\n", eku.join(","));
    }
    let sans = san_list(&spec.alt_names);
    if !sans.is_empty() {
        e += &format!("subjectAltName = {sans}\n");
    }
    e
}

fn self_signed(s: &mut String, spec: &CertSpec, alg: KeyAlgorithm, key: &Path, cert: &Path) {
    let _ = writeln!(
        s,
        "# A self-signed CA: CA:TRUE, keyCertSign, its own name as SAN, {} days.\ncat > \"$work/ext\" \
         <<'EOF'\n[req]\ndistinguished_name = dn\n[dn]\n[v3_ca]\n{}EOF\nopenssl req -x509 -new -key {} \
         -subj {} -days {} {} -config \"$work/ext\" -extensions v3_ca -out {}",
        days(spec),
        extensions(spec, alg),
        q(key),
        shell_quote(&subject(spec)),
        days(spec),
        digest(alg),
        q(cert)
    );
}

#[allow(clippy::too_many_arguments)]
fn signed(
    s: &mut String,
    spec: &CertSpec,
    alg: KeyAlgorithm,
    key: &Path,
    cert: &Path,
    ca: &str,
    layout: &Layout,
    name: &str,
) {
    let Some(ca) = catalog::find(ca) else { return };
    let quote = |p: &Path| {
        if p.starts_with("$work") {
            format!("\"{}\"", p.display())
        } else {
            q(p)
        }
    };
    let csr = format!("\"$work/{}.csr\"", name.replace('/', "_"));
    let _ = writeln!(
        s,
        "# A request for {} (the CA, not the request, decides the usages), then the {} CA's \
         signature with the role's extensions, for {} days.\nopenssl req -new -key {} -subj {} -out \
         {csr}\ncat > \"$work/ext\" <<'EOF'\n{}authorityKeyIdentifier = keyid\nEOF\nopenssl x509 -req \
         -in {csr} -CA {} -CAkey {} -set_serial \"0x$(openssl rand -hex 8)\" -days {} {} -extfile \
         \"$work/ext\" -out {} 2>/dev/null",
        subject(spec),
        ca.name,
        days(spec),
        quote(key),
        shell_quote(&subject(spec)),
        extensions(spec, alg),
        q(&layout.cert_path(ca, "")),
        q(&layout.key_path(ca, "")),
        days(spec),
        digest(alg),
        quote(cert)
    );
}
