//! Durations as users write them: Go's `time.Duration` strings (`8760h0m0s`, what kubeadm's
//! `certificateValidityPeriod` holds) plus days and years (`30d`, `1y`, with a year of 365 days
//! as kubeadm's `8760h`), and the checks a certificate's validity period must pass.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::untrusted::quote_input;

/// kubeadm's `CertificateBackdate`: certificates start 5 minutes before "now" to tolerate clock
/// skew between the machine that made them and the machines that check them.
pub const BACKDATE: Duration = Duration::minutes(5);

/// The shortest validity accepted: the CSR API's minimum `expirationSeconds` (600 s, see
/// ../shared/reference/csr-api.md). A shorter certificate expires before anyone can use it.
pub const MIN_VALIDITY: Duration = Duration::seconds(600);

/// The last instant an X.509 certificate can name: GeneralizedTime has four year digits
/// (RFC 5280 §4.1.2.5).
pub const X509_LATEST: OffsetDateTime = datetime!(9999-12-31 23:59:59 UTC);

/// The earliest instant an X.509 certificate can name (GeneralizedTime year 0000 is not a real
/// year for most parsers; year 1 is safe).
pub const X509_EARLIEST: OffsetDateTime = datetime!(0001-01-01 00:00:00 UTC);

/// Parses `1y`, `365d`, `8760h`, `8760h0m0s`, `90m`, `45s`, or combinations such as `1d12h`.
/// Never panics: every error quotes the input (abbreviated when long), and numbers too large
/// for the arithmetic are errors.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    let input = quote_input(s);
    if text.is_empty() {
        return Err(format!(
            "{input} is not a duration: it is empty (expected e.g. 1y, 365d, 8760h, 30m)"
        ));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "{input} is not a duration (expected e.g. 1y, 365d, 8760h, 8760h0m0s, 30m)"
            ));
        }
        // Both slices below end on ASCII bytes, so they are character boundaries.
        let value: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{input}: the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let seconds_per: i64 = match unit {
            "y" => 365 * 86_400,
            "w" => 7 * 86_400,
            "d" => 86_400,
            "h" => 3_600,
            "m" => 60,
            "s" => 1,
            "" => {
                return Err(format!(
                    "{input}: the number {value} has no unit (y, w, d, h, m, s)"
                ));
            }
            other => {
                return Err(format!(
                    "{input}: unknown unit {} (use y, w, d, h, m, s)",
                    quote_input(other)
                ));
            }
        };
        let part = value
            .checked_mul(seconds_per)
            .ok_or_else(|| format!("{input}: the duration is too large"))?;
        total = total
            .checked_add(Duration::seconds(part))
            .ok_or_else(|| format!("{input}: the duration is too large"))?;
    }
    Ok(total)
}

/// Checks a validity period without a clock: at least [`MIN_VALIDITY`], and no longer than the
/// whole range of X.509 times (a period that cannot fit whatever the clock says). For a config
/// file read before the clock is known; [`check_validity`] is the full check. `what` names the
/// flag or field (`--validity`, `certificateValidityPeriod`).
pub fn check_period(period: Duration, what: &str) -> Result<(), String> {
    if period < MIN_VALIDITY {
        return Err(format!(
            "{what}: a validity of {} is shorter than 10 minutes, the shortest the Kubernetes \
             CSR API accepts (expirationSeconds >= 600)",
            format_go(period)
        ));
    }
    if period > X509_LATEST - X509_EARLIEST {
        return Err(format!(
            "{what}: a validity of {} ends after {}, the last time an X.509 certificate can \
             hold (GeneralizedTime)",
            format_go(period),
            format_rfc3339(X509_LATEST)
        ));
    }
    Ok(())
}

/// Checks a validity period against the clock, as a certificate issued at `now` would use it:
/// at least [`MIN_VALIDITY`] (the CSR API's minimum, 600 s), and its end (`now + period`) and
/// its backdated start (`now - 5 min`) both within X.509's range, up to 9999-12-31T23:59:59Z.
/// `what` names the flag or field the period came from. Never panics.
pub fn check_validity(now: OffsetDateTime, period: Duration, what: &str) -> Result<(), String> {
    check_period(period, what)?;
    let start = now.checked_sub(BACKDATE);
    if start.is_none_or(|s| s < X509_EARLIEST || s > X509_LATEST) {
        return Err(format!(
            "{what}: the clock ({}) is outside the times an X.509 certificate can hold \
             (up to {})",
            format_rfc3339(now),
            format_rfc3339(X509_LATEST)
        ));
    }
    let end = now.replace_nanosecond(0).unwrap_or(now).checked_add(period);
    if end.is_none_or(|e| e > X509_LATEST) {
        return Err(format!(
            "{what}: a validity of {} from now would end after {}, the last time an X.509 \
             certificate can hold (GeneralizedTime)",
            format_go(period),
            format_rfc3339(X509_LATEST)
        ));
    }
    Ok(())
}

