//! The documents of a configuration file (split on `---`, with the line each starts on), where a
//! field of one is written, and messages about a field's value that never quote a secret.

use crate::pki::untrusted::{is_showable, show_untrusted};

/// One YAML document of the file, with the line it starts on.
pub(super) struct Document<'a> {
    pub(super) number: usize,
    pub(super) first_line: usize,
    pub(super) text: &'a str,
}

pub(super) fn documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") {
            docs.push((start, offset, first_line));
            start = offset + line.len();
            first_line = i + 2;
        }
        offset += line.len();
    }
    docs.push((start, text.len(), first_line));
    docs.into_iter()
        .map(|(s, e, l)| (&text[s..e], l))
        .filter(|(t, _)| {
            t.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .enumerate()
        .map(|(i, (text, first_line))| Document {
            number: i + 1,
            first_line,
            text,
        })
        .collect()
}

impl Document<'_> {
    /// The line of the file that holds the field at `path` (`["networking", "serviceSubnet"]`),
    /// found by indentation: each key is looked for below the previous one, more indented. Good
    /// enough to point at a line; `None` when the key is not written as a plain block key.
    pub(super) fn line_of(&self, path: &[&str]) -> Option<usize> {
        let mut lines = self.text.lines().enumerate();
        let mut indent: Option<usize> = None;
        let mut found = None;
        for key in path {
            let quoted = [format!("\"{key}\""), format!("'{key}'")];
            let (i, this_indent) = lines.by_ref().find_map(|(i, line)| {
                let body = line.trim_start();
                let this_indent = line.len() - body.len();
                if indent.is_some_and(|outer| this_indent <= outer) {
                    return None;
                }
                let body = body.strip_prefix("- ").unwrap_or(body);
                let is_key = [*key, quoted[0].as_str(), quoted[1].as_str()]
                    .iter()
                    .any(|k| {
                        body.strip_prefix(k)
                            .is_some_and(|rest| rest.trim_start().starts_with(':'))
                    });
                is_key.then_some((i, this_indent))
            })?;
            indent = Some(this_indent);
            found = Some(self.first_line + i);
        }
        found
    }

    /// `FIELD: line N` (or just `FIELD` when the line is not found).
    pub(super) fn field(&self, path: &[&str]) -> String {
        let name = path.join(".");
        match self.line_of(path) {
            Some(line) => format!("{name}: line {line}"),
            None => name,
        }
    }
}

/// An error about a field's value. The parsers of names and durations quote the value they
/// refuse; a value that does not look like one (a pasted key, a token) is not quoted, only
/// described, since the file is untrusted and may hold secrets.
pub(super) fn value_error(field: &str, value: &str, what: &str, error: String) -> String {
    if is_showable(value) {
        format!("{field}: {error}")
    } else {
        format!("{field}: {} is not {what}", show_untrusted(value))
    }
}

/// A short value from the file as is (an apiVersion), or its description when it may not be
/// shown (see [`show_untrusted`]).
pub(super) fn unquoted(value: &str) -> String {
    if is_showable(value) {
        value.to_string()
    } else {
        show_untrusted(value)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse, parse_bytes};
    use crate::pki::Error;
    use std::path::Path;

    const MARKER: &str = "SECRETxMARKERxSECRET";

    fn pasted_key() -> String {
        format!(
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI{MARKER}+/0123456789abcdefABCDEF==\n-----END EC PRIVATE KEY-----"
        )
    }

    fn assert_no_secret(err: &Error, secrets: &[&str]) {
        let chained = anyhow::Error::from(Error::bad_file("x", err.to_string())).context("init");
        for text in [
            err.to_string(),
            format!("{err:?}"),
            format!("{chained:#}"),
            format!("{chained:?}"),
        ] {
            for secret in secrets {
                assert!(!text.contains(secret), "{secret:?} leaked in: {text}");
            }
        }
    }

    #[test]
    fn errors_never_quote_secrets_from_the_file() {
        let key = pasted_key();
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &key);
        let one_line = format!("{key:?}");
        let cluster = |body: &str| {
            format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n{body}")
        };
        let init = |body: &str| {
            format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n{body}")
        };
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "broken YAML around a key",
                cluster(&format!("networking:\n{key}\n")),
                "line 5 column 1",
            ),
            (
                "a key as a field name",
                cluster(&format!("{one_line}: 1\n")),
                "an unknown field",
            ),
            (
                "a base64 key as a field name",
                cluster(&format!("networking:\n  {b64}: 1\n")),
                "networking: line 4 column 3: an unknown field",
            ),
            (
                "a key where a mapping belongs",
                cluster(&format!("networking: {b64}\n")),
                "networking: line 3 column 13: expected a mapping, found a string",
            ),
            (
                "a key where a port belongs",
                init(&format!("localAPIEndpoint:\n  bindPort: {b64}\n")),
                "localAPIEndpoint.bindPort: line 4 column 13: expected an integer from 0 to 65535",
            ),
            (
                "a key as the kind",
                format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: {b64}\n"),
                "unknown kubeadm kind a value of",
            ),
            (
                "a key as the apiVersion",
                format!("apiVersion: {b64}\nkind: X\n"),
                "with apiVersion a value of",
            ),
            (
                "a key as the serviceSubnet",
                cluster(&format!("networking:\n  serviceSubnet: {b64}\n")),
                "networking.serviceSubnet: line 4: a value of",
            ),
            (
                "a key among the certSANs",
                cluster(&format!(
                    "apiServer:\n  certSANs:\n  - a.example\n  - {b64}\n"
                )),
                "apiServer.certSANs[1]: line 4: a value of",
            ),
            (
                "a key as the endpoint",
                cluster(&format!("controlPlaneEndpoint: {one_line}\n")),
                "controlPlaneEndpoint: line 3: a value of",
            ),
            (
                "a key as certificatesDir",
                cluster(&format!("certificatesDir: {b64}\n")),
                "certificatesDir: line 3: a value of",
            ),
            (
                "a key as the validity",
                cluster(&format!("certificateValidityPeriod: {b64}\n")),
                "certificateValidityPeriod: line 3: a value of",
            ),
            (
                "a key as the node name",
                init(&format!("nodeRegistration:\n  name: {b64}\n")),
                "nodeRegistration.name: line 4: a value of",
            ),
            (
                "a key as a feature gate",
                cluster(&format!("featureGates:\n  PublicKeysECDSA: {b64}\n")),
                "featureGates.PublicKeysECDSA: line 4 column 20: expected a boolean, found a string",
            ),
        ];
        for (what, text, want) in cases {
            let err = parse(&text, Path::new("kubeadm.yaml")).expect_err(what);
            let shown = err.to_string();
            assert!(shown.contains(want), "{what}: {want:?} in {shown}");
            assert!(shown.starts_with("kubeadm.yaml: "), "{what}: {shown}");
            assert_no_secret(&err, &[MARKER, &b64[..24]]);
        }

        // Bytes that are not UTF-8: the line, not the bytes.
        let mut data = cluster(&format!("clusterName: {MARKER}\n")).into_bytes();
        data.extend_from_slice(b"networking: \xff\xfe\n");
        let err = parse_bytes(&data, Path::new("k.yaml")).unwrap_err();
        assert!(
            err.to_string()
                .contains("line 4 column 13: is not UTF-8 text"),
            "{err}"
        );
        assert_no_secret(&err, &[MARKER]);
    }
}
