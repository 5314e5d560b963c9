//! Durations as users write them: Go's `time.Duration` strings (`8760h0m0s`, what kubeadm's
//! `certificateValidityPeriod` holds) plus days and years (`30d`, `1y`, with a year of 365 days
//! as kubeadm's `8760h`).

use time::Duration;

/// Parses `1y`, `365d`, `8760h`, `8760h0m0s`, `90m`, `45s`, or combinations such as `1d12h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "{s:?} is not a duration (expected e.g. 1y, 365d, 8760h, 8760h0m0s, 30m)"
            ));
        }
        let value: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{s:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let seconds_per = match unit {
            "y" => 365 * 86_400,
            "w" => 7 * 86_400,
            "d" => 86_400,
            "h" => 3_600,
            "m" => 60,
            "s" => 1,
            "" => {
                return Err(format!(
                    "{s:?}: the number {value} has no unit (y, d, h, m, s)"
                ));
            }
            other => {
                return Err(format!(
                    "{s:?}: unknown unit {other:?} (use y, w, d, h, m, s)"
                ));
            }
        };
        let part = value
            .checked_mul(seconds_per)
            .ok_or_else(|| format!("{s:?}: duration too large"))?;
        total = total
            .checked_add(Duration::seconds(part))
            .ok_or_else(|| format!("{s:?}: duration too large"))?;
    }
    Ok(total)
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
}
