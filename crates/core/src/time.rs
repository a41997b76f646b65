//! Timestamps as clients see them.

use chrono::{DateTime, Utc};

/// Formats an instant the way JavaScript's `Date.prototype.toString()` does in UTC, which is
/// how RunPod writes the date in `lastStatusChange` (compat).
pub fn js_date_string(at: DateTime<Utc>) -> String {
    at.format("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_like_javascript_date_to_string() {
        let at = Utc.with_ymd_and_hms(2026, 12, 3, 16, 2, 6).unwrap();
        assert_eq!(
            js_date_string(at),
            "Thu Dec 03 2026 16:02:06 GMT+0000 (Coordinated Universal Time)"
        );
    }
}
