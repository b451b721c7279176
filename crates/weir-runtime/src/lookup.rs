//! Lookup tables: external tables (Redis, PostgreSQL) that a lookup join queries by key
//! while it runs, as Flink's `LookupTableSource`.
//!
//! A connector implements [`LookupTableFactory`] (one per joined table) and
//! [`LookupTable`] (one client per join subtask); the lookup join operator only sees these
//! traits, so operators do not depend on any store's client. The trait lives here, beside
//! [`crate::SourceFactory`], because operators depend on the runtime and not on connectors.
//!
//! The operator calls [`LookupTable::lookup`] once per input batch with the distinct keys
//! that its cache misses: a store answers them in one round trip (Redis `MGET` or a
//! pipeline, PostgreSQL `... WHERE key = ANY(...)`). The options that control caching,
//! retries and timeouts ([`LookupOptions`]) are Flink's `lookup.*` table options, read by
//! the connector with the table's other options.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use weir_types::{EngineError, EngineResult};

/// Why a lookup failed.
#[derive(Debug)]
pub enum LookupError {
    /// The store could not be reached or did not answer (refused connection, broken
    /// connection, timeout): the operator retries with backoff.
    Unavailable(String),
    /// Anything else (a value that does not decode, a missing column, a refused query):
    /// retrying would not help, the job fails at once.
    Failed(EngineError),
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::Unavailable(m) => f.write_str(m),
            LookupError::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// A client of one lookup table, used by one join subtask. Connects lazily (on the first
/// lookup) and reconnects after a failure.
#[async_trait]
pub trait LookupTable: Send + Sync {
    /// The rows of the table whose key columns equal one of the rows of `keys`.
    ///
    /// `keys` holds distinct rows without NULLs, with the lookup key columns (the
    /// factory's [`LookupTableFactory::key_columns`], in that order and with the table's
    /// types). The answer has the table's columns ([`LookupTableFactory::schema`]), in
    /// any order; a key may have several rows (a non-unique key of a database table) or
    /// none.
    async fn lookup(&self, keys: RecordBatch) -> Result<RecordBatch, LookupError>;
}

/// Creates the clients of one lookup table.
pub trait LookupTableFactory: Send + Sync {
    /// The table's columns, as every lookup answers them.
    fn schema(&self) -> SchemaRef;

    /// The columns the table is looked up by.
    fn key_columns(&self) -> &[String];

    /// What the table is and where, for messages: e.g. `redis table 'customers' at
    /// 127.0.0.1:6379 (db 0)`.
    fn describe(&self) -> String;

    /// What to check when the store cannot be reached, for the message that fails the
    /// job: e.g. `check that redis-server runs and accepts connections there, and the
    /// table's 'url' and 'password' options`.
    fn unreachable_hint(&self) -> String;

    /// A new client (does not connect yet).
    fn create(&self) -> EngineResult<Arc<dyn LookupTable>>;
}

/// `lookup.cache` = `PARTIAL`: Flink's partial cache, per join subtask.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupCacheOptions {
    /// `lookup.partial-cache.max-rows`: the most keys cached (least recently used go first).
    pub max_rows: usize,
    /// `lookup.partial-cache.expire-after-write`.
    pub expire_after_write: Option<Duration>,
    /// `lookup.partial-cache.expire-after-access`.
    pub expire_after_access: Option<Duration>,
    /// `lookup.partial-cache.cache-missing-key` (default true): also cache that a key has
    /// no row.
    pub cache_missing_key: bool,
}

/// How a lookup join uses its table: Flink's `lookup.*` options.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupOptions {
    /// `lookup.cache` = `PARTIAL` (`Some`) or `NONE` (`None`, the default).
    pub cache: Option<LookupCacheOptions>,
    /// `lookup.max-retries` (default 3): attempts after the first failed one.
    pub max_retries: u32,
    /// `lookup.timeout` (default 10 s): the longest one attempt may take.
    pub timeout: Duration,
}

impl Default for LookupOptions {
    fn default() -> Self {
        LookupOptions {
            cache: None,
            max_retries: 3,
            timeout: Duration::from_secs(10),
        }
    }
}

impl LookupOptions {
    /// The pause before retry `retry` (1-based): 500 ms times the retry's number, at most
    /// 5 s, so that the default 3 retries wait 3 s in all.
    pub fn backoff(retry: u32) -> Duration {
        Duration::from_millis(500 * u64::from(retry)).min(Duration::from_secs(5))
    }

    /// For `explain`: e.g. `cache PARTIAL (max-rows 10000, expire-after-write 1 min,
    /// missing keys cached); 3 retries; timeout 10 s`.
    pub fn describe(&self) -> String {
        let cache = match &self.cache {
            None => "cache NONE".to_string(),
            Some(c) => {
                let mut parts = vec![format!("max-rows {}", c.max_rows)];
                if let Some(d) = c.expire_after_write {
                    parts.push(format!("expire-after-write {}", human(d)));
                }
                if let Some(d) = c.expire_after_access {
                    parts.push(format!("expire-after-access {}", human(d)));
                }
                parts.push(if c.cache_missing_key {
                    "missing keys cached".into()
                } else {
                    "missing keys not cached".into()
                });
                format!("cache PARTIAL ({})", parts.join(", "))
            }
        };
        format!(
            "{cache}; {} retries; timeout {}",
            self.max_retries,
            human(self.timeout)
        )
    }
}

/// A duration for people: `1 min`, `500 ms`, `1.5 s`.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 60_000 && ms.is_multiple_of(60_000) {
        format!("{} min", ms / 60_000)
    } else if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else if ms >= 1000 {
        format!("{} s", d.as_secs_f64())
    } else {
        format!("{ms} ms")
    }
}
