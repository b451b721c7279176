//! The checkpoint, state backend and restart options (Flink's names): checked when they
//! are `SET`, and turned into the runtime's [`CheckpointConfig`] and
//! [`RestartStrategy`].

use std::path::Path;
use std::time::Duration;

use weir_connectors::options::parse_duration;
use weir_runtime::{
    CheckpointConfig, CheckpointingMode, RestartStrategy, RocksConfig, StateBackend,
};

use crate::config::SessionOptions;

/// Options this module reads, with what they mean (for `--help` and docs).
pub const CHECKPOINT_OPTIONS: &[(&str, &str)] = &[
    ("execution.checkpointing.interval", "take a checkpoint this often (default: no checkpoints); enables exactly-once recovery"),
    ("execution.checkpointing.dir", "where checkpoints are stored: a folder or file:// URL (default .weir/checkpoints/<script name> beside the script); also state.checkpoints.dir"),
    ("execution.checkpointing.mode", "EXACTLY_ONCE (aligned barriers, default) or AT_LEAST_ONCE"),
    ("execution.checkpointing.timeout", "a checkpoint not complete after this long fails (default 10 min)"),
    ("execution.checkpointing.min-pause", "least time between the end of a checkpoint and the start of the next (default 0)"),
    ("execution.checkpointing.tolerable-failed-checkpoints", "consecutive failed checkpoints tolerated before the job fails (default 0)"),
    ("execution.checkpointing.num-retained", "completed checkpoints kept (default 1); also state.checkpoints.num-retained"),
    ("execution.checkpointing.savepoint-dir", "where savepoints are written (--savepoint-dir overrides it); also state.savepoints.dir"),
    ("execution.checkpointing.incremental", "a checkpoint stores only what changed since the previous one: with rocksdb the files earlier checkpoints did not store, with hashmap the keys changed and removed (default false); also state.backend.incremental"),
    ("state.backend.type", "hashmap (state in memory, the default) or rocksdb (GROUP BY state on local disk, larger than memory); also state.backend"),
    ("state.backend.rocksdb.localdir", "where rocksdb keeps its working files (default: the system's temporary folder)"),
    ("weir.state.rocksdb.cache-keys", "keys an aggregation keeps in memory on top of rocksdb (default 100000)"),
    ("restart-strategy.type", "with checkpoints, what a failure does: exponential-delay (default), fixed-delay or none"),
    ("restart-strategy.fixed-delay.attempts", "restarts allowed (default 1)"),
    ("restart-strategy.fixed-delay.delay", "wait before each restart (default 1 s)"),
    ("restart-strategy.exponential-delay.initial-backoff", "first wait (default 1 s)"),
    ("restart-strategy.exponential-delay.max-backoff", "longest wait (default 1 min)"),
    ("restart-strategy.exponential-delay.backoff-multiplier", "growth of the wait per restart (default 1.5)"),
    ("restart-strategy.exponential-delay.attempts", "restarts allowed (default: no limit)"),
];

/// Checks the value of one of this module's options; `Ok(Some(warning))` for a value
/// that is accepted but has no effect.
pub fn check(key: &str, value: &str) -> Result<Option<String>, String> {
    let duration = || {
        parse_duration(value).map(|_| None).ok_or_else(|| {
            format!("'{key}' must be a duration such as '10 s' or '1 min', not '{value}'")
        })
    };
    let count = |least: u64| -> Result<Option<String>, String> {
        match value.parse::<u64>() {
            Ok(n) if n >= least => Ok(None),
            _ => Err(format!(
                "'{key}' must be a whole number of at least {least}, not '{value}'"
            )),
        }
    };
    match key {
        "execution.checkpointing.interval"
        | "execution.checkpointing.timeout"
        | "execution.checkpointing.min-pause"
        | "restart-strategy.fixed-delay.delay"
        | "restart-strategy.exponential-delay.initial-backoff"
        | "restart-strategy.exponential-delay.max-backoff" => duration(),
        "execution.checkpointing.mode" => match value.to_ascii_uppercase().as_str() {
            "EXACTLY_ONCE" | "AT_LEAST_ONCE" => Ok(None),
            _ => Err(format!(
                "'{key}' must be EXACTLY_ONCE or AT_LEAST_ONCE, not '{value}'"
            )),
        },
        "execution.checkpointing.tolerable-failed-checkpoints"
        | "restart-strategy.fixed-delay.attempts"
        | "restart-strategy.exponential-delay.attempts" => count(0),
        "execution.checkpointing.num-retained" | "state.checkpoints.num-retained" => count(1),
        "restart-strategy.exponential-delay.backoff-multiplier" => match value.parse::<f64>() {
            Ok(m) if m >= 1.0 => Ok(None),
            _ => Err(format!(
                "'{key}' must be a number of at least 1, not '{value}'"
            )),
        },
        "execution.checkpointing.incremental" | "state.backend.incremental" => {
            match value.to_ascii_lowercase().as_str() {
                "false" | "true" => Ok(None),
                _ => Err(format!("'{key}' must be 'true' or 'false', not '{value}'")),
            }
        }
        "state.backend.type" | "state.backend" => match value.to_ascii_lowercase().as_str() {
            "hashmap" | "rocksdb" => Ok(None),
            "filesystem" | "memory" | "jobmanager" => Ok(Some(format!(
                "'{key}' = '{value}' is Flink 1.x's name of the in-memory backend; Weir uses 'hashmap'"
            ))),
            _ => Err(format!("'{key}' must be 'hashmap' or 'rocksdb', not '{value}'")),
        },
        "weir.state.rocksdb.cache-keys" => count(1),
        "restart-strategy.type" | "restart-strategy" => match restart_kind(value) {
            Some(_) => Ok(None),
            None => Err(format!(
                "'{key}' must be exponential-delay, fixed-delay or none, not '{value}'"
            )),
        },
        _ => Ok(None),
    }
}

