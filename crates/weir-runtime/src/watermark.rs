//! Watermark tracking: per source split (with idleness) and per input channel (minimum).

use std::time::{Duration, Instant};

use weir_types::Watermark;

/// What a source or an operator input currently says about event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkStatus {
    /// Event time is at this watermark.
    Active(Watermark),
    /// Every contributing split or channel is idle: downstream should ignore this one.
    Idle,
}

#[derive(Debug, Clone)]
struct SplitState {
    watermark: i64,
    last_activity: Instant,
    finished: bool,
}

/// Watermarks of the splits one source subtask reads.
///
/// Each split's watermark is the largest watermark candidate of its rows so far. The
/// subtask's watermark is the minimum over splits that are neither finished nor idle
/// (no rows for longer than `table.exec.source.idle-timeout`, when one is set).
#[derive(Debug)]
pub struct SplitWatermarks {
    splits: Vec<SplitState>,
    idle_timeout: Option<Duration>,
}

impl SplitWatermarks {
    /// Tracks `splits` splits, all active from `now`.
    pub fn new(splits: usize, idle_timeout: Option<Duration>, now: Instant) -> SplitWatermarks {
        SplitWatermarks {
            splits: vec![
                SplitState {
                    watermark: i64::MIN,
                    last_activity: now,
                    finished: false,
                };
                splits
            ],
            idle_timeout: idle_timeout.filter(|d| !d.is_zero()),
        }
    }

    /// Number of splits tracked.
    pub fn len(&self) -> usize {
        self.splits.len()
    }

    /// Whether no split is tracked.
    pub fn is_empty(&self) -> bool {
        self.splits.is_empty()
    }

    /// Tracks `splits` splits when fewer are tracked: the reader found new ones while
    /// running (Kafka partitions discovered). A new split starts without a watermark and
    /// active from `now`, like a split of a starting subtask: until it produces rows (or
    /// goes idle after `table.exec.source.idle-timeout`) it holds the subtask's watermark
    /// where it is. The watermark the subtask emitted never goes back, so the new split
    /// stops it from advancing rather than pulling it back; rows of the new split older
    /// than that watermark are late, as in Flink.
    pub fn grow(&mut self, splits: usize, now: Instant) {
        while self.splits.len() < splits {
            self.splits.push(SplitState {
                watermark: i64::MIN,
                last_activity: now,
                finished: false,
            });
        }
    }

    /// Records that `split` produced rows at `now`, with watermark candidate `candidate`.
    pub fn observe(&mut self, split: usize, candidate: Option<i64>, now: Instant) {
        if let Some(state) = self.splits.get_mut(split) {
            state.last_activity = now;
            if let Some(c) = candidate {
                state.watermark = state.watermark.max(c);
            }
        }
    }

    /// The largest watermark candidate `split` has produced (`i64::MIN` before any), for
    /// checkpoints.
    pub fn split_watermark(&self, split: usize) -> i64 {
        self.splits.get(split).map_or(i64::MIN, |s| s.watermark)
    }

    /// Continues `split` from a checkpointed watermark candidate.
    pub fn restore(&mut self, split: usize, watermark: i64) {
        if let Some(state) = self.splits.get_mut(split) {
            state.watermark = state.watermark.max(watermark);
        }
    }

    /// Records that `split` has no more rows.
    pub fn finish(&mut self, split: usize) {
        if let Some(state) = self.splits.get_mut(split) {
            state.finished = true;
        }
    }

