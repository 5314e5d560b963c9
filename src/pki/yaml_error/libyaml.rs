//! The fixed problem texts of libyaml and yaml_serde: a message may repeat one of these, never
//! anything else the parser says (which may quote the document).

/// libyaml's and yaml_serde's own problem texts are fixed strings; anything else is replaced
/// by a generic description.
pub(super) fn libyaml_problem(text: &str) -> String {
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
