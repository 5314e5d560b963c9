//! CertificateSigningRequest objects in files: read from YAML or JSON (one object, a `List` as
//! `kubectl get -o yaml` writes it, or several YAML documents), and written back in the same
//! shape. Messages name the item and the field, never a value of the file.

use std::path::Path;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use serde::Deserialize;
use serde_json::Value;

use crate::pki::error::{Error, Result};
use crate::pki::untrusted::show_untrusted;
use crate::pki::yaml_error::describe_yaml_error;

/// The apiVersion of the objects kubepki reads and writes.
pub const API_VERSION: &str = "certificates.k8s.io/v1";
/// Their kind.
pub const KIND: &str = "CertificateSigningRequest";

/// How the objects were (or will be) laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One object.
    One,
    /// A `List` (kind `List` or `CertificateSigningRequestList`).
    List,
    /// Several YAML documents.
    Stream,
}

/// The text format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (a file whose first character is not `{` or `[`).
    Yaml,
    /// JSON.
    Json,
}

/// The objects of a file, and how they were laid out.
#[derive(Debug, Clone)]
pub struct Document {
    /// The objects, in the file's order.
    pub objects: Vec<CertificateSigningRequest>,
    /// How they were laid out; [`render`] writes them back the same way.
    pub shape: Shape,
    /// The file's text format.
    pub format: Format,
}

/// Reads the objects of `bytes` (from `source`, for messages).
pub fn read(bytes: &[u8], source: &Path) -> Result<Document> {
    let format = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | Some(b'[') => Format::Json,
        _ => Format::Yaml,
    };
    let mut docs = Vec::new();
    for de in yaml_serde::Deserializer::from_slice(bytes) {
        let value = Value::deserialize(de)
            .map_err(|e| Error::bad_file(source, describe_yaml_error(&e, 1)))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    let (items, shape) = match docs.len() {
        0 => return Err(Error::bad_file(source, "holds no object")),
        1 => {
            let doc = docs.remove(0);
            match doc.get("kind").and_then(Value::as_str) {
                Some("List") | Some("CertificateSigningRequestList") => {
                    let items = match doc.get("items") {
                        Some(Value::Array(items)) => items.clone(),
                        None | Some(Value::Null) => Vec::new(),
                        Some(_) => return Err(Error::bad_file(source, "items: is not a list")),
                    };
                    (items, Shape::List)
                }
                _ => (vec![doc], Shape::One),
            }
        }
        _ => (docs, Shape::Stream),
    };
    let objects = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| object(item, i, shape, source))
        .collect::<Result<Vec<_>>>()?;
    if objects.is_empty() {
        return Err(Error::bad_file(
            source,
            "holds no CertificateSigningRequest",
        ));
    }
    Ok(Document {
        objects,
        shape,
        format,
    })
}

/// One item, checked to be a certificates.k8s.io/v1 CertificateSigningRequest.
fn object(item: Value, i: usize, shape: Shape, source: &Path) -> Result<CertificateSigningRequest> {
    let at = match shape {
        Shape::One => String::new(),
        Shape::List => format!("items[{i}]: "),
        Shape::Stream => format!("document {}: ", i + 1),
    };
    let field = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if kind != KIND {
        return Err(Error::bad_file(
            source,
            format!(
                "{at}kind is {}, expected {KIND}",
                if kind.is_empty() {
                    "missing".to_string()
                } else {
                    show_untrusted(kind)
                }
            ),
        ));
    }
    if api_version != API_VERSION {
        return Err(Error::bad_file(
            source,
            format!(
                "{at}apiVersion is {}, expected {API_VERSION} (the API kubepki writes and \
                 Kubernetes v1.19+ serves; convert a v1beta1 object by adding spec.signerName)",
                show_untrusted(api_version)
            ),
        ));
    }
    let name = item
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(show_untrusted)
        .unwrap_or_else(|| "without a name".into());
    // serde_json's messages quote values; say which object and what, not the value.
    let object: CertificateSigningRequest = serde_json::from_value(item).map_err(|e| {
        let what = if e.to_string().contains("missing field") {
            "a required field is missing (spec.request, spec.signerName)"
        } else {
            "a field has a value of the wrong type (spec.request and status.certificate are \
             base64)"
        };
        Error::bad_file(
            source,
            format!("{at}the CertificateSigningRequest {name}: {what}"),
        )
    })?;
    Ok(object)
}