    /// The subtask's watermark status at `now`.
    ///
    /// With every split finished it is `Active(MIN)`: the source emits the final
    /// watermark itself when it ends.
    pub fn status(&self, now: Instant) -> WatermarkStatus {
        let mut min: Option<i64> = None;
        let mut any_idle = false;
        for s in &self.splits {
            if s.finished {
                continue;
            }
            let idle = self
                .idle_timeout
                .is_some_and(|t| now.saturating_duration_since(s.last_activity) >= t);
            if idle {
                any_idle = true;
                continue;
            }
            min = Some(min.map_or(s.watermark, |m| m.min(s.watermark)));
        }
        match min {
            Some(m) => WatermarkStatus::Active(Watermark(m)),
            None if any_idle || self.splits.is_empty() => WatermarkStatus::Idle,
            None => WatermarkStatus::Active(Watermark::MIN),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct ChannelState {
    watermark: i64,
    idle: bool,
}

/// Combines the watermarks of a task's input channels: the minimum over channels that
/// are not idle. The combined watermark never goes back.
///
/// An ended channel keeps holding the watermark back at its last watermark: a channel
/// whose input was read to the end sent `Watermark::MAX` before its end, so it holds
/// nothing back, but one that ended because the job stops gracefully (for a
/// savepoint) did not, and its rows not read yet are still to come when the job
/// resumes: the watermark must not pass them. (Excluding it let another channel's
/// watermark through, the operators' state recorded it, and the resumed job dropped
/// the rest of the stopped channel's rows as late.)
#[derive(Debug)]
pub struct InputWatermarks {
    channels: Vec<ChannelState>,
    current: i64,
    idle: bool,
}

impl InputWatermarks {
    /// Tracks `channels` channels, none heard from yet.
    pub fn new(channels: usize) -> InputWatermarks {
        InputWatermarks {
            channels: vec![
                ChannelState {
                    watermark: i64::MIN,
                    idle: false,
                };
                channels
            ],
            current: i64::MIN,
            idle: false,
        }
    }

    /// The combined watermark so far.
    pub fn current(&self) -> Watermark {
        Watermark(self.current)
    }

    /// A watermark arrived on `channel`; returns what to send downstream, if anything changed.
    pub fn on_watermark(
        &mut self,
        channel: usize,
        watermark: Watermark,
    ) -> Option<WatermarkStatus> {
        let state = &mut self.channels[channel];
        state.watermark = state.watermark.max(watermark.0);
        state.idle = false;
        self.recompute()
    }

    /// Data arrived on `channel`: an idle channel becomes active again.
    pub fn on_data(&mut self, channel: usize) -> Option<WatermarkStatus> {
        if self.channels[channel].idle {
            self.channels[channel].idle = false;
            return self.recompute();
        }
        None
    }

    /// `channel` declared itself idle.
    pub fn on_idle(&mut self, channel: usize) -> Option<WatermarkStatus> {
        self.channels[channel].idle = true;
        self.recompute()
    }

    /// `channel` ended: it holds the watermark back at its last watermark (see the
    /// type's docs), so nothing changes.
    pub fn on_end(&mut self, _channel: usize) -> Option<WatermarkStatus> {
        None
    }

    fn recompute(&mut self) -> Option<WatermarkStatus> {
        let mut min: Option<i64> = None;
        let mut any_idle = false;
        for c in &self.channels {
            if c.idle {
                any_idle = true;
                continue;
            }
            min = Some(min.map_or(c.watermark, |m| m.min(c.watermark)));
        }
        match min {
            Some(m) => {
                let was_idle = std::mem::replace(&mut self.idle, false);
                if m > self.current {
                    self.current = m;
                    Some(WatermarkStatus::Active(Watermark(m)))
                } else if was_idle {
                    // Active again: tell downstream, with the unchanged watermark.
                    Some(WatermarkStatus::Active(Watermark(self.current)))
                } else {
                    None
                }
            }
            None if any_idle && !self.idle => {
                self.idle = true;
                Some(WatermarkStatus::Idle)
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active(ms: i64) -> Option<WatermarkStatus> {
        Some(WatermarkStatus::Active(Watermark(ms)))
    }

    #[test]
    fn combined_watermark_is_the_minimum_and_never_regresses() {
        let mut w = InputWatermarks::new(2);
        assert_eq!(
            w.on_watermark(0, Watermark(10)),
            None,
            "channel 1 still at MIN"
        );
        assert_eq!(w.on_watermark(1, Watermark(5)), active(5));
        assert_eq!(w.on_watermark(1, Watermark(20)), active(10));
        assert_eq!(
            w.on_watermark(0, Watermark(8)),
            None,
            "a channel's watermark never goes back"
        );
        assert_eq!(w.on_watermark(0, Watermark(30)), active(20));
        assert_eq!(w.current(), Watermark(20));
    }

    #[test]
    fn idle_channels_do_not_hold_the_watermark_back() {
        let mut w = InputWatermarks::new(3);
        w.on_watermark(0, Watermark(100));
        w.on_watermark(1, Watermark(50));
        assert_eq!(w.on_idle(2), active(50));
        assert_eq!(w.on_watermark(1, Watermark(150)), active(100));
        assert_eq!(w.on_idle(0), active(150), "channel 1 alone is active");
        // Every channel idle: the task is idle.
        assert_eq!(w.on_idle(1), Some(WatermarkStatus::Idle));
        assert_eq!(w.on_idle(0), None, "idleness is announced once");
        // Data on channel 2 makes it active again, at the unchanged watermark.
        assert_eq!(w.on_data(2), active(150));
    }

    #[test]
    fn an_ended_channel_holds_the_watermark_at_its_last_one() {
        let mut w = InputWatermarks::new(2);
        w.on_watermark(0, Watermark(100));
        w.on_watermark(1, Watermark(50));
        // Channel 1 stopped (a graceful stop): its rows after 50 are still to come when
        // the job resumes, so channel 0 must not move the watermark past them.
        assert_eq!(w.on_end(1), None);
        assert_eq!(w.on_watermark(0, Watermark(200)), None);
        assert_eq!(w.current(), Watermark(50));
        // A channel read to the end sent MAX first: it holds nothing back.
        let mut w = InputWatermarks::new(2);
        w.on_watermark(0, Watermark(100));
        w.on_watermark(1, Watermark::MAX);
        assert_eq!(w.on_end(1), None);
        assert_eq!(w.current(), Watermark(100));
        assert_eq!(w.on_watermark(0, Watermark(300)), active(300));
    }

    #[test]
    fn split_watermarks_take_the_minimum_of_active_splits() {
        let t0 = Instant::now();
        let mut s = SplitWatermarks::new(2, None, t0);
        s.observe(0, Some(1_000), t0);
        assert_eq!(s.status(t0), WatermarkStatus::Active(Watermark::MIN));
        s.observe(1, Some(400), t0);
        assert_eq!(s.status(t0), WatermarkStatus::Active(Watermark(400)));
        s.observe(1, Some(300), t0);
        assert_eq!(
            s.status(t0),
            WatermarkStatus::Active(Watermark(400)),
            "max per split"
        );
        s.finish(1);
        assert_eq!(s.status(t0), WatermarkStatus::Active(Watermark(1_000)));
    }

    #[test]
    fn an_idle_split_stops_holding_the_watermark_back_after_the_timeout() {
        let t0 = Instant::now();
        let timeout = Duration::from_millis(100);
        let mut s = SplitWatermarks::new(2, Some(timeout), t0);
        s.observe(0, Some(5_000), t0);
        // Split 1 never produced anything; before the timeout it holds the watermark at MIN.
        assert_eq!(
            s.status(t0 + Duration::from_millis(50)),
            WatermarkStatus::Active(Watermark::MIN)
        );
        // Split 0 keeps producing; split 1 times out.
        s.observe(0, Some(6_000), t0 + Duration::from_millis(90));
        assert_eq!(
            s.status(t0 + Duration::from_millis(150)),
            WatermarkStatus::Active(Watermark(6_000))
        );
        // Both quiet past the timeout: idle.
        assert_eq!(
            s.status(t0 + Duration::from_millis(500)),
            WatermarkStatus::Idle
        );
        // Split 1 wakes up with old data: it counts again.
        s.observe(1, Some(10), t0 + Duration::from_millis(510));
        assert_eq!(
            s.status(t0 + Duration::from_millis(520)),
            WatermarkStatus::Active(Watermark(10))
        );
    }

    #[test]
    fn a_new_split_holds_the_watermark_until_it_produces_rows_or_idles() {
        let t0 = Instant::now();
        let timeout = Duration::from_millis(100);
        let mut s = SplitWatermarks::new(0, Some(timeout), t0);
        assert_eq!(s.status(t0), WatermarkStatus::Idle, "no split yet");
        s.grow(1, t0);
        s.observe(0, Some(5_000), t0);
        assert_eq!(s.status(t0), WatermarkStatus::Active(Watermark(5_000)));
        // A partition discovered later: it holds the watermark back (at MIN; the source
        // task never emits a watermark below one it emitted).
        s.grow(2, t0 + Duration::from_millis(10));
        assert_eq!(s.len(), 2);
        s.observe(0, Some(6_000), t0 + Duration::from_millis(50));
        assert_eq!(
            s.status(t0 + Duration::from_millis(60)),
            WatermarkStatus::Active(Watermark::MIN)
        );
        // It produces rows: it counts with its own watermark.
        s.observe(1, Some(5_500), t0 + Duration::from_millis(70));
        assert_eq!(
            s.status(t0 + Duration::from_millis(80)),
            WatermarkStatus::Active(Watermark(5_500))
        );
        // Growing to fewer splits changes nothing.
        s.grow(1, t0);
        assert_eq!(s.len(), 2);
        // Quiet past the idle timeout while split 0 goes on: split 0 alone decides.
        s.observe(0, Some(7_000), t0 + Duration::from_millis(200));
        assert_eq!(
            s.status(t0 + Duration::from_millis(210)),
            WatermarkStatus::Active(Watermark(7_000))
        );
    }

    #[test]
    fn a_source_without_splits_is_idle() {
        let s = SplitWatermarks::new(0, None, Instant::now());
        assert_eq!(s.status(Instant::now()), WatermarkStatus::Idle);
    }
}
