//! Job options set with `SET 'key' = 'value'` (Flink's names) or `--set key=value`.

use std::collections::BTreeMap;
use std::time::Duration;

use weir_connectors::options::parse_duration;
use weir_operators::window::EmitStrategy;
use weir_runtime::JobConfig;
use weir_types::keygroup::DEFAULT_MAX_PARALLELISM;

/// Options Weir reads, with what they mean; shown by `weir run --help` and in docs.
pub const KNOWN_OPTIONS: &[(&str, &str)] = &[
    ("parallelism.default", "subtasks per operator (default 1)"),
    ("pipeline.max-parallelism", "key groups for keyed state (default 128)"),
    ("pipeline.auto-watermark-interval", "how often sources emit watermarks (default 200 ms; 0 = after every batch)"),
    ("table.exec.source.idle-timeout", "a source split without rows for this long stops holding watermarks back (default 0 = never)"),
    ("table.local-time-zone", "session time zone for TIMESTAMP_LTZ and time functions (default UTC)"),
    ("table.exec.state.ttl", "unbounded aggregations drop a key's state when it was not written for this long (default 0 = keep forever)"),
    ("table.exec.mini-batch.enabled", "hold updates of unbounded aggregations back and emit them in bulk (default false)"),
    ("table.exec.mini-batch.allow-latency", "with mini-batch: longest time an update is held back (required)"),
    ("table.exec.mini-batch.size", "with mini-batch: rows applied before held updates are emitted (required)"),
    ("table.optimizer.agg-phase-strategy", "AUTO (two-phase when mini-batch is on), ONE_PHASE or TWO_PHASE: pre-aggregate before the exchange, for hot keys"),
    ("table.optimizer.distinct-agg.split.enabled", "split COUNT(DISTINCT x) of hot keys into two levels, by a hash bucket of x (default false)"),
    ("table.optimizer.distinct-agg.split.bucket-num", "buckets of a split distinct aggregation (default 1024)"),
    ("table.exec.emit.allow-lateness", "window aggregations keep a fired window this long after its end and update it with late rows (-U/+U; default 0)"),
    ("table.exec.emit.early-fire.enabled", "window aggregations emit open windows' current results before they end (default false)"),
    ("table.exec.emit.early-fire.delay", "with early fire: processing time between early emissions (0 = after every input batch)"),
    ("table.exec.emit.late-fire.enabled", "accepted with delay 0: late updates are emitted after every input batch (needs allow-lateness > 0)"),
    ("table.exec.emit.late-fire.delay", "only 0 is supported"),
    ("weir.late-data.table", "a sink table receiving every row dropped as late (operator, event time, watermark, row as JSON)"),
];

/// Prefixes of options that later parts of Weir read; accepted without a warning.
const ACCEPTED_PREFIXES: &[&str] = &[
    "execution.",
    "table.",
    "pipeline.",
    "state.",
    "restart-strategy.",
    "parallelism.",
    "sql-client.",
    "weir.",
];

/// `table.optimizer.agg-phase-strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggPhaseStrategy {
    /// Two phases when mini-batch is enabled (Flink's default).
    Auto,
    /// Never pre-aggregate.
    OnePhase,
    /// Always pre-aggregate keyed aggregations of append-only streams.
    TwoPhase,
}

/// The options of a session.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    values: BTreeMap<String, String>,
}