#[derive(Clone, Copy)]
enum RestartKind {
    None,
    FixedDelay,
    ExponentialDelay,
}

fn restart_kind(value: &str) -> Option<RestartKind> {
    match value.to_ascii_lowercase().as_str() {
        "none" | "off" | "disable" => Some(RestartKind::None),
        "fixed-delay" | "fixeddelay" => Some(RestartKind::FixedDelay),
        "exponential-delay" | "exponentialdelay" => Some(RestartKind::ExponentialDelay),
        _ => None,
    }
}

/// The state backend `state.backend.type` names, with its settings; a relative
/// `state.backend.rocksdb.localdir` is resolved against `base_dir`.
pub fn state_backend(options: &SessionOptions, base_dir: &Path) -> StateBackend {
    let either = |a: &str, b: &str| options.get(a).or_else(|| options.get(b));
    let rocksdb = either("state.backend.type", "state.backend")
        .is_some_and(|v| v.eq_ignore_ascii_case("rocksdb"));
    let incremental = either(
        "execution.checkpointing.incremental",
        "state.backend.incremental",
    )
    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !rocksdb {
        return if incremental {
            StateBackend::IncrementalHashMap
        } else {
            StateBackend::HashMap
        };
    }
    let defaults = RocksConfig::default();
    StateBackend::RocksDb(RocksConfig {
        local_dir: options
            .get("state.backend.rocksdb.localdir")
            .map(|dir| base_dir.join(dir))
            .unwrap_or(defaults.local_dir),
        incremental,
        cache_keys: options
            .get("weir.state.rocksdb.cache-keys")
            .and_then(|v| v.parse().ok())
            .unwrap_or(defaults.cache_keys),
    })
}

/// The checkpoint settings, or `None` when `execution.checkpointing.interval` is unset
/// or 0. A relative folder is resolved against `base_dir` (the script's folder); when
/// no folder is set, `dir` is left empty for the caller to choose (the CLI uses
/// `.weir/checkpoints/<script name>` beside the script).
pub fn checkpoint_config(options: &SessionOptions, base_dir: &Path) -> Option<CheckpointConfig> {
    let duration = |key: &str| options.get(key).and_then(parse_duration);
    let interval = duration("execution.checkpointing.interval").filter(|d| !d.is_zero())?;
    let either = |a: &str, b: &str| options.get(a).or_else(|| options.get(b));
    let resolve = |dir: &str| {
        if dir.contains("://") || Path::new(dir).is_absolute() {
            dir.to_string()
        } else {
            base_dir.join(dir).to_string_lossy().into_owned()
        }
    };
    let mut config = CheckpointConfig::new(
        either("execution.checkpointing.dir", "state.checkpoints.dir")
            .map(resolve)
            .unwrap_or_default(),
        interval,
    );
    if options
        .get("execution.checkpointing.mode")
        .is_some_and(|m| m.eq_ignore_ascii_case("AT_LEAST_ONCE"))
    {
        config.mode = CheckpointingMode::AtLeastOnce;
    }
    if let Some(timeout) = duration("execution.checkpointing.timeout").filter(|d| !d.is_zero()) {
        config.timeout = timeout;
    }
    if let Some(pause) = duration("execution.checkpointing.min-pause") {
        config.min_pause = pause;
    }
    if let Some(n) = options
        .get("execution.checkpointing.tolerable-failed-checkpoints")
        .and_then(|v| v.parse().ok())
    {
        config.tolerable_failures = n;
    }
    if let Some(n) = either(
        "execution.checkpointing.num-retained",
        "state.checkpoints.num-retained",
    )
    .and_then(|v| v.parse().ok())
    {
        config.num_retained = n;
    }
    config.savepoint_dir = either(
        "execution.checkpointing.savepoint-dir",
        "state.savepoints.dir",
    )
    .map(resolve);
    Some(config)
}