/// A time as messages and reports show it (RFC 3339), or its `Display` form if it has none.
pub fn format_rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Formats a duration as Go prints a `time.Duration` (`8760h0m0s`), the form kubeadm configs use.
pub fn format_go(d: Duration) -> String {
    let secs = d.whole_seconds();
    let sign = if secs < 0 { "-" } else { "" };
    let secs = secs.unsigned_abs();
    format!("{sign}{}h{}m{}s", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse_duration("1y").unwrap(), Duration::hours(8760));
        assert_eq!(parse_duration("8760h0m0s").unwrap(), Duration::hours(8760));
        assert_eq!(parse_duration("30d").unwrap(), Duration::days(30));
        assert_eq!(parse_duration("1d12h").unwrap(), Duration::hours(36));
        assert_eq!(parse_duration("90m").unwrap(), Duration::minutes(90));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("12").is_err());
        assert!(parse_duration("1.5h").is_err());
        assert!(parse_duration("3 days").is_err());
        assert!(parse_duration("99999999999999999y").is_err());
        assert_eq!(format_go(Duration::hours(87600)), "87600h0m0s");
    }

    #[test]
    fn errors_name_the_input_and_huge_numbers_do_not_overflow() {
        for input in [
            "",
            "12",
            "1.5h",
            "3 days",
            "1x",
            "-1h",
            "99999999999999999999999999y",
            "9223372036854775807s1s",
            "9223372036854775807y",
            "\u{e9}1h",
            "1h\u{e9}",
        ] {
            let err = parse_duration(input).unwrap_err();
            assert!(err.contains(&format!("{input:?}")), "{input:?}: {err}");
        }
        // The largest sum of parts that fits is accepted; one second more is refused.
        let max = format!("{}s", i64::MAX);
        assert_eq!(parse_duration(&max).unwrap(), Duration::seconds(i64::MAX));
        assert!(parse_duration(&format!("{max}1s")).is_err());
        // A long input is quoted abbreviated, with its length.
        let long = "9".repeat(500);
        let err = parse_duration(&long).unwrap_err();
        assert!(err.contains("(500 characters)") && err.len() < 300, "{err}");
    }

    #[test]
    fn validity_needs_ten_minutes_and_must_end_by_year_9999() {
        let now = datetime!(2026-05-01 12:00:00 UTC);
        check_validity(now, Duration::minutes(10), "--validity").unwrap();
        check_validity(now, Duration::hours(8760), "--validity").unwrap();
        let err = check_validity(now, Duration::ZERO, "--validity").unwrap_err();
        assert!(
            err.contains("--validity") && err.contains("10 minutes") && err.contains("600"),
            "{err}"
        );
        assert!(check_validity(now, Duration::seconds(599), "x").is_err());
        assert!(check_validity(now, Duration::seconds(-5), "x").is_err());

        // Right up to the limit is fine; a second more is not.
        let to_limit = X509_LATEST - now;
        check_validity(now, to_limit, "--ca-validity").unwrap();
        let err = check_validity(now, to_limit + Duration::SECOND, "--ca-validity").unwrap_err();
        assert!(
            err.contains("--ca-validity") && err.contains("9999-12-31T23:59:59Z"),
            "{err}"
        );
        // What panicked before: `--validity 999999999y`, `99999999h`, `9000y`.
        for text in ["999999999y", "99999999h", "9000y"] {
            let period = parse_duration(text).unwrap();
            let err = check_validity(now, period, "certificateValidityPeriod").unwrap_err();
            assert!(err.contains("certificateValidityPeriod"), "{err}");
        }
        // Periods beyond anything `time` can add are refused, not overflowed.
        assert!(check_validity(now, Duration::MAX, "x").is_err());
        assert!(check_validity(now, Duration::MIN, "x").is_err());
        // A clock at the very end of the range cannot start a certificate that fits.
        assert!(check_validity(X509_LATEST, MIN_VALIDITY, "x").is_err());
        let early = datetime!(0001-01-01 00:01:00 UTC);
        assert!(check_validity(early, MIN_VALIDITY, "x").is_err());
    }

    #[test]
    fn a_period_is_checked_without_a_clock_too() {
        check_period(Duration::hours(8760), "f").unwrap();
        assert!(check_period(Duration::minutes(9), "f").is_err());
        let err = check_period(parse_duration("99999999y").unwrap(), "f").unwrap_err();
        assert!(err.contains("9999-12-31"), "{err}");
    }
}
