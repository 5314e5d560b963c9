//! TLS bootstrapping, offline: what kubeadm's `bootstrap-token` phase puts into the cluster and
//! what a joining node needs (../shared/reference/csr-api.md §5).
//!
//! A [`Token`] (`[a-z0-9]{6}.[a-z0-9]{16}`), its `bootstrap-token-<id>` Secret, the RBAC
//! kubeadm creates (node bootstrapper, `kubeadm:get-nodes`, auto-approval of new node client
//! certificates and of their renewals, and the `kubeadm:cluster-admins` binding admin.conf
//! needs), the `cluster-info` ConfigMap in `kube-public` with its anonymous read access, the
//! bootstrap kubeconfig a kubelet starts with, and the `sha256:` pin of the CA's public key that
//! `kubeadm join --discovery-token-ca-cert-hash` checks. Manifests are built as data and
//! serialised (`objects.rs`), never as text templates.
//!
//! Checked against kubeadm v1.22 (`cmd/kubeadm/app/phases/bootstraptoken/{node,clusterinfo}`,
//! `apis/bootstraptoken/v1` `encodeTokenSecretData`) and the API server's bootstrap-token
//! authenticator (`ValidateBootstrapGroupName`).

mod objects;

use std::fmt;

use time::{Duration, OffsetDateTime, UtcOffset};
use x509_parser::prelude::{FromDer, X509Certificate};

pub use objects::{bootstrap_kubeconfig, manifests};

/// The group kubeadm's default node token puts its users in.
pub const DEFAULT_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// Every extra group of a bootstrap token must start with this.
pub const GROUP_PREFIX: &str = "system:bootstrappers:";
/// The user name in a bootstrap kubeconfig, as kubeadm names it.
pub const TOKEN_USER: &str = "tls-bootstrap-token-user";

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// The longest group suffix `ValidateBootstrapGroupName` accepts: `[a-z0-9:-]{0,255}[a-z0-9]`.
const MAX_GROUP_SUFFIX: usize = 256;

/// A bootstrap token: `<id>.<secret>`. The secret is never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    id: String,
    secret: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// A new random token from the kernel's CSPRNG (through aws-lc).
    pub fn generate() -> Result<Token, String> {
        let pick = |n: usize| -> Result<String, String> {
            let mut out = String::with_capacity(n);
            while out.len() < n {
                let mut b = [0u8; 32];
                aws_lc_rs::rand::fill(&mut b).map_err(|_| "no randomness".to_string())?;
                // 252 = 7 × 36: reject the rest so every character is equally likely.
                out.extend(
                    b.iter()
                        .filter(|&&x| x < 252)
                        .map(|&x| ALPHABET[(x % 36) as usize] as char)
                        .take(n - out.len()),
                );
            }
            Ok(out)
        };
        Ok(Token {
            id: pick(6)?,
            secret: pick(16)?,
        })
    }

    /// Parses `<id>.<secret>`; the error never repeats the secret.
    pub fn parse(s: &str) -> Result<Token, String> {
        let valid = |part: &str, len: usize| {
            part.len() == len && part.bytes().all(|b| ALPHABET.contains(&b))
        };
        match s.split_once('.') {
            Some((id, secret)) if valid(id, 6) && valid(secret, 16) => Ok(Token {
                id: id.into(),
                secret: secret.into(),
            }),
            _ => Err(
                "is not a bootstrap token: expected [a-z0-9]{6}.[a-z0-9]{16} (the value is not shown)"
                    .into(),
            ),
        }
    }

    /// The public half, the `bootstrap-token-<id>` Secret's name and the user
    /// `system:bootstrap:<id>`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret half, the key the bootstrapsigner signs `cluster-info` with.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `<id>.<secret>`: the credential itself.
    pub fn reveal(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }
}

/// When a token stops working: a UTC instant in whole seconds, written as Go's `time.RFC3339`
/// writes it (kubeadm's `expiration`), so it always formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiration {
    at: OffsetDateTime,
    text: String,
}

impl Expiration {
    /// `now + ttl`; `None` for a TTL of zero, a token that never expires (kubeadm's `--ttl 0`).
    pub fn after(now: OffsetDateTime, ttl: Duration) -> Result<Option<Expiration>, String> {
        if ttl.is_negative() {
            return Err("a TTL cannot be negative".into());
        }
        if ttl.is_zero() {
            return Ok(None);
        }
        let at = now
            .checked_add(ttl)
            .filter(|t| *t <= super::duration::X509_LATEST)
            .ok_or(
                "the token would expire after the year 9999 (use 0 for a token that never expires)",
            )?
            .to_offset(UtcOffset::UTC)
            .replace_nanosecond(0)
            .map_err(|e| e.to_string())?;
        let text = at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| e.to_string())?;
        Ok(Some(Expiration { at, text }))
    }

    /// The instant, UTC, in whole seconds.
    pub fn at(&self) -> OffsetDateTime {
        self.at
    }

    /// RFC 3339, `2025-01-02T03:04:05Z`.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// What the kit is made from.
#[derive(Debug, Clone)]
pub struct KitRequest {
    /// The bootstrap token.
    pub token: Token,
    /// The Secret's `expiration`; `None` for a token that does not expire.
    pub expires: Option<Expiration>,
    /// Left out of the Secret when empty, as kubeadm does.
    pub description: String,
    /// The groups (each `system:bootstrappers:...`, checked by [`check_groups`]); kubeadm's
    /// default group when empty.
    pub groups: Vec<String>,
    /// The CA file's certificates (DER), in file order: clients are told to trust all of them;
    /// the first is the one pinned.
    pub ca_chain: Vec<Vec<u8>>,
    /// The API server URL the bootstrap kubeconfig and `cluster-info` point at.
    pub server: String,
    /// The cluster's name in the bootstrap kubeconfig.
    pub cluster_name: String,
}