impl SessionOptions {
    /// Sets `key` after checking the value of options Weir reads; returns a warning for
    /// keys Weir does not know (they are kept, as Flink keeps them).
    pub fn set(&mut self, key: &str, value: &str) -> Result<Option<String>, String> {
        let key = key.trim();
        let value = value.trim();
        let checkpoint_warning = crate::checkpoint_options::check(key, value)?;
        match key {
            "parallelism.default" | "pipeline.max-parallelism" => {
                let n: usize = value.parse().map_err(|_| {
                    format!("'{key}' must be a positive whole number, not '{value}'")
                })?;
                if n == 0 || n > 32_768 {
                    return Err(format!("'{key}' must be between 1 and 32768, not {n}"));
                }
            }
            "pipeline.auto-watermark-interval"
            | "table.exec.source.idle-timeout"
            | "table.exec.state.ttl"
            | "table.exec.mini-batch.allow-latency"
            | "table.exec.emit.allow-lateness"
            | "table.exec.emit.early-fire.delay"
            | "table.exec.emit.late-fire.delay" => {
                parse_duration(value).ok_or_else(|| {
                    format!("'{key}' must be a duration such as '200 ms', '5 s' or '1 min', not '{value}'")
                })?;
            }
            "table.exec.mini-batch.enabled"
            | "table.optimizer.distinct-agg.split.enabled"
            | "table.exec.emit.early-fire.enabled"
            | "table.exec.emit.late-fire.enabled"
                if !matches!(value, "true" | "false") =>
            {
                return Err(format!("'{key}' must be 'true' or 'false', not '{value}'"));
            }
            "table.optimizer.agg-phase-strategy"
                if !matches!(
                    value.to_ascii_uppercase().as_str(),
                    "AUTO" | "ONE_PHASE" | "TWO_PHASE"
                ) =>
            {
                return Err(format!(
                    "'{key}' must be AUTO, ONE_PHASE or TWO_PHASE, not '{value}'"
                ));
            }
            "table.optimizer.distinct-agg.split.bucket-num" => {
                let n: usize = value.parse().map_err(|_| {
                    format!("'{key}' must be a positive whole number, not '{value}'")
                })?;
                if n == 0 {
                    return Err(format!("'{key}' must be at least 1"));
                }
            }
            "table.exec.mini-batch.size" => {
                let n: i64 = value.parse().map_err(|_| {
                    format!("'{key}' must be a whole number of rows, not '{value}'")
                })?;
                if n == 0 || n < -1 {
                    return Err(format!(
                        "'{key}' must be a positive number of rows, not {n}"
                    ));
                }
            }
            "table.local-time-zone" if !valid_time_zone(value) => {
                return Err(format!(
                    "'{value}' is not a time zone: use a region such as 'Asia/Shanghai', 'UTC', or an offset such as '+08:00'"
                ));
            }
            _ => {}
        }
        self.values.insert(key.to_string(), value.to_string());
        if checkpoint_warning.is_some() {
            return Ok(checkpoint_warning);
        }
        let known = KNOWN_OPTIONS.iter().any(|(k, _)| *k == key)
            || ACCEPTED_PREFIXES.iter().any(|p| key.starts_with(p));
        Ok((!known)
            .then(|| format!("option '{key}' is not used by Weir; it is kept but has no effect")))
    }

    /// Removes `key`, or every option.
    pub fn reset(&mut self, key: Option<&str>) {
        match key {
            Some(k) => {
                self.values.remove(k.trim());
            }
            None => self.values.clear(),
        }
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// `parallelism.default`.
    pub fn parallelism(&self) -> usize {
        self.get("parallelism.default")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
    }

    /// `table.local-time-zone`, `UTC` by default.
    pub fn time_zone(&self) -> String {
        self.get("table.local-time-zone")
            .unwrap_or("UTC")
            .to_string()
    }

    /// `table.exec.state.ttl` in milliseconds; `None` when off (unset or 0).
    pub fn state_ttl_ms(&self) -> Option<i64> {
        self.get("table.exec.state.ttl")
            .and_then(parse_duration)
            .map(|d| d.as_millis() as i64)
            .filter(|&ms| ms > 0)
    }

    /// The bucket count of split distinct aggregation
    /// (`table.optimizer.distinct-agg.split.bucket-num`, default 1024) when
    /// `table.optimizer.distinct-agg.split.enabled` is true; `None` when it is off.
    pub fn distinct_split_buckets(&self) -> Option<usize> {
        if self.get("table.optimizer.distinct-agg.split.enabled") != Some("true") {
            return None;
        }
        Some(
            self.get("table.optimizer.distinct-agg.split.bucket-num")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1024),
        )
    }

