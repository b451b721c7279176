//! The PostgreSQL side of a jdbc table: one connection per join or sink subtask (opened
//! on first use, reopened after it broke), batched lookups and batched writes.
//!
//! - Lookup: `SELECT cols::text FROM t WHERE k = ANY($1::text[]::bigint[])` (a
//!   composite key: `(k1, k2) IN (SELECT * FROM UNNEST($1::text[]::..., $2...))`): one
//!   statement for all the keys of a batch.
//! - Upsert sink: the flush's changes reduced to the last one per primary key, then in
//!   one transaction `DELETE ... WHERE (pk) IN (SELECT * FROM UNNEST(...))` for deleted
//!   keys and `INSERT ... SELECT * FROM UNNEST(...) ON CONFLICT (pk) DO UPDATE SET ...`.
//! - Append sink: `INSERT ... SELECT * FROM UNNEST(...)`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls};
use weir_formats::split_row_kind;
use weir_runtime::{LookupError, LookupTable};
use weir_types::{EngineError, RowKind};

use super::types::{from_text, select_as_text, to_text};
use crate::store_sink::{StoreWriter, WriteError};

/// A PostgreSQL table as statements see it.
pub(crate) struct PgTable {
    /// `table-name`, as written into statements.
    pub name: String,
    /// The table's columns (all nullable: looked-up rows may have NULLs anywhere).
    pub schema: SchemaRef,
    /// PostgreSQL type of each column, for casts.
    pub pg_types: Vec<String>,
    /// PRIMARY KEY column indices (empty: append-only sink).
    pub primary_key: Vec<usize>,
}

impl PgTable {
    fn column(&self, i: usize) -> String {
        quote(self.schema.field(i).name())
    }

    /// `UNNEST($n::text[]::type[], ...)` over `columns`, parameters from `$first`.
    fn unnest(&self, columns: &[usize], first: usize) -> String {
        let arrays: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(n, &c)| format!("${}::text[]::{}[]", first + n, self.pg_types[c]))
            .collect();
        format!("UNNEST({})", arrays.join(", "))
    }

    /// `"k1", "k2"` or `("k1", "k2")` for a composite key.
    fn tuple(&self, columns: &[usize]) -> String {
        let names: Vec<String> = columns.iter().map(|&c| self.column(c)).collect();
        if names.len() == 1 {
            names[0].clone()
        } else {
            format!("({})", names.join(", "))
        }
    }
}

/// `"name"` with quotes doubled.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A connection, opened lazily.
pub(crate) struct PgClient {
    config: Config,
    client: tokio::sync::Mutex<Option<Client>>,
}

/// Why a statement failed: `true` when PostgreSQL could not be reached.
type Failure = (bool, String);

fn failure(e: tokio_postgres::Error) -> Failure {
    let unreachable = match e.as_db_error() {
        None => true,
        // Connection exceptions, shutdowns, "cannot connect now".
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || code.starts_with("57P")
        }
    };
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    };
    (unreachable, message)
}

impl PgClient {
    pub(crate) fn new(config: Config) -> PgClient {
        PgClient {
            config,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// The connection (opened if needed), locked for one statement or transaction.
    async fn open(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, Failure> {
        let mut slot = self.client.lock().await;
        if slot.as_ref().is_some_and(Client::is_closed) {
            *slot = None;
        }
        if slot.is_none() {
            let (client, connection) = self.config.connect(NoTls).await.map_err(failure)?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!("PostgreSQL connection closed: {e}");
                }
            });
            *slot = Some(client);
        }
        Ok(slot)
    }
}

/// Forgets the connection of `slot` when `result` failed because PostgreSQL could not
/// be reached.
fn settle<T>(
    slot: &mut Option<Client>,
    result: Result<T, tokio_postgres::Error>,
) -> Result<T, Failure> {
    let result = result.map_err(failure);
    if matches!(result, Err((true, _))) {
        *slot = None;
    }
    result
}

const NO_CONNECTION: &str = "no connection";

