//! The `redis` connector: a table kept in Redis as key-value pairs, usable as the table
//! of a lookup join and as an upsert sink (not as a scan source).
//!
//! ```sql
//! CREATE TABLE customers (id BIGINT, name STRING, country STRING,
//!                         PRIMARY KEY (id) NOT ENFORCED)
//! WITH ('connector' = 'redis', 'url' = 'redis://127.0.0.1:6379/0',
//!       'key-prefix' = 'customer:', 'value.layout' = 'hash');
//! ```
//!
//! The PRIMARY KEY columns form the Redis key and the other columns its value; see
//! [`codec`] for the encodings (`value.layout` = `string`, a JSON value, or `hash`).
//!
//! Options:
//! - `url`: `redis://[:password@]host:port[/db]`; or `host` (default `127.0.0.1`) and
//!   `port` (default 6379); `password`;
//! - `key-prefix` (default empty), `value.layout` (`string`, default, or `hash`),
//!   `format` (`json`, the default and only format of string values) and `json.*`;
//! - sink: `sink.ttl` (expiry of every written key; none by default),
//!   `sink.buffer-flush.max-rows` (default 100), `sink.buffer-flush.interval` (default
//!   1 s), `sink.max-retries` (default 3), `sink.parallelism`;
//! - lookup: Flink's `lookup.*` options ([`crate::lookup_options`]).
//!
//! The sink writes `+I` and `+U` rows with `SET` (string layout) or `DEL` + `HSET`
//! (hash layout), with `PX` / `PEXPIRE` when `sink.ttl` is set, and `-D` rows with `DEL`;
//! `-U` rows are skipped. Each flush is one `MULTI`/`EXEC` pipeline; see
//! [`crate::store_sink`] for when it flushes and its delivery guarantee.

mod client;
pub mod codec;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};
use weir_runtime::{LookupTable, LookupTableFactory};
use weir_types::{ChangelogKind, EngineResult};

use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::lookup_options::read_lookup_options;
use crate::options::Options;
use crate::store_sink::{self, FlushPolicy, StoreWriter};
use crate::{LookupBinding, SinkBinding};
use client::{RedisClient, RedisLookup, RedisWriter};
use codec::{Codec, Layout};

/// A redis table's options, read and checked.
struct RedisTable {
    info: ConnectionInfo,
    address: String,
    codec: Arc<Codec>,
    ttl: Option<Duration>,
    flush: FlushPolicy,
    lookup: weir_runtime::LookupOptions,
    parallelism: Option<usize>,
}

fn hint(address: &str) -> String {
    format!(
        "check that redis-server runs and accepts connections at {address}, and the table's \
         'url' (or 'host' and 'port') and 'password' options"
    )
}

