//! Restart strategies (`restart-strategy.type`): whether, and after how long, a failed
//! job is restarted in-process from its latest completed checkpoint.

use std::time::Duration;

/// `restart-strategy.type` and its options, with Flink's names and defaults.
#[derive(Debug, Clone, PartialEq)]
pub enum RestartStrategy {
    /// `none`: a failure ends the job.
    None,
    /// `fixed-delay`: up to `attempts` restarts, `delay` apart
    /// (`restart-strategy.fixed-delay.attempts`, `.delay`).
    FixedDelay {
        /// Restarts allowed.
        attempts: u32,
        /// Wait before each restart.
        delay: Duration,
    },
    /// `exponential-delay`: the wait starts at `initial_backoff` and is multiplied by
    /// `multiplier` after each restart, up to `max_backoff`; at most `attempts`
    /// restarts (`restart-strategy.exponential-delay.*`).
    ExponentialDelay {
        /// First wait.
        initial_backoff: Duration,
        /// Largest wait.
        max_backoff: Duration,
        /// Growth of the wait per restart.
        multiplier: f64,
        /// Restarts allowed.
        attempts: u32,
    },
}

impl Default for RestartStrategy {
    /// Flink 2's default for a job with checkpoints: exponential delay from 1 s to
    /// 1 min, multiplied by 1.5, without limit on the number of restarts.
    fn default() -> Self {
        RestartStrategy::ExponentialDelay {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            multiplier: 1.5,
            attempts: u32::MAX,
        }
    }
}

impl RestartStrategy {
    /// The wait before restart number `restart` (1 for the first), or `None` when no
    /// more restarts are allowed.
    pub fn delay_before(&self, restart: u32) -> Option<Duration> {
        match *self {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay } => {
                (restart <= attempts).then_some(delay)
            }
            RestartStrategy::ExponentialDelay {
                initial_backoff,
                max_backoff,
                multiplier,
                attempts,
            } => {
                if restart > attempts {
                    return None;
                }
                let factor = multiplier
                    .max(1.0)
                    .powi(restart.saturating_sub(1).min(64) as i32);
                let millis = (initial_backoff.as_millis() as f64 * factor)
                    .min(max_backoff.as_millis() as f64);
                Some(Duration::from_millis(millis as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_the_strategy_and_stop_after_the_attempts() {
        assert_eq!(RestartStrategy::None.delay_before(1), None);
        let fixed = RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_millis(10),
        };
        assert_eq!(fixed.delay_before(1), Some(Duration::from_millis(10)));
        assert_eq!(fixed.delay_before(2), Some(Duration::from_millis(10)));
        assert_eq!(fixed.delay_before(3), None);
        let exp = RestartStrategy::ExponentialDelay {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            multiplier: 2.0,
            attempts: 10,
        };
        let delays: Vec<_> = (1..=4)
            .map(|r| exp.delay_before(r).unwrap().as_millis())
            .collect();
        assert_eq!(delays, vec![100, 200, 300, 300]);
        assert_eq!(exp.delay_before(11), None);
        assert!(RestartStrategy::default().delay_before(1_000_000).is_some());
    }
}