/// Parameters as `query` wants them.
fn params(values: &[Vec<Option<String>>]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// Looks rows up by any columns.
pub(crate) struct PgLookup {
    pub client: PgClient,
    pub table: Arc<PgTable>,
    /// Indices of the columns looked up by.
    pub keys: Vec<usize>,
}

impl PgLookup {
    fn statement(&self) -> String {
        let t = &self.table;
        let columns: Vec<String> = (0..t.schema.fields().len())
            .map(|i| select_as_text(&t.column(i), t.schema.field(i).data_type()))
            .collect();
        let condition = if self.keys.len() == 1 {
            let k = self.keys[0];
            format!("{} = ANY($1::text[]::{}[])", t.column(k), t.pg_types[k])
        } else {
            format!(
                "{} IN (SELECT * FROM {})",
                t.tuple(&self.keys),
                t.unnest(&self.keys, 1)
            )
        };
        format!(
            "SELECT {} FROM {} WHERE {condition}",
            columns.join(", "),
            t.name
        )
    }
}

#[async_trait]
impl LookupTable for PgLookup {
    async fn lookup(&self, keys: RecordBatch) -> Result<RecordBatch, LookupError> {
        let failed = |m: String| LookupError::Failed(EngineError::BadData(m));
        let values = keys
            .columns()
            .iter()
            .map(to_text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed)?;
        let sql = self.statement();
        let rows = async {
            let mut slot = self.client.open().await?;
            let result = match slot.as_ref() {
                Some(client) => client.query(&sql, &params(&values)).await,
                None => return Err((true, NO_CONNECTION.to_string())),
            };
            settle(&mut slot, result)
        }
        .await
        .map_err(|(unreachable, message)| {
            if unreachable {
                LookupError::Unavailable(message)
            } else {
                failed(format!("{message} (in `{sql}`)"))
            }
        })?;
        let width = self.table.schema.fields().len();
        let mut texts: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(rows.len()); width];
        for row in &rows {
            for (i, column) in texts.iter_mut().enumerate() {
                column.push(
                    row.try_get::<_, Option<String>>(i)
                        .map_err(|e| failed(e.to_string()))?,
                );
            }
        }
        let columns = texts
            .into_iter()
            .zip(self.table.schema.fields())
            .map(|(values, field)| {
                from_text(values, field.data_type()).map_err(|e| {
                    failed(format!(
                        "column '{}' read from PostgreSQL: {e}",
                        field.name()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new(self.table.schema.clone(), columns)
            .map_err(|e| LookupError::Failed(e.into()))
    }
}

/// Writes changes: upserts by primary key, or appends.
pub(crate) struct PgWriter {
    pub client: PgClient,
    pub table: Arc<PgTable>,
}

impl PgWriter {
    /// The rows to delete (key values) and to upsert or append (all values), each a
    /// column of texts: with a primary key, the last change per key wins.
    #[allow(clippy::type_complexity)]
    fn changes(
        &self,
        batches: &[RecordBatch],
    ) -> Result<(Vec<Vec<Option<String>>>, Vec<Vec<Option<String>>>), String> {
        let t = &self.table;
        let width = t.schema.fields().len();
        let mut rows: Vec<(RowKind, Vec<Option<String>>)> = Vec::new();
        for batch in batches {
            let (data, kinds) = split_row_kind(batch).map_err(|e| e.to_string())?;
            let texts = data
                .columns()
                .iter()
                .map(to_text)
                .collect::<Result<Vec<_>, _>>()?;
            for row in 0..data.num_rows() {
                let kind = match &kinds {
                    Some(k) => RowKind::from_i8(k.value(row))
                        .ok_or_else(|| format!("invalid row kind {}", k.value(row)))?,
                    None => RowKind::Insert,
                };
                rows.push((kind, texts.iter().map(|c| c[row].clone()).collect()));
            }
        }
        let mut deletes = vec![Vec::new(); t.primary_key.len()];
        let mut upserts = vec![Vec::new(); width];
        if t.primary_key.is_empty() {
            for (_, values) in rows {
                for (column, value) in upserts.iter_mut().zip(values) {
                    column.push(value);
                }
            }
            return Ok((deletes, upserts));
        }
        let mut last: HashMap<Vec<Option<String>>, usize> = HashMap::new();
        for (i, (kind, values)) in rows.iter().enumerate() {
            if *kind == RowKind::UpdateBefore {
                continue;
            }
            let key: Vec<Option<String>> =
                t.primary_key.iter().map(|&k| values[k].clone()).collect();
            if let Some(k) = t.primary_key.iter().find(|&&k| values[k].is_none()) {
                return Err(format!(
                    "primary key column '{}' is NULL",
                    t.schema.field(*k).name()
                ));
            }
            last.insert(key, i);
        }
        let mut latest: Vec<usize> = last.into_values().collect();
        latest.sort_unstable();
        for i in latest {
            let (kind, values) = &rows[i];
            if *kind == RowKind::Delete {
                for (column, &k) in deletes.iter_mut().zip(&t.primary_key) {
                    column.push(values[k].clone());
                }
            } else {
                for (column, value) in upserts.iter_mut().zip(values) {
                    column.push(value.clone());
                }
            }
        }
        Ok((deletes, upserts))
    }

    fn insert_statement(&self) -> String {
        let t = &self.table;
        let all: Vec<usize> = (0..t.schema.fields().len()).collect();
        let names: Vec<String> = all.iter().map(|&c| t.column(c)).collect();
        let mut sql = format!(
            "INSERT INTO {} ({}) SELECT * FROM {}",
            t.name,
            names.join(", "),
            t.unnest(&all, 1)
        );
        if !t.primary_key.is_empty() {
            let keys: Vec<String> = t.primary_key.iter().map(|&k| t.column(k)).collect();
            let updates: Vec<String> = all
                .iter()
                .filter(|c| !t.primary_key.contains(c))
                .map(|&c| format!("{0} = EXCLUDED.{0}", t.column(c)))
                .collect();
            sql.push_str(&format!(" ON CONFLICT ({}) DO ", keys.join(", ")));
            if updates.is_empty() {
                sql.push_str("NOTHING");
            } else {
                sql.push_str(&format!("UPDATE SET {}", updates.join(", ")));
            }
        }
        sql
    }

    fn delete_statement(&self) -> String {
        let t = &self.table;
        format!(
            "DELETE FROM {} WHERE {} IN (SELECT * FROM {})",
            t.name,
            t.tuple(&t.primary_key),
            t.unnest(&t.primary_key, 1)
        )
    }
}

#[async_trait]
impl StoreWriter for PgWriter {
    async fn write(&self, batches: Vec<RecordBatch>) -> Result<(), WriteError> {
        let (deletes, upserts) = self.changes(&batches).map_err(WriteError::Failed)?;
        let delete_sql = self.delete_statement();
        let insert_sql = self.insert_statement();
        async {
            let mut slot = self.client.open().await?;
            let result = match slot.as_mut() {
                Some(client) => {
                    write_transaction(client, &delete_sql, &deletes, &insert_sql, &upserts).await
                }
                None => return Err((true, NO_CONNECTION.to_string())),
            };
            settle(&mut slot, result)
        }
        .await
        .map_err(|(unreachable, message)| {
            if unreachable {
                WriteError::Unavailable(message)
            } else {
                WriteError::Failed(message)
            }
        })
    }
}

/// Deletes then upserts (or appends) in one transaction.
async fn write_transaction(
    client: &mut Client,
    delete_sql: &str,
    deletes: &[Vec<Option<String>>],
    insert_sql: &str,
    upserts: &[Vec<Option<String>>],
) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    if deletes.first().is_some_and(|c| !c.is_empty()) {
        tx.execute(delete_sql, &params(deletes)).await?;
    }
    if upserts.first().is_some_and(|c| !c.is_empty()) {
        tx.execute(insert_sql, &params(upserts)).await?;
    }
    tx.commit().await
}
