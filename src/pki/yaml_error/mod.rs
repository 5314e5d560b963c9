//! YAML errors described without quoting the document: the field path, the line and the kind of
//! problem, never a value (a kubeconfig or a kubeadm configuration may hold a private key).

mod libyaml;

use super::untrusted::is_identifier;
use libyaml::libyaml_problem;

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
pub(crate) fn safe_path(path: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::untrusted::{is_showable, show_untrusted};
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
}
