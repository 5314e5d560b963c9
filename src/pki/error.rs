//! Typed errors of the PKI core.
//!
//! Every error names the thing it is about (a file, a flag, a certificate) so the command line can
//! print it as is. [`ErrorKind`] groups them into the classes the CLI maps to exit codes.

use std::path::{Path, PathBuf};

/// What class of failure an [`Error`] is; the CLI turns this into the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A flag or argument value is malformed or not allowed.
    Usage,
    /// A file on disk exists but does not match what was asked; `--force` would replace it.
    Conflict,
    /// A file on disk cannot be used: unreadable, malformed, a key that does not match its
    /// certificate, a CA whose key is absent when one is needed.
    BadFile,
    /// Reading or writing failed, or a crypto operation failed.
    Io,
    /// Another kubepki process holds the lock on the certificate directory.
    Locked,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{flag}: {message}")]
    Usage { flag: String, message: String },

    #[error("{}: {message}", path.display())]
    Conflict { path: PathBuf, message: String },

    #[error("{}: {message}", path.display())]
    BadFile { path: PathBuf, message: String },

    // The OS error is part of the message (and not a `#[source]`), so it is printed once both
    // by `to_string` (as in `Many`) and by anyhow's `{:#}` chain.
    #[error("{}: cannot {action}: {cause}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        cause: std::io::Error,
    },

    #[error("{0}")]
    Crypto(String),

    #[error("{}: {message}", path.display())]
    Locked { path: PathBuf, message: String },

    /// Several independent problems found while planning; all are reported at once so the user
    /// can fix them in one go.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Usage { .. } => ErrorKind::Usage,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::BadFile { .. } => ErrorKind::BadFile,
            Error::Io { .. } | Error::Crypto(_) => ErrorKind::Io,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::Many(all) => all.first().map_or(ErrorKind::Io, Error::kind),
        }
    }

    pub fn usage(flag: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Usage {
            flag: flag.into(),
            message: message.into(),
        }
    }

    pub fn conflict(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Conflict {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    pub fn bad_file(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    pub fn io(path: impl AsRef<Path>, action: &'static str, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            action,
            cause,
        }
    }

    /// One error from many, or `Ok` when there are none.
    pub fn from_all(mut errors: Vec<Error>) -> Result<()> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Many(errors)),
        }
    }
}

