//! The Redis side of a redis table: one multiplexed connection per join or sink subtask,
//! opened on first use and reopened after a failure; lookups (`MGET` or pipelined
//! `HGETALL`, one round trip per batch) and writes (one pipeline per flush).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::{ConnectionInfo, RedisError};
use weir_formats::split_row_kind;
use weir_runtime::{LookupError, LookupTable};
use weir_types::{EngineError, RowKind};

use super::codec::{Codec, Layout, Value};
use crate::store_sink::{StoreWriter, WriteError};

/// A connection to one Redis server, opened lazily.
pub(crate) struct RedisClient {
    info: ConnectionInfo,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
}

/// Whether a Redis error means the server could not be reached (worth retrying).
fn unreachable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
}

impl RedisClient {
    pub(crate) fn new(info: ConnectionInfo) -> RedisClient {
        RedisClient {
            info,
            connection: tokio::sync::Mutex::new(None),
        }
    }

    /// The open connection, or a new one.
    async fn connection(&self) -> Result<MultiplexedConnection, RedisError> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let client = redis::Client::open(self.info.clone())?;
        let connection = client.get_multiplexed_async_connection().await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Forgets the connection after an error that may have broken it.
    async fn on_error(&self, e: &RedisError) {
        if unreachable(e) {
            *self.connection.lock().await = None;
        }
    }

    /// Runs `pipe` (or fails, telling whether the server was unreachable).
    async fn query<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, (bool, String)> {
        let result = match self.connection().await {
            Ok(mut c) => pipe.query_async::<T>(&mut c).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                self.on_error(&e).await;
                Err((unreachable(&e), e.to_string()))
            }
        }
    }
}

/// Looks rows up by key.
pub(crate) struct RedisLookup {
    pub client: RedisClient,
    pub codec: Arc<Codec>,
}

#[async_trait]
impl LookupTable for RedisLookup {
    async fn lookup(&self, keys: RecordBatch) -> Result<RecordBatch, LookupError> {
        let failed = |m: String| LookupError::Failed(EngineError::BadData(m));
        let columns: Vec<usize> = (0..keys.num_columns()).collect();
        let names = self.codec.keys(&keys, &columns).map_err(failed)?;
        let mut pipe = redis::pipe();
        let classify = |(unavailable, message): (bool, String)| {
            if unavailable {
                LookupError::Unavailable(message)
            } else {
                failed(message)
            }
        };
        match &self.codec.layout {
            Layout::String(_) => {
                pipe.cmd("MGET").arg(&names);
                let (values,): (Vec<Option<Vec<u8>>>,) =
                    self.client.query(&pipe).await.map_err(classify)?;
                let found = values
                    .into_iter()
                    .enumerate()
                    .filter_map(|(row, v)| v.map(|v| (row, v)))
                    .collect();
                self.codec
                    .decode_strings(&keys, found)
                    .map_err(|e| failed(format!("a value read from Redis: {e}")))
            }
            Layout::Hash => {
                for name in &names {
                    pipe.cmd("HGETALL").arg(name);
                }
                let hashes: Vec<HashMap<String, String>> =
                    self.client.query(&pipe).await.map_err(classify)?;
                let found = hashes
                    .into_iter()
                    .enumerate()
                    .filter(|(_, h)| !h.is_empty())
                    .collect();
                self.codec
                    .decode_hashes(&keys, found)
                    .map_err(|e| failed(format!("a hash read from Redis: {e}")))
            }
        }
    }
}

/// Writes upserts and deletes.
pub(crate) struct RedisWriter {
    pub client: RedisClient,
    pub codec: Arc<Codec>,
    /// `sink.ttl` in milliseconds.
    pub ttl_ms: Option<u64>,
}

impl RedisWriter {
    /// Adds the commands for `batch` to `pipe`.
    fn add(&self, pipe: &mut redis::Pipeline, batch: &RecordBatch) -> Result<(), String> {
        let (data, kinds) = split_row_kind(batch).map_err(|e| e.to_string())?;
        let keys = self.codec.keys(&data, &self.codec.key_columns)?;
        let values = self.codec.values(&data)?;
        for (row, (key, value)) in keys.iter().zip(values).enumerate() {
            let kind = match &kinds {
                Some(k) => RowKind::from_i8(k.value(row))
                    .ok_or_else(|| format!("invalid row kind {}", k.value(row)))?,
                None => RowKind::Insert,
            };
            match kind {
                RowKind::UpdateBefore => {}
                RowKind::Delete => {
                    pipe.cmd("DEL").arg(key).ignore();
                }
                RowKind::Insert | RowKind::UpdateAfter => match value {
                    Value::String(bytes) => {
                        let set = pipe.cmd("SET").arg(key).arg(bytes);
                        if let Some(ms) = self.ttl_ms {
                            set.arg("PX").arg(ms);
                        }
                        set.ignore();
                    }
                    Value::Hash(fields) => {
                        // A column that became NULL loses its field: replace the hash.
                        pipe.cmd("DEL").arg(key).ignore();
                        if !fields.is_empty() {
                            pipe.cmd("HSET").arg(key).arg(fields).ignore();
                            if let Some(ms) = self.ttl_ms {
                                pipe.cmd("PEXPIRE").arg(key).arg(ms).ignore();
                            }
                        }
                    }
                },
            }
        }
        Ok(())
    }
}

#[async_trait]
impl StoreWriter for RedisWriter {
    async fn write(&self, batches: Vec<RecordBatch>) -> Result<(), WriteError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for batch in &batches {
            self.add(&mut pipe, batch).map_err(WriteError::Failed)?;
        }
        self.client
            .query::<()>(&pipe)
            .await
            .map_err(|(unavailable, message)| {
                if unavailable {
                    WriteError::Unavailable(message)
                } else {
                    WriteError::Failed(message)
                }
            })
    }
}
