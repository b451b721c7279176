//! Messages that flow on dataflow edges.

use arrow::record_batch::RecordBatch;

/// An event-time watermark: every row with an event time at or below it has arrived.
///
/// The value is milliseconds since the Unix epoch (UTC), as in Flink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Watermark(pub i64);

impl Watermark {
    /// The watermark a bounded source emits after its last row: every window fires.
    pub const MAX: Watermark = Watermark(i64::MAX);
    /// The watermark before any has been generated.
    pub const MIN: Watermark = Watermark(i64::MIN);

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for Watermark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Watermark::MAX => write!(f, "MAX"),
            Watermark::MIN => write!(f, "-"),
            Watermark(ms) => match chrono_like_utc(ms) {
                Some(s) => write!(f, "{s}"),
                None => write!(f, "{ms}"),
            },
        }
    }
}

/// Formats epoch milliseconds as `YYYY-MM-DD HH:MM:SS.mmm` (UTC) without a date library.
fn chrono_like_utc(ms: i64) -> Option<String> {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    ))
}

/// A checkpoint barrier, injected at the sources and aligned at operators with several
/// inputs (Flink's asynchronous barrier snapshotting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Barrier {
    /// Monotonic checkpoint id.
    pub checkpoint_id: u64,
    /// Wall-clock time the coordinator triggered the checkpoint, epoch millis.
    pub triggered_at_ms: i64,
    /// Whether this barrier takes a savepoint (a user-owned, portable snapshot).
    pub savepoint: bool,
}

/// One message on a dataflow edge.
#[derive(Debug, Clone)]
pub enum Message {
    /// A batch of rows. On an updating stream it carries the [`crate::ROW_KIND_COLUMN`].
    Batch(RecordBatch),
    /// Event time has advanced to this watermark on the sending channel.
    Watermark(Watermark),
    /// The sending channel is idle: exclude it from the watermark minimum until it
    /// sends data or a watermark again.
    Idle,
    /// A checkpoint barrier.
    Barrier(Barrier),
    /// The sending channel will send nothing more.
    End,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_display_is_utc_calendar_time() {
        assert_eq!(Watermark(0).to_string(), "1970-01-01 00:00:00.000");
        assert_eq!(
            Watermark(1_700_000_000_123).to_string(),
            "2023-11-14 22:13:20.123"
        );
        assert_eq!(Watermark::MAX.to_string(), "MAX");
        assert_eq!(Watermark(-1).to_string(), "1969-12-31 23:59:59.999");
    }
}