impl RedisTable {
    fn read(table: &TableDescriptor) -> Result<RedisTable, ConnectorError> {
        let mut options = Options::new(table, "redis");
        let unsupported = |message: String| ConnectorError::Unsupported {
            table: table.name.clone(),
            message,
        };
        let url = options.get("url");
        let host = options.get("host");
        let port: Option<u16> = options.parse("port", "a port number")?;
        let password = options.get("password");
        let mut info: ConnectionInfo = match url {
            Some(url) => {
                if host.is_some() || port.is_some() {
                    return Err(unsupported(
                        "set either 'url' or 'host' and 'port', not both".into(),
                    ));
                }
                url.into_connection_info().map_err(|e| {
                    options.invalid("url", url, &format!("expected redis://host:port/db ({e})"))
                })?
            }
            None => (host.unwrap_or("127.0.0.1"), port.unwrap_or(6379))
                .into_connection_info()
                .map_err(|e| options.invalid("host", host.unwrap_or_default(), &e.to_string()))?,
        };
        if let Some(password) = password {
            info.redis.password = Some(password.to_string());
        }
        let address = match &info.addr {
            ConnectionAddr::Tcp(host, port) => format!("{host}:{port} (db {})", info.redis.db),
            other => format!("{other} (db {})", info.redis.db),
        };
        let prefix = options.get("key-prefix").unwrap_or_default().to_string();
        let layout_name = options.get("value.layout").unwrap_or("string");
        let format = options.get("format").unwrap_or("json");
        options.allow_prefix("json.");
        let layout =
            match layout_name.to_ascii_lowercase().as_str() {
                "string" => {
                    let config = weir_formats::format_options(format, &table.options)
                        .map_err(|e| options.invalid("format", format, &e.to_string()))?;
                    Layout::String(codec::json_options(&config).ok_or_else(|| {
                        options.invalid(
                            "format",
                            format,
                            "string values are JSON: use 'format' = 'json'",
                        )
                    })?)
                }
                "hash" => {
                    if options.table().options.contains_key("format") {
                        return Err(unsupported(
                        "'value.layout' = 'hash' stores a field per column and takes no 'format'"
                            .into(),
                    ));
                    }
                    Layout::Hash
                }
                _ => return Err(options.invalid(
                    "value.layout",
                    layout_name,
                    "expected 'string' (a JSON value per key) or 'hash' (a hash field per column)",
                )),
            };
        let ttl = options.duration("sink.ttl")?;
        let flush = FlushPolicy::read(
            &mut options,
            (100, Duration::from_secs(1), 3),
            format!("redis at {address}"),
            hint(&address),
        )?;
        let lookup = read_lookup_options(&mut options)?;
        let parallelism = crate::filesystem::sink_parallelism(&mut options)?;
        options.finish()?;
        if let Some(m) = table.metadata.first() {
            return Err(unsupported(format!(
                "connector 'redis' has no metadata; remove metadata column '{}'",
                m.column
            )));
        }
        if table.primary_key.is_empty() {
            return Err(unsupported(
                "a redis table needs a PRIMARY KEY (...) NOT ENFORCED: its columns form the \
                 Redis key, the other columns the value"
                    .into(),
            ));
        }
        let key_columns = table
            .primary_key
            .iter()
            .map(|k| {
                table.schema.index_of(k).map_err(|_| {
                    unsupported(format!(
                        "PRIMARY KEY column '{k}' is not a column of the table"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let codec =
            Codec::new(table.schema.clone(), key_columns, prefix, layout).map_err(unsupported)?;
        Ok(RedisTable {
            info,
            address,
            codec: Arc::new(codec),
            ttl,
            flush,
            lookup,
            parallelism,
        })
    }
}

/// Creates a redis sink for `table`: upserts by primary key, for append-only and
/// updating streams alike.
pub fn create_sink(
    table: &TableDescriptor,
    _changelog: ChangelogKind,
) -> Result<SinkBinding, ConnectorError> {
    let redis = RedisTable::read(table)?;
    let description = format!(
        "redis upsert sink at {}; key {}{}; flush every {} rows{}, on checkpoints and at end; \
         at-least-once (idempotent upserts)",
        redis.address,
        redis.codec.prefix,
        table.primary_key.join(codec::KEY_SEPARATOR),
        redis.flush.max_rows,
        redis
            .flush
            .interval
            .map(|d| format!(" or {d:?}"))
            .unwrap_or_default()
    );
    let (info, codec, ttl_ms) = (
        redis.info.clone(),
        redis.codec.clone(),
        redis.ttl.map(|d| d.as_millis().max(1) as u64),
    );
    let make = Arc::new(move || -> EngineResult<Arc<dyn StoreWriter>> {
        Ok(Arc::new(RedisWriter {
            client: RedisClient::new(info.clone()),
            codec: codec.clone(),
            ttl_ms,
        }))
    });
    Ok(SinkBinding {
        factory: store_sink::factory(redis.flush, make),
        description,
        parallelism: redis.parallelism,
    })
}

/// Creates the lookup side of `table`, looked up by the columns of `equalities` (the
/// columns the join equates with the left input): a redis table is looked up by its full
/// primary key.
pub fn create_lookup(
    table: &TableDescriptor,
    equalities: &[String],
) -> Result<LookupBinding, ConnectorError> {
    let redis = RedisTable::read(table)?;
    let missing: Vec<&String> = table
        .primary_key
        .iter()
        .filter(|k| !equalities.contains(k))
        .collect();
    if !missing.is_empty() {
        return Err(ConnectorError::Unsupported {
            table: table.name.clone(),
            message: format!(
                "a redis table is looked up by its whole PRIMARY KEY ({}), but the join does \
                 not equate {} with the left input: add `AND <left column> = {}.{}` to ON",
                table.primary_key.join(", "),
                missing
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                table.name,
                missing[0]
            ),
        });
    }
    let description = format!(
        "redis at {}, key {}{}",
        redis.address,
        redis.codec.prefix,
        table.primary_key.join(codec::KEY_SEPARATOR)
    );
    let options = redis.lookup.clone();
    Ok(LookupBinding {
        factory: Arc::new(RedisLookupFactory {
            table: table.name.clone(),
            keys: table.primary_key.clone(),
            redis,
        }),
        options,
        description,
    })
}

struct RedisLookupFactory {
    table: String,
    keys: Vec<String>,
    redis: RedisTable,
}

impl LookupTableFactory for RedisLookupFactory {
    fn schema(&self) -> SchemaRef {
        self.redis.codec.schema.clone()
    }

    fn key_columns(&self) -> &[String] {
        &self.keys
    }

    fn describe(&self) -> String {
        format!("redis table '{}' at {}", self.table, self.redis.address)
    }

    fn unreachable_hint(&self) -> String {
        hint(&self.redis.address)
    }

    fn create(&self) -> EngineResult<Arc<dyn LookupTable>> {
        Ok(Arc::new(RedisLookup {
            client: RedisClient::new(self.redis.info.clone()),
            codec: self.redis.codec.clone(),
        }))
    }
}