impl KitRequest {
    /// The groups the token authenticates as, besides `system:bootstrappers`.
    pub fn groups(&self) -> Vec<String> {
        if self.groups.is_empty() {
            vec![DEFAULT_GROUP.to_string()]
        } else {
            self.groups.clone()
        }
    }

    /// The CA bundle as PEM, every certificate of the CA file.
    pub fn ca_pem(&self) -> String {
        self.ca_chain
            .iter()
            .map(|der| super::cert::cert_pem(der))
            .collect()
    }

    /// The pin of the first CA certificate.
    pub fn pin(&self) -> Result<String, String> {
        let first = self
            .ca_chain
            .first()
            .ok_or("the CA file holds no certificate")?;
        ca_pin(first)
    }
}

/// Checks the groups as the API server does (`ValidateBootstrapGroupName`:
/// `^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$`); a token whose Secret names a bad group
/// is refused as a whole when it is used. A group given twice is refused too.
pub fn check_groups(groups: &[String]) -> Result<(), String> {
    for (n, g) in groups.iter().enumerate() {
        let rest = g.strip_prefix(GROUP_PREFIX).unwrap_or("");
        let ok = (1..=MAX_GROUP_SUFFIX).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-:".contains(&b))
            && rest
                .bytes()
                .last()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !ok {
            return Err(format!(
                "{}: a bootstrap group must be {GROUP_PREFIX}<lowercase letters, digits, '-' or \
                 ':', ending with a letter or digit, at most {MAX_GROUP_SUFFIX}>",
                super::untrusted::quote_input(g)
            ));
        }
        if groups[..n].contains(g) {
            return Err(format!("{}: given twice", super::untrusted::quote_input(g)));
        }
    }
    Ok(())
}

/// `sha256:<hex>` of the CA certificate's DER SubjectPublicKeyInfo, as `kubeadm join
/// --discovery-token-ca-cert-hash` expects it.
pub fn ca_pin(ca_der: &[u8]) -> Result<String, String> {
    let (_, cert) =
        X509Certificate::from_der(ca_der).map_err(|_| "the CA certificate does not parse")?;
    Ok(spki_pin(cert.public_key().raw))
}

/// `sha256:<hex>` of a DER SubjectPublicKeyInfo: the pin `kubeadm join` checks a CA against.
pub fn spki_pin(spki_der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki_der);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `kubeadm join <host:port> --token <token> --discovery-token-ca-cert-hash <pin>`: the line
/// `kubeadm token create --print-join-command` prints, for the server URL `server`.
pub fn join_command(server: &str, token: &Token, pin: &str) -> String {
    let endpoint = server.strip_prefix("https://").unwrap_or(server);
    format!(
        "kubeadm join {endpoint} --token {} --discovery-token-ca-cert-hash {pin}",
        token.reveal()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn tokens_are_well_formed_random_and_never_debug_printed() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(Token::parse(&a.reveal()).unwrap(), a);
        assert!(!format!("{a:?}").contains(a.secret()));
        for bad in [
            "abcdef.0123456789abcdeF",
            "abcde.0123456789abcdef",
            "abcdef0123456789abcdef",
            "abcdef.0123456789abcdef0",
            "abcdef.0123456789abcdef\n",
        ] {
            let err = Token::parse(bad).unwrap_err();
            assert!(!err.contains(bad.trim()), "{err}");
        }
    }

    #[test]
    fn groups_are_checked_as_the_api_server_does() {
        assert!(check_groups(&[DEFAULT_GROUP.into()]).is_ok());
        assert!(check_groups(&["system:bootstrappers:workers".into()]).is_ok());
        assert!(check_groups(&["system:bootstrappers:a-b:c9".into()]).is_ok());
        let longest = format!("{GROUP_PREFIX}{}", "a".repeat(MAX_GROUP_SUFFIX));
        assert!(check_groups(std::slice::from_ref(&longest)).is_ok());
        for bad in [
            "system:masters".to_string(),
            "system:bootstrappers:".into(),
            "system:bootstrappers:Caps".into(),
            "system:bootstrappers:ends-".into(),
            "system:bootstrappers:ends:".into(),
            "system:bootstrappers:sp ace".into(),
            format!("{longest}a"),
        ] {
            assert!(check_groups(std::slice::from_ref(&bad)).is_err(), "{bad}");
        }
        let twice = vec![DEFAULT_GROUP.to_string(), DEFAULT_GROUP.to_string()];
        assert!(check_groups(&twice).unwrap_err().contains("given twice"));
    }

    #[test]
    fn expirations_are_whole_utc_seconds_as_go_writes_them() {
        let now = datetime!(2025-03-04 05:06:07.891 +02:00);
        let e = Expiration::after(now, Duration::hours(24))
            .unwrap()
            .unwrap();
        assert_eq!(e.text(), "2025-03-05T03:06:07Z");
        assert_eq!(Expiration::after(now, Duration::ZERO).unwrap(), None);
        assert!(Expiration::after(now, Duration::seconds(-1)).is_err());
        assert!(Expiration::after(now, Duration::days(3_000_000)).is_err());
    }

    #[test]
    fn the_join_line_names_the_endpoint_without_its_scheme() {
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        assert_eq!(
            join_command("https://[fd00::1]:6443", &t, "sha256:00"),
            "kubeadm join [fd00::1]:6443 --token abcdef.0123456789abcdef \
             --discovery-token-ca-cert-hash sha256:00"
        );
    }
}
