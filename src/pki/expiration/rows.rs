//! Building one row of the report: from a certificate's facts, or blank with a status.

use std::path::Path;

use time::Duration;

use super::{Entry, Request, RotationWindow, Status};
use crate::pki::cert::CertFacts;

pub(super) fn invalidate(entry: &mut Entry, problems: Vec<String>) {
    if !problems.is_empty() {
        entry.status = Status::Invalid;
        entry.error = Some(problems.join("; "));
    }
}

pub(super) fn blank(name: &str, path: &Path, status: Status, error: Option<String>) -> Entry {
    Entry {
        name: name.to_string(),
        node: None,
        path: path.to_path_buf(),
        certificate_authority: None,
        not_before: None,
        not_after: None,
        residual_seconds: None,
        status,
        externally_managed: false,
        subject: None,
        error,
        kubelet_rotation: None,
    }
}

pub(super) fn from_facts(name: &str, path: &Path, facts: &CertFacts, request: &Request) -> Entry {
    let left = facts.not_after - request.now;
    let warn = request
        .warn_within
        .max(request.fail_within.unwrap_or(Duration::ZERO));
    let status = if request.now < facts.not_before {
        Status::NotYetValid
    } else if left <= Duration::ZERO {
        Status::Expired
    } else if left <= warn {
        Status::Warning
    } else {
        Status::Ok
    };
    Entry {
        not_before: Some(facts.not_before),
        not_after: Some(facts.not_after),
        residual_seconds: Some(left.whole_seconds()),
        status,
        subject: Some(facts.subject.clone()),
        ..blank(name, path, status, None)
    }
}

/// The kubelet's rotation window for a certificate that has a validity period.
pub(super) fn rotation(entry: &Entry) -> Option<RotationWindow> {
    let (from, to) = (entry.not_before?, entry.not_after?);
    let total = to - from;
    Some(RotationWindow {
        from: from + total * 0.7,
        to: from + total * 0.9,
    })
}
