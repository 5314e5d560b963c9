//! The one decision every planner makes about a file that a request wants: missing → create;
//! there and matching → reuse; there and different → a conflict, or a replacement (with a
//! backup) under `--force`.

/// An existing file (or pair of files) compared with what is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Existing {
    Missing,
    /// It can be reused as it is; why.
    Matches(String),
    /// It cannot; every reason.
    Differs(Vec<String>),
}

/// What to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    Create(String),
    Reuse(String),
    Replace(String),
    /// Refused: the message says what differs (the caller adds how to fix it).
    Conflict(String),
}

pub(super) fn decide(existing: Existing, force: bool) -> Verdict {
    match (existing, force) {
        (Existing::Missing, _) => Verdict::Create("does not exist".into()),
        // --force replaces only what does not match: a file that is what was asked for is kept
        // (replacing a valid CA would be CA rotation, not a repair).
        (Existing::Matches(reason), _) => Verdict::Reuse(reason),
        (Existing::Differs(problems), true) => {
            Verdict::Replace(format!("--force: {}", problems.join("; ")))
        }
        (Existing::Differs(problems), false) => Verdict::Conflict(format!(
            "exists but cannot be reused: {}",
            problems.join("; ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_table() {
        let matches = || Existing::Matches("valid".into());
        let differs = || Existing::Differs(vec!["a".into(), "b".into()]);
        let cases = [
            (
                Existing::Missing,
                false,
                Verdict::Create("does not exist".into()),
            ),
            (
                Existing::Missing,
                true,
                Verdict::Create("does not exist".into()),
            ),
            (matches(), false, Verdict::Reuse("valid".into())),
            (matches(), true, Verdict::Reuse("valid".into())),
            (
                differs(),
                false,
                Verdict::Conflict("exists but cannot be reused: a; b".into()),
            ),
            (differs(), true, Verdict::Replace("--force: a; b".into())),
        ];
        for (existing, force, want) in cases {
            assert_eq!(
                decide(existing.clone(), force),
                want,
                "{existing:?} force={force}"
            );
        }
    }
}