/// The objects as text, in `shape` and `format`.
pub fn render(
    objects: &[CertificateSigningRequest],
    shape: Shape,
    format: Format,
) -> Result<String> {
    let to_value = |o: &CertificateSigningRequest| {
        serde_json::to_value(o).map_err(|e| Error::Crypto(format!("internal: {e}")))
    };
    let list = || -> Result<Value> {
        Ok(serde_json::json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": ""},
            "items": objects.iter().map(to_value).collect::<Result<Vec<_>>>()?,
        }))
    };
    let yaml =
        |v: &Value| yaml_serde::to_string(v).map_err(|e| Error::Crypto(format!("internal: {e}")));
    match (format, shape) {
        (Format::Json, Shape::One) if objects.len() == 1 => {
            Ok(pretty(&to_value(&objects[0])?)? + "\n")
        }
        (Format::Json, _) => Ok(pretty(&list()?)? + "\n"),
        (Format::Yaml, Shape::One) if objects.len() == 1 => yaml(&to_value(&objects[0])?),
        (Format::Yaml, Shape::Stream) => Ok(objects
            .iter()
            .map(|o| yaml(&to_value(o)?))
            .collect::<Result<Vec<_>>>()?
            .join("---\n")),
        (Format::Yaml, _) => yaml(&list()?),
    }
}

fn pretty(v: &Value) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Crypto(format!("internal: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\n\
                       metadata: {name: a}\nspec: {request: AAAA, signerName: example.com/x, \
                       usages: [server auth]}\n";

    #[test]
    fn one_a_list_or_a_stream_and_back_in_the_same_shape() {
        let p = Path::new("f");
        let one = read(ONE.as_bytes(), p).unwrap();
        assert_eq!(
            (one.shape, one.format, one.objects.len()),
            (Shape::One, Format::Yaml, 1)
        );
        assert_eq!(one.objects[0].spec.request.0, [0, 0, 0]);
        let stream = format!("{ONE}---\n{}", ONE.replace("name: a", "name: b"));
        let s = read(stream.as_bytes(), p).unwrap();
        assert_eq!((s.shape, s.objects.len()), (Shape::Stream, 2));
        let json = render(&s.objects, Shape::List, Format::Json).unwrap();
        let l = read(json.as_bytes(), p).unwrap();
        assert_eq!(
            (l.shape, l.format, l.objects.len()),
            (Shape::List, Format::Json, 2)
        );
        let yaml = render(&s.objects, Shape::Stream, Format::Yaml).unwrap();
        assert_eq!(read(yaml.as_bytes(), p).unwrap().objects, s.objects);
    }

    #[test]
    fn errors_name_the_item_never_a_value() {
        let p = Path::new("f");
        let secret = "c2VjcmV0LWtleS1tYXRlcmlhbA==";
        let bad_kind = ONE.replace("CertificateSigningRequest", secret);
        let e = read(bad_kind.as_bytes(), p).unwrap_err().to_string();
        assert!(
            e.contains("kind is a value of") && !e.contains(secret),
            "{e}"
        );
        let v1beta1 = ONE.replace("certificates.k8s.io/v1", "certificates.k8s.io/v1beta1");
        let e = read(v1beta1.as_bytes(), p).unwrap_err().to_string();
        assert!(e.contains("expected certificates.k8s.io/v1"), "{e}");
        let bad_request = ONE.replace("AAAA", &format!("'{secret} not base64!'"));
        let e = read(bad_request.as_bytes(), p).unwrap_err().to_string();
        assert!(
            e.contains("\"a\": a field has a value of the wrong type") && !e.contains(secret),
            "{e}"
        );
        let list = "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{\"kind\": \"Secret\", \"apiVersion\": \"v1\"}]}";
        let e = read(list.as_bytes(), p).unwrap_err().to_string();
        assert!(e.contains("items[0]: kind is \"Secret\""), "{e}");
        assert!(read(b"", p).is_err());
    }
}
