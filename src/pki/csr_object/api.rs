//! What the API server checks when a CertificateSigningRequest is created
//! (pkg/apis/certificates/validation, v1.22.3), with its field paths and texts, so that an object
//! kubepki makes or signs offline is one `kubectl apply` would accept.
//!
//! The texts were checked against the real kube-apiserver v1.22.3 (`tests/signer.rs` compares
//! them on every run).

use k8s_openapi::api::certificates::v1::CertificateSigningRequestSpec;

/// Every usage string the API accepts (`spec.usages`), in the order its error lists them.
pub const USAGES: [&str; 23] = [
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];

/// The signerName the v1 API refuses.
pub const LEGACY_UNKNOWN: &str = "kubernetes.io/legacy-unknown";

/// The shortest `spec.expirationSeconds` the API accepts.
pub const MIN_EXPIRATION_SECONDS: i32 = 600;

const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;
const LABEL_FORMAT: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric \
     characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  \
     or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_FORMAT: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
     alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
     (e.g. 'example.com', regex used for validation is \
     '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// `field.Invalid`'s text: `PATH: Invalid value: "VALUE": DETAIL` (the value as Go's `%q`).
fn invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {value:?}: {detail}")
}

/// Whether `s` matches `[a-z0-9]([-a-z0-9]*[a-z0-9])?` (any length).
fn label_shape(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn label_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX {
        errs.push(format!(
            "must be no more than {DNS1123_LABEL_MAX} characters"
        ));
    }
    if !label_shape(s) {
        errs.push(LABEL_FORMAT.into());
    }
    errs
}

fn subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
        ));
    }
    if !s.split('.').all(label_shape) {
        errs.push(SUBDOMAIN_FORMAT.into());
    }
    errs
}

/// `ValidateSignerName`: `<domain>/<path>`, the domain at least two DNS-1123 labels, the path
/// dot-separated DNS-1123 subdomains; and the v1 API's refusal of the legacy name. Every
/// problem, as the API lists them.
pub fn signer_name_errors(name: &str) -> Vec<String> {
    const PATH: &str = "spec.signerName";
    if name.is_empty() {
        return vec![format!(
            "{PATH}: Required value: signerName must be provided"
        )];
    }
    let segments: Vec<&str> = name.split('/').collect();
    if segments.len() != 2 {
        return vec![invalid(
            PATH,
            name,
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        )];
    }
    let (domain, path) = (segments[0], segments[1]);
    let mut errs = Vec::new();
    if domain.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(format!(
            "{PATH}: Too long: must have at most {DNS1123_SUBDOMAIN_MAX} bytes"
        ));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if let Some((label, problems)) = labels
        .iter()
        .map(|l| (l, label_errors(l)))
        .find(|(_, e)| !e.is_empty())
    {
        errs.extend(
            problems
                .iter()
                .map(|p| invalid(PATH, domain, &format!("validating label {label:?}: {p}"))),
        );
    }
    if labels.len() < 2 {
        errs.push(invalid(
            PATH,
            domain,
            "should be a domain with at least two segments separated by dots",
        ));
    }
    if let Some((label, problems)) = path
        .split('.')
        .map(|l| (l, subdomain_errors(l)))
        .find(|(_, e)| !e.is_empty())
    {
        errs.extend(
            problems
                .iter()
                .map(|p| invalid(PATH, path, &format!("validating label {label:?}: {p}"))),
        );
    }
    let max = DNS1123_SUBDOMAIN_MAX + (DNS1123_SUBDOMAIN_MAX + DNS1123_LABEL_MAX + 1) + 1;
    if name.len() > max {
        errs.push(format!("{PATH}: Too long: must have at most {max} bytes"));
    }
    if errs.is_empty() && name == LEGACY_UNKNOWN {
        errs.push(invalid(
            PATH,
            name,
            "the legacy signerName is not allowed via this API version",
        ));
    }
    errs
}

