//! Messages about untrusted input: quoting what the user typed, and deciding whether a value read
//! from a file may be shown.
//!
//! kubepki reads files other people can write, as root. A message may name the file, the field
//! path, the line and the kind of problem, never the file's content: a private key pasted into the
//! wrong place must not end up on stderr, in a CI log or in `-o json`. Values the user typed on
//! the command line are theirs and are quoted (escaped, so a newline cannot forge an output line).

/// How many characters of a flag value a message quotes before it abbreviates.
const QUOTE_LIMIT: usize = 64;

/// A value the user typed, quoted and escaped as Rust's `{:?}` does (so control characters
/// cannot forge output lines); a value longer than 64 characters is cut, with its length.
///
/// Every error of a flag parser starts with (or contains) this, so the user sees which value is
/// at fault.
pub fn quote_input(s: &str) -> String {
    let count = s.chars().count();
    if count <= QUOTE_LIMIT {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(QUOTE_LIMIT).collect();
        format!("{head:?}... ({count} characters)")
    }
}

/// A bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`), a secret that would pass as a name.
fn is_bootstrap_token(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    b.len() == 23 && b[6] == b'.' && b[..6].iter().all(ok) && b[7..].iter().all(ok)
}

/// Whether a name read from an untrusted file (a field name, a kind) looks like an identifier
/// and so may be named in a message: 1 to 40 characters of `[A-Za-z0-9_.-]`, starting with a
/// letter, and not shaped like a bootstrap token. A pasted key or token is none of these.
pub fn is_identifier(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.as_bytes()[0].is_ascii_alphabetic()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !is_bootstrap_token(s)
}

/// Whether a short value read from an untrusted file (an apiVersion, a kubeconfig context name,
/// a CIDR, a DNS name, a duration) may be quoted in a message: at most 100 characters, none of
/// them whitespace, control or base64 padding/`+` (what pasted keys and certificates are made
/// of), and not shaped like a bootstrap token.
pub fn is_showable(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'.' | b'-' | b':' | b'/' | b'@' | b'*' | b'[' | b']' | b','
                )
        })
        && !s.contains("--")
        && !is_bootstrap_token(s)
}

/// A value read from an untrusted file, quoted when [`is_showable`], else described by its size.
pub fn show_untrusted(s: &str) -> String {
    if is_showable(s) {
        format!("{s:?}")
    } else {
        format!("a value of {} bytes (not shown)", s.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values_are_quoted_escaped_and_abbreviated() {
        assert_eq!(quote_input("a\nb"), "\"a\\nb\"");
        let long = "é".repeat(100);
        let q = quote_input(&long);
        assert!(
            q.ends_with("... (100 characters)") && q.chars().count() < 90,
            "{q}"
        );
    }
}