impl From<rcgen::Error> for Error {
    fn from(e: rcgen::Error) -> Self {
        Error::Crypto(format!("certificate generation failed: {e}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------------------------
// Messages about untrusted input.
//
// kubepki reads files other people can write, as root. A message may name the file, the field
// path, the line and the kind of problem, never the file's content: a private key pasted into the
// wrong place must not end up on stderr, in a CI log or in `-o json`. Values the user typed on
// the command line are theirs and are quoted (escaped, so a newline cannot forge an output line).

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

/// Describes a YAML error without quoting the document: `PATH: line L column C: PROBLEM`, with
/// the field path as far as it is known and names only where [`is_identifier`] allows them.
/// `first_line` is the line of the file the parsed text starts on (1 for a whole file), so the
/// line is counted in the file.
///
/// yaml_serde's own messages quote values (`invalid type: string "LS0tLS1...", expected ...`)
/// and mapping keys (in the path); this keeps only what comes from the program (the expected
/// type, the known field names) and from libyaml's fixed problem texts.
pub fn describe_yaml_error(e: &yaml_serde::Error, first_line: usize) -> String {
    let text = e.to_string();
    let at = e.location().map(|l| {
        format!(
            "line {} column {}",
            l.line() + first_line.max(1) - 1,
            l.column()
        )
    });
    let (path, problem) = match serde_problem(&text) {
        Some((path, problem)) => (path, problem),
        None => (String::new(), libyaml_problem(&text)),
    };
    let mut out = String::new();
    if !path.is_empty() {
        out.push_str(&path);
        out.push_str(": ");
    }
    if let Some(at) = at {
        out.push_str(&at);
        out.push_str(": ");
    }
    out.push_str(&problem);
    out
}

/// The serde templates whose arguments come from the document.
const SERDE_MARKERS: [&str; 8] = [
    "invalid type: ",
    "invalid value: ",
    "invalid length ",
    "unknown field `",
    "missing field `",
    "duplicate field `",
    "unknown variant `",
    "duplicate entry ",
];

/// Splits `PATH: TEMPLATE ... at line L column C` and rewrites both halves safely.
fn serde_problem(text: &str) -> Option<(String, String)> {
    // yaml_serde appends " at line L column C"; the document's values sit before it, escaped.
    let body = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => text,
    };
    let (start, marker) = SERDE_MARKERS
        .iter()
        .filter_map(|m| {
            let at_start = body.starts_with(m).then_some(0);
            let after_path = body.find(&format!(": {m}")).map(|i| i + 2);
            at_start.or(after_path).map(|i| (i, *m))
        })
        .min_by_key(|(i, _)| *i)?;
    let path = safe_path(body[..start].trim_end_matches(": "));
    let rest = &body[start + marker.len()..];
    let problem = match marker {
        "invalid type: " => {
            let (found, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
            format!(
                "expected {}, found {}",
                expected_kind(expected),
                found_kind(found)
            )
        }
        "invalid value: " => {
            let (found, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
            format!(
                "expected {}, found {} that is out of range or not allowed",
                expected_kind(expected),
                found_kind(found)
            )
        }
        "invalid length " => {
            let (_, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
            format!(
                "wrong number of entries, expected {}",
                expected_kind(expected)
            )
        }
        "unknown field `" | "unknown variant `" => {
            let what = if marker == "unknown field `" {
                "field"
            } else {
                "value"
            };
            // "NAME`, expected one of `a`, `b`" | "NAME`, expected `a`" | "NAME`, there are no
            // fields": the list is the program's, the name the document's.
            let (name, list) = match rest.rsplit_once("`, expected ") {
                Some((name, list)) => (name, Some(list)),
                None => (rest.split('`').next().unwrap_or(""), None),
            };
            let known = list
                .filter(|list| {
                    let names = list.strip_prefix("one of ").unwrap_or(list);
                    names
                        .split(", ")
                        .all(|n| is_identifier(n.trim_matches('`')))
                })
                .map(|list| format!(", expected {list}"))
                .unwrap_or_default();
            let name = Some(name).filter(|n| is_identifier(n));
            match name {
                Some(name) => format!("unknown {what} `{name}`{known}"),
                None => format!("an unknown {what}{known}"),
            }
        }
        "missing field `" | "duplicate field `" => {
            let what = marker.trim_end_matches(" `");
            match rest
                .split_once('`')
                .map(|(n, _)| n)
                .filter(|n| is_identifier(n))
            {
                Some(name) => format!("{what} `{name}`"),
                None => what.to_string(),
            }
        }
        _ => {
            // "duplicate entry with key \"K\"" and friends (a mapping key given twice).
            let key = rest
                .strip_prefix("with key \"")
                .and_then(|k| k.strip_suffix('"'))
                .filter(|k| is_identifier(k));
            match key {
                Some(key) => format!("the key `{key}` is given twice"),
                None => "a key is given twice".to_string(),
            }
        }
    };
    Some((path, problem))
}

/// A yaml_serde path (`users[0].user`) with every segment that is not an identifier replaced
/// by `?` (mapping keys come from the document).
fn safe_path(path: &str) -> String {
    if path.is_empty() || path == "." {
        return String::new();
    }
    path.split('.')
        .map(|segment| {
            let base = segment.split('[').next().unwrap_or("");
            let indexes = &segment[base.len()..];
            let indexes_ok = indexes.split('[').skip(1).all(|i| {
                i.strip_suffix(']')
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            });
            let base_ok = base.is_empty() || base == "?" || is_identifier(base);
            match (base_ok, indexes_ok) {
                (true, true) => segment.to_string(),
                (true, false) => base.to_string(),
                _ => "?".to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// What serde's `Unexpected` names (`string "..."`, `integer `5``, `map`), as a kind only.
fn found_kind(found: &str) -> &'static str {
    const KINDS: [(&str, &str); 12] = [
        ("string", "a string"),
        ("integer", "an integer"),
        ("floating point", "a number"),
        ("boolean", "a boolean"),
        ("character", "a character"),
        ("map", "a mapping"),
        ("sequence", "a sequence"),
        ("unit value", "null"),
        ("Option value", "an optional value"),
        ("byte array", "binary data"),
        ("enum", "a tagged value"),
        ("unit variant", "a tagged value"),
    ];
    KINDS
        .iter()
        .find(|(prefix, _)| found == *prefix || found.starts_with(&format!("{prefix} ")))
        .map_or("a value of another type", |(_, kind)| kind)
}

/// What serde's `Expected` says (`struct UserEntry`, `a string`, `u16`), in YAML's words.
fn expected_kind(expected: &str) -> String {
    let e = expected.trim();
    let kind = match e {
        "a map" | "map" | "a mapping" => "a mapping",
        "a sequence" | "sequence" => "a sequence",
        "a string" | "string" | "a borrowed string" => "a string",
        "a boolean" | "bool" => "a boolean",
        "u8" => "an integer from 0 to 255",
        "u16" => "an integer from 0 to 65535",
        "u32" => "an integer from 0 to 4294967295",
        "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" | "an integer" => "an integer",
        "f32" | "f64" | "a float" => "a number",
        "null" | "unit" => "null",
        "any valid YAML value" => "any YAML value",
        _ if e.starts_with("struct ") || e.starts_with("a map ") => "a mapping",
        _ if e.starts_with("a sequence") || e.starts_with("a tuple") => "a sequence",
        _ if !e.is_empty()
            && e.len() <= 60
            && e.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'_') =>
        {
            return e.to_string();
        }
        _ => "another type",
    };
    kind.to_string()
}

/// libyaml's and yaml_serde's own problem texts are fixed strings; anything else is replaced
/// by a generic description.
fn libyaml_problem(text: &str) -> String {
    const FIXED: &[&str] = &[
        // yaml_serde
        "EOF while parsing a value",
        "deserializing from YAML containing more than one document is not supported",
        "recursion limit exceeded",
        "repetition limit exceeded",
        "unknown anchor",
        "expected a mapping or list of mappings for merging, but found scalar",
        "unexpected tagged value in merge",
        "expected a mapping for merging, but found scalar",
        "expected a mapping for merging, but found sequence",
        "empty YAML tag is not allowed",
        "failed to parse YAML number",
        // libyaml (scanner, parser, reader)
        "alias value must contain alphanumerical characters only",
        "alias value must not be empty",
        "anchor value must contain alphanumerical characters only",
        "anchor value must not be empty",
        "block sequence entries are not allowed in this context",
        "control characters are not allowed",
        "could not find expected ':'",
        "could not find expected directive name",
        "did not find URI escaped octet",
        "did not find expected '!'",
        "did not find expected ',' or ']'",
        "did not find expected ',' or '}'",
        "did not find expected '-' indicator",
        "did not find expected <document start>",
        "did not find expected <stream-start>",
        "did not find expected alphabetic or numeric character",
        "did not find expected comment or line break",
        "did not find expected digit or '.' character",
        "did not find expected hexadecimal number",
        "did not find expected key",
        "did not find expected node content",
        "did not find expected tag URI",
        "did not find expected version number",
        "did not find expected whitespace or line break",
        "did not find expected whitespace",
        "did not find the expected '>'",
        "duplicate %TAG directive",
        "expected DOCUMENT-END",
        "expected DOCUMENT-START or STREAM-END",
        "expected SCALAR, SEQUENCE-START, MAPPING-START, or ALIAS",
        "expected STREAM-START",
        "expected low surrogate area",
        "expected nothing after STREAM-END",
        "found a tab character that violates indentation",
        "found a tab character where an indentation space is expected",
        "found an incorrect leading UTF-8 octet",
        "found an incorrect trailing UTF-8 octet",
        "found an indentation indicator equal to 0",
        "found character that cannot start any token",
        "found duplicate %TAG directive",
        "found duplicate %YAML directive",
        "found duplicate anchor; first occurrence",
        "found extremely long version number",
        "found incompatible YAML document",
        "found invalid Unicode character escape code",
        "found undefined alias",
        "found undefined tag handle",
        "found unexpected ':'",
        "found unexpected document indicator",
        "found unexpected end of stream",
        "found unexpected non-alphabetical character",
        "found unknown directive name",
        "found unknown escape character",
        "incompatible %YAML directive",
        "incomplete UTF-16 character",
        "incomplete UTF-16 surrogate pair",
        "incomplete UTF-8 octet sequence",
        "input error",
        "input is too long",
        "invalid Unicode character",
        "invalid leading UTF-8 octet",
        "invalid length of a UTF-8 sequence",
        "invalid trailing UTF-8 octet",
        "mapping keys are not allowed in this context",
        "mapping values are not allowed in this context",
        "tag handle must contain alphanumerical characters only",
        "tag handle must end with '!'",
        "tag handle must not be empty",
        "tag handle must start with '!'",
        "tag prefix must not be empty",
        "tag value must not be empty",
        "unexpected low surrogate area",
    ];
    let problem = FIXED
        .iter()
        .filter(|f| {
            text.strip_prefix(**f).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with(" at ") || rest.starts_with(',')
            })
        })
        .max_by_key(|f| f.len());
    match problem {
        Some(p) => {
            // libyaml adds ", while parsing a flow sequence at line ..." (also a fixed text).
            let context = text
                .split(", ")
                .skip(1)
                .find(|c| c.starts_with("while "))
                .map(|c| c.split(" at ").next().unwrap_or(""))
                .filter(|c| {
                    c.bytes()
                        .all(|b| b.is_ascii_alphabetic() || b == b' ' || b == b'%')
                })
                .map(|c| format!(", {c}"))
                .unwrap_or_default();
            format!("{p}{context}")
        }
        None if text.starts_with("invalid utf-8") || text.starts_with("incomplete utf-8") => {
            "the file is not UTF-8 text".to_string()
        }
        None => "the YAML does not have the expected structure".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: Option<String>,
        port: Option<u16>,
        items: Option<Vec<Item>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        key: String,
    }

    fn describe(text: &str) -> String {
        let e = yaml_serde::from_str::<Doc>(text).unwrap_err();
        describe_yaml_error(&e, 1)
    }

    const SECRET: &str = "c2VjcmV0+/c2VjcmV0c2VjcmV0==";

    #[test]
    fn yaml_errors_keep_path_line_and_kind_but_no_value() {
        for (text, want) in [
            (
                format!("items:\n- key: {SECRET}\n  other: 1\n"),
                "items[0]: line 3 column 3: unknown field `other`, expected `key`".to_string(),
            ),
            (
                format!("items:\n- {SECRET}\n"),
                "items[0]: line 2 column 3: expected a mapping, found a string".to_string(),
            ),
            (
                format!("port: {SECRET}\n"),
                "port: line 1 column 7: expected an integer from 0 to 65535, found a string"
                    .to_string(),
            ),
            (
                "port: 70000\n".to_string(),
                "port: line 1 column 7: expected an integer from 0 to 65535, found an integer \
                 that is out of range or not allowed"
                    .to_string(),
            ),
            (
                format!("{SECRET}: 1\n"),
                "line 1 column 1: an unknown field, expected one of `name`, `port`, `items`"
                    .to_string(),
            ),
            (
                format!("port: 1\n{SECRET}\n"),
                "line 3 column 1: could not find expected ':', while scanning a simple key"
                    .to_string(),
            ),
            (
                "items:\n- {}\n".to_string(),
                "items[0]: line 2 column 3: missing field `key`".to_string(),
            ),
            (
                format!("name: a\nname: {SECRET}\n"),
                "line 1 column 1: duplicate field `name`".to_string(),
            ),
        ] {
            let got = describe(&text);
            assert_eq!(got, want, "{text:?}");
            assert!(!got.contains("c2VjcmV0"), "{got}");
        }
        // The line is counted in the file when the document starts further down.
        let e = yaml_serde::from_str::<Doc>("port: x\n").unwrap_err();
        assert!(describe_yaml_error(&e, 10).starts_with("port: line 10 column 7"));
    }

    #[test]
    fn paths_and_names_from_the_document_are_shown_only_when_they_look_like_names() {
        assert_eq!(safe_path("users[0].user"), "users[0].user");
        assert_eq!(safe_path("."), "");
        assert_eq!(safe_path("a.-----BEGIN KEY-----x[0].b"), "a.?.b");
        assert_eq!(safe_path("a[zz].b"), "a.b");
        assert!(is_identifier("dnsDomian") && is_identifier("client-key-data"));
        assert!(!is_identifier("abcdef.0123456789abcdef")); // a bootstrap token
        assert!(!is_identifier(&"a".repeat(41)));
        assert!(!is_identifier("9lives") && !is_identifier("a b") && !is_identifier(""));
        assert!(is_showable("kubernetes-admin@kubernetes") && is_showable("10.96.0.0/12"));
        assert!(!is_showable(SECRET) && !is_showable("-----BEGIN") && !is_showable("a\nb"));
        assert_eq!(show_untrusted(SECRET), "a value of 28 bytes (not shown)");
        assert_eq!(found_kind("string \"x, expected y\""), "a string");
        assert_eq!(expected_kind("struct UserEntry"), "a mapping");
        assert_eq!(expected_kind("\"quoted\" text"), "another type");
    }

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
