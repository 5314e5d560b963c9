//! A certificate request as read from the tree (`<base>.csr`, `admin.conf.csr`): checked (its
//! signature verifies with its own key) and what it asks for, or why it cannot be used.

use std::path::Path;

use super::{FileMeta, Found, Problem, files};
use crate::pki::csr::{self, Request};

/// A request file of the tree.
#[derive(Debug)]
pub struct CsrFile {
    /// The request, its signature verified.
    pub request: Request,
    /// The file's mode and owner.
    pub meta: FileMeta,
}

/// Reads a request file (PEM or DER), as any file of the tree is read.
pub fn read_csr(path: &Path) -> Found<CsrFile> {
    let data = match files::read(path) {
        Found::Present(d) => d,
        Found::Missing => return Found::Missing,
        Found::Broken(p) => return Found::Broken(p),
    };
    match csr::parse(&data.bytes) {
        Ok(request) => Found::Present(Box::new(CsrFile {
            request,
            meta: FileMeta {
                mode: data.mode,
                uid: data.uid,
            },
        })),
        Err(e) => Found::Broken(Problem::bad(e)),
    }
}
