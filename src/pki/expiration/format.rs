//! kubeadm's renderings of times in the report.

use time::OffsetDateTime;

/// kubeadm's RESIDUAL TIME (apimachinery's `ShortHumanDuration`).
pub fn short_human_duration(seconds: i64) -> String {
    match seconds {
        s if s < -1 => "<invalid>".into(),
        s if s < 0 => "0s".into(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s if s < 365 * 86_400 => format!("{}d", s / 86_400),
        s => format!("{}y", s / (365 * 86_400)),
    }
}

/// kubeadm's EXPIRES column: `Jan 02, 2006 15:04 UTC`.
pub fn expires(t: OffsetDateTime) -> String {
    let f =
        time::macros::format_description!("[month repr:short] [day], [year] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_time_like_kubeadm() {
        assert_eq!(short_human_duration(-5), "<invalid>");
        assert_eq!(short_human_duration(-1), "0s");
        assert_eq!(short_human_duration(59), "59s");
        assert_eq!(short_human_duration(3599), "59m");
        assert_eq!(short_human_duration(86_399), "23h");
        assert_eq!(short_human_duration(364 * 86_400 + 5), "364d");
        assert_eq!(short_human_duration(10 * 365 * 86_400 - 300), "9y");
        let t = time::macros::datetime!(2027-01-02 15:04:05 UTC);
        assert_eq!(expires(t), "Jan 02, 2027 15:04 UTC");
    }
}
