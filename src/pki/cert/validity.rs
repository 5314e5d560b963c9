//! The validity window of a certificate: kubeadm's default periods, and [now − 5 min, now +
//! period] clamped to what X.509 can hold.

use time::{Duration, OffsetDateTime};

use crate::pki::duration::{BACKDATE, X509_EARLIEST, X509_LATEST, check_validity};

/// kubeadm's default leaf validity (`certificateValidityPeriod`, 8760h).
pub const DEFAULT_VALIDITY: Duration = Duration::hours(8760);
/// kubeadm's default CA validity (`caCertificateValidityPeriod`, 87600h).
pub const DEFAULT_CA_VALIDITY: Duration = Duration::hours(87600);

/// kubeadm's validity window for a run that started at `now`: [now − 5 min, now + period].
///
/// Never panics: a window that `time` cannot represent or X.509 cannot hold is clamped to
/// [`X509_EARLIEST`, `X509_LATEST`] (and [`issue`](super::issue()) refuses to sign such a
/// window). Check user input with [`try_validity`] or [`check_validity`] first, so the user gets
/// an error naming the flag instead.
pub fn validity(now: OffsetDateTime, period: Duration) -> (OffsetDateTime, OffsetDateTime) {
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let clamp = |t: Option<OffsetDateTime>, overflow: OffsetDateTime| {
        t.unwrap_or(overflow).clamp(X509_EARLIEST, X509_LATEST)
    };
    let overflow = if period.is_negative() {
        X509_EARLIEST
    } else {
        X509_LATEST
    };
    (
        clamp(now.checked_sub(BACKDATE), X509_EARLIEST),
        clamp(now.checked_add(period), overflow),
    )
}

/// [`validity`], or an error naming `what` (the flag or field the period came from) when the
/// period is shorter than the CSR API's 10 minutes or the window does not fit in X.509's range
/// (see [`check_validity`]).
pub fn try_validity(
    now: OffsetDateTime,
    period: Duration,
    what: &str,
) -> std::result::Result<(OffsetDateTime, OffsetDateTime), String> {
    check_validity(now, period, what)?;
    Ok(validity(now, period))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_never_panics_and_try_validity_names_the_flag() {
        let now = OffsetDateTime::now_utc();
        for period in [
            Duration::MAX,
            Duration::MIN,
            Duration::ZERO,
            Duration::days(365 * 9000),
            crate::pki::duration::parse_duration("999999999y").unwrap(),
        ] {
            let (start, end) = validity(now, period);
            assert!(start >= X509_EARLIEST && end <= X509_LATEST, "{period}");
        }
        for edge in [X509_LATEST, X509_EARLIEST, OffsetDateTime::UNIX_EPOCH] {
            let _ = validity(edge, Duration::MAX);
            let _ = validity(edge, Duration::MIN);
        }
        let (start, end) = try_validity(now, DEFAULT_VALIDITY, "--validity").unwrap();
        assert_eq!(end - start, DEFAULT_VALIDITY + BACKDATE);
        let err = try_validity(now, Duration::days(365 * 9000), "--ca-validity").unwrap_err();
        assert!(
            err.contains("--ca-validity") && err.contains("9999"),
            "{err}"
        );
        let err = try_validity(now, Duration::ZERO, "--validity").unwrap_err();
        assert!(
            err.contains("--validity") && err.contains("10 minutes"),
            "{err}"
        );
    }
}