/// `spec.usages`: required, each one of [`USAGES`], no repeats.
pub fn usage_errors(usages: &[String]) -> Vec<String> {
    if usages.is_empty() {
        return vec!["spec.usages: Required value: usages must be provided".into()];
    }
    let supported = USAGES
        .iter()
        .map(|u| format!("{u:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut errs = Vec::new();
    for (i, u) in usages.iter().enumerate() {
        if !USAGES.contains(&u.as_str()) {
            errs.push(format!(
                "spec.usages[{i}]: Unsupported value: {u:?}: supported values: {supported}"
            ));
        } else if usages[..i].contains(u) {
            errs.push(format!("spec.usages[{i}]: Duplicate value: {u:?}"));
        }
    }
    errs
}

/// `spec.expirationSeconds`: at least 600.
pub fn expiration_errors(seconds: Option<i32>) -> Vec<String> {
    match seconds {
        Some(s) if s < MIN_EXPIRATION_SECONDS => vec![format!(
            "spec.expirationSeconds: Invalid value: {s}: may not specify a duration less than \
             600 seconds (10 minutes)"
        )],
        _ => Vec::new(),
    }
}

/// Everything the API checks in a spec a client sends (the request itself is checked by
/// [`crate::pki::csr::parse`] where it is used).
pub fn spec_errors(spec: &CertificateSigningRequestSpec) -> Vec<String> {
    let mut errs = signer_name_errors(&spec.signer_name);
    errs.extend(usage_errors(spec.usages.as_deref().unwrap_or_default()));
    errs.extend(expiration_errors(spec.expiration_seconds));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_names_as_the_api_server_says() {
        assert!(signer_name_errors("example.com/serving").is_empty());
        assert!(signer_name_errors("kubernetes.io/kube-apiserver-client").is_empty());
        assert!(signer_name_errors("example.com/a.b-c").is_empty());
        assert_eq!(
            signer_name_errors("foo"),
            [
                "spec.signerName: Invalid value: \"foo\": must be a fully qualified domain and path \
              of the form 'example.com/signer-name'"
            ]
        );
        assert_eq!(
            signer_name_errors("foo/bar"),
            [
                "spec.signerName: Invalid value: \"foo\": should be a domain with at least two \
              segments separated by dots"
            ]
        );
        let e = signer_name_errors("Example.com/bar");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with(
                "spec.signerName: Invalid value: \"Example.com\": validating label \"Example\": \
                 a lowercase RFC 1123 label"
            ),
            "{e:?}"
        );
        let e = signer_name_errors("example.com/x!");
        assert!(
            e[0].starts_with(
                "spec.signerName: Invalid value: \"x!\": validating label \"x!\": a lowercase \
                 RFC 1123 subdomain"
            ),
            "{e:?}"
        );
        assert_eq!(
            signer_name_errors("kubernetes.io/legacy-unknown"),
            [
                "spec.signerName: Invalid value: \"kubernetes.io/legacy-unknown\": the legacy \
              signerName is not allowed via this API version"
            ]
        );
    }

    #[test]
    fn usages_and_expiration_as_the_api_server_says() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(usage_errors(&s(&["digital signature", "server auth"])).is_empty());
        assert_eq!(
            usage_errors(&[]),
            ["spec.usages: Required value: usages must be provided"]
        );
        let e = usage_errors(&s(&["client auth", "bogus", "client auth"]));
        assert!(e[0].starts_with(
            "spec.usages[1]: Unsupported value: \"bogus\": supported values: \"any\", \"cert sign\""
        ));
        assert_eq!(e[1], "spec.usages[2]: Duplicate value: \"client auth\"");
        assert_eq!(
            expiration_errors(Some(599)),
            [
                "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than \
              600 seconds (10 minutes)"
            ]
        );
        assert!(expiration_errors(Some(600)).is_empty());
        let mut sorted = USAGES.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, USAGES, "sorted as Go lists them");
    }
}