    /// `table.optimizer.agg-phase-strategy` (`AUTO` when unset).
    pub fn agg_phase_strategy(&self) -> AggPhaseStrategy {
        match self
            .get("table.optimizer.agg-phase-strategy")
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            Some("ONE_PHASE") => AggPhaseStrategy::OnePhase,
            Some("TWO_PHASE") => AggPhaseStrategy::TwoPhase,
            _ => AggPhaseStrategy::Auto,
        }
    }

    /// The mini-batch settings when `table.exec.mini-batch.enabled` is true. As in
    /// Flink, allow-latency and size must then both be set to positive values.
    pub fn mini_batch(&self) -> Result<Option<(i64, usize)>, String> {
        if self.get("table.exec.mini-batch.enabled") != Some("true") {
            return Ok(None);
        }
        let latency = self
            .get("table.exec.mini-batch.allow-latency")
            .and_then(parse_duration)
            .map(|d| d.as_millis() as i64)
            .filter(|&ms| ms > 0);
        let size = self
            .get("table.exec.mini-batch.size")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|&n| n > 0);
        match (latency, size) {
            (Some(latency), Some(size)) => Ok(Some((latency, size as usize))),
            _ => Err("'table.exec.mini-batch.enabled' is true, so 'table.exec.mini-batch.allow-latency' (e.g. '2 s') and 'table.exec.mini-batch.size' (e.g. '5000') must both be set to positive values".into()),
        }
    }

    /// The emission of window aggregations (`table.exec.emit.*`). As in Flink, an
    /// enabled early fire needs a delay; late fire is accepted with delay 0 (late updates
    /// after every input batch, which allowed lateness alone already does) and needs
    /// allowed lateness.
    pub fn emit_strategy(&self) -> Result<EmitStrategy, String> {
        let millis = |key: &str| -> Option<i64> {
            self.get(key)
                .and_then(parse_duration)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        };
        let allow_lateness_ms = millis("table.exec.emit.allow-lateness").unwrap_or(0);
        let early_fire_delay_ms = if self.get("table.exec.emit.early-fire.enabled") == Some("true")
        {
            Some(millis("table.exec.emit.early-fire.delay").ok_or(
                "'table.exec.emit.early-fire.enabled' is true, so 'table.exec.emit.early-fire.delay' must be set (e.g. '1 s', or '0' to emit after every input batch)",
            )?)
        } else {
            None
        };
        if self.get("table.exec.emit.late-fire.enabled") == Some("true") {
            if allow_lateness_ms <= 0 {
                return Err("'table.exec.emit.late-fire.enabled' is true, so 'table.exec.emit.allow-lateness' must be greater than 0 (how long fired windows accept late rows)".into());
            }
            if millis("table.exec.emit.late-fire.delay").unwrap_or(0) != 0 {
                return Err("'table.exec.emit.late-fire.delay' must be 0 in Weir: late rows within the allowed lateness update their windows after every input batch".into());
            }
        }
        Ok(EmitStrategy {
            allow_lateness_ms,
            early_fire_delay_ms,
        })
    }

    /// `weir.late-data.table`: the sink table receiving rows dropped as late.
    pub fn late_data_table(&self) -> Option<&str> {
        self.get("weir.late-data.table").filter(|t| !t.is_empty())
    }

    /// The runtime settings these options describe; `base_dir` (the script's folder)
    /// resolves relative checkpoint folders.
    pub fn job_config(&self, base_dir: &std::path::Path) -> JobConfig {
        let duration = |key: &str| self.get(key).and_then(parse_duration);
        JobConfig {
            auto_watermark_interval: duration("pipeline.auto-watermark-interval")
                .unwrap_or(Duration::from_millis(200)),
            idle_timeout: duration("table.exec.source.idle-timeout").filter(|d| !d.is_zero()),
            max_parallelism: self
                .get("pipeline.max-parallelism")
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_MAX_PARALLELISM),
            checkpoints: crate::checkpoint_options::checkpoint_config(self, base_dir),
            restart: crate::checkpoint_options::restart_strategy(self),
            state_backend: crate::checkpoint_options::state_backend(self, base_dir),
            ..JobConfig::default()
        }
    }

    /// Every option that is set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

fn valid_time_zone(zone: &str) -> bool {
    zone.parse::<arrow::array::timezone::Tz>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_options_are_checked_and_unknown_ones_warned() {
        let mut o = SessionOptions::default();
        assert_eq!(o.set("parallelism.default", "4"), Ok(None));
        assert_eq!(o.parallelism(), 4);
        assert!(o
            .set("parallelism.default", "zero")
            .unwrap_err()
            .contains("positive whole number"));
        assert!(o
            .set("table.exec.source.idle-timeout", "5 s")
            .unwrap()
            .is_none());
        assert_eq!(
            o.job_config(std::path::Path::new(".")).idle_timeout,
            Some(Duration::from_secs(5))
        );
        assert!(o.set("table.local-time-zone", "Mars/Olympus").is_err());
        assert!(o.set("table.local-time-zone", "Asia/Shanghai").is_ok());
        assert!(o
            .set("my.option", "x")
            .unwrap()
            .unwrap()
            .contains("not used"));
        o.reset(Some("parallelism.default"));
        assert_eq!(o.parallelism(), 1);
    }

    #[test]
    fn emit_options_make_an_emit_strategy() {
        let mut o = SessionOptions::default();
        assert_eq!(o.emit_strategy(), Ok(EmitStrategy::default()));
        assert!(o.set("table.exec.emit.allow-lateness", "soon").is_err());
        o.set("table.exec.emit.allow-lateness", "5 s").unwrap();
        assert_eq!(o.emit_strategy().unwrap().allow_lateness_ms, 5_000);
        o.set("table.exec.emit.early-fire.enabled", "true").unwrap();
        assert!(o.emit_strategy().unwrap_err().contains("early-fire.delay"));
        o.set("table.exec.emit.early-fire.delay", "0").unwrap();
        assert_eq!(o.emit_strategy().unwrap().early_fire_delay_ms, Some(0));
        o.set("table.exec.emit.late-fire.enabled", "true").unwrap();
        o.set("table.exec.emit.late-fire.delay", "1 s").unwrap();
        assert!(o.emit_strategy().unwrap_err().contains("must be 0"));
        o.set("table.exec.emit.late-fire.delay", "0 ms").unwrap();
        assert!(o.emit_strategy().is_ok());
        o.set("table.exec.emit.allow-lateness", "0").unwrap();
        assert!(o.emit_strategy().unwrap_err().contains("greater than 0"));
    }
}