/// `restart-strategy.*`, with Flink's defaults for each kind.
pub fn restart_strategy(options: &SessionOptions) -> RestartStrategy {
    let duration =
        |key: &str, default: Duration| options.get(key).and_then(parse_duration).unwrap_or(default);
    let attempts = |key: &str, default: u32| {
        options
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let kind = options
        .get("restart-strategy.type")
        .or_else(|| options.get("restart-strategy"))
        .and_then(restart_kind)
        .unwrap_or(RestartKind::ExponentialDelay);
    match kind {
        RestartKind::None => RestartStrategy::None,
        RestartKind::FixedDelay => RestartStrategy::FixedDelay {
            attempts: attempts("restart-strategy.fixed-delay.attempts", 1),
            delay: duration("restart-strategy.fixed-delay.delay", Duration::from_secs(1)),
        },
        RestartKind::ExponentialDelay => RestartStrategy::ExponentialDelay {
            initial_backoff: duration(
                "restart-strategy.exponential-delay.initial-backoff",
                Duration::from_secs(1),
            ),
            max_backoff: duration(
                "restart-strategy.exponential-delay.max-backoff",
                Duration::from_secs(60),
            ),
            multiplier: options
                .get("restart-strategy.exponential-delay.backoff-multiplier")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1.5),
            attempts: attempts("restart-strategy.exponential-delay.attempts", u32::MAX),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_off_without_an_interval_and_take_flink_defaults() {
        let mut o = SessionOptions::default();
        assert!(checkpoint_config(&o, Path::new("/jobs")).is_none());
        o.set("execution.checkpointing.interval", "10 s").unwrap();
        o.set("state.checkpoints.dir", "ckpt").unwrap();
        let c = checkpoint_config(&o, Path::new("/jobs")).unwrap();
        assert_eq!(c.interval, Duration::from_secs(10));
        assert_eq!(c.dir, "/jobs/ckpt");
        assert_eq!(c.mode, CheckpointingMode::ExactlyOnce);
        assert_eq!(c.num_retained, 1);
        assert_eq!(c.timeout, Duration::from_secs(600));
        o.set("execution.checkpointing.dir", "s3://bucket/x")
            .unwrap();
        o.set("execution.checkpointing.mode", "at_least_once")
            .unwrap();
        o.set("execution.checkpointing.num-retained", "3").unwrap();
        let c = checkpoint_config(&o, Path::new("/jobs")).unwrap();
        assert_eq!(c.dir, "s3://bucket/x");
        assert_eq!(c.mode, CheckpointingMode::AtLeastOnce);
        assert_eq!(c.num_retained, 3);
        o.set("execution.checkpointing.interval", "0").unwrap();
        assert!(checkpoint_config(&o, Path::new("/jobs")).is_none());
    }

    #[test]
    fn bad_values_are_refused_with_the_option_named() {
        let mut o = SessionOptions::default();
        for (key, value, says) in [
            (
                "execution.checkpointing.interval",
                "often",
                "must be a duration",
            ),
            (
                "execution.checkpointing.mode",
                "SOMETIMES",
                "EXACTLY_ONCE or AT_LEAST_ONCE",
            ),
            ("execution.checkpointing.num-retained", "0", "at least 1"),
            ("state.backend.type", "leveldb", "'hashmap' or 'rocksdb'"),
            ("restart-strategy.type", "sometimes", "fixed-delay"),
        ] {
            let error = o.set(key, value).unwrap_err();
            assert!(error.contains(key) && error.contains(says), "{error}");
        }
        assert_eq!(
            o.set("execution.checkpointing.incremental", "true"),
            Ok(None)
        );
        // Incremental checkpoints of the in-memory backend (Weir's own; Flink's
        // hashmap backend has none).
        assert_eq!(
            state_backend(&o, Path::new("/jobs")),
            StateBackend::IncrementalHashMap
        );
        o.set("execution.checkpointing.incremental", "false")
            .unwrap();
        assert_eq!(state_backend(&o, Path::new("/jobs")), StateBackend::HashMap);
        o.set("execution.checkpointing.incremental", "true")
            .unwrap();
        o.set("state.backend.type", "rocksdb").unwrap();
        o.set("state.backend.rocksdb.localdir", "tmp/rocks")
            .unwrap();
        let StateBackend::RocksDb(config) = state_backend(&o, Path::new("/jobs")) else {
            panic!("rocksdb expected");
        };
        assert!(config.incremental);
        assert_eq!(config.local_dir, Path::new("/jobs/tmp/rocks"));
    }

    #[test]
    fn restart_strategies_have_flink_defaults() {
        let mut o = SessionOptions::default();
        assert_eq!(restart_strategy(&o), RestartStrategy::default());
        o.set("restart-strategy.type", "fixed-delay").unwrap();
        assert_eq!(
            restart_strategy(&o),
            RestartStrategy::FixedDelay {
                attempts: 1,
                delay: Duration::from_secs(1)
            }
        );
        o.set("restart-strategy.type", "none").unwrap();
        assert_eq!(restart_strategy(&o), RestartStrategy::None);
    }
}
