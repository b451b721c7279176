//! When to sweep keyed state for `table.exec.state.ttl`: a sweep touches every key, so
//! operators run one a few times per TTL period rather than on every batch.

/// The sweep schedule of one operator subtask.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TtlSweep {
    ttl_ms: Option<i64>,
    next_check: i64,
}

impl TtlSweep {
    /// A schedule for `ttl_ms` (`None`: state is kept forever, no sweep is ever due).
    pub(crate) fn new(ttl_ms: Option<i64>) -> TtlSweep {
        TtlSweep {
            ttl_ms,
            next_check: i64::MIN,
        }
    }

    /// The TTL when a sweep is due at processing time `now` (and schedules the next one
    /// a quarter TTL later, at most a minute); `None` otherwise.
    pub(crate) fn due(&mut self, now: i64) -> Option<i64> {
        let ttl = self.ttl_ms?;
        if now < self.next_check {
            return None;
        }
        self.next_check = now + (ttl / 4).clamp(1, 60_000);
        Some(ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::TtlSweep;

    #[test]
    fn sweeps_a_few_times_per_ttl_period() {
        let mut sweep = TtlSweep::new(Some(1_000));
        assert_eq!(sweep.due(0), Some(1_000));
        assert_eq!(sweep.due(249), None);
        assert_eq!(sweep.due(250), Some(1_000));
        assert_eq!(TtlSweep::new(None).due(0), None);
    }
}
