//! The state of a temporal join subtask: the versions of the right (versioned) table per
//! key, with their cleanup timers, and the left rows waiting for the watermark.

use std::collections::{BTreeSet, HashMap};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use arrow::compute::kernels::cmp::lt_eq;
use arrow::compute::{cast, concat_batches, filter_record_batch, min};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use weir_types::{EngineError, EngineResult};

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// One version of a right row: valid from `time` until the next version of its key.
#[derive(Debug, Clone)]
pub(super) struct Version {
    /// The right row's event time, in milliseconds.
    pub time: i64,
    /// The right row's data columns, row-encoded.
    pub row: Box<[u8]>,
    /// A delete (`-D`): from `time` on, the key has no row.
    pub retract: bool,
}

/// The versions of one key, by ascending time (one per time: a later arrival replaces).
#[derive(Debug, Default)]
pub(super) struct KeyVersions {
    /// Ascending by `time`.
    pub versions: Vec<Version>,
    /// Processing time of the key's last right row, for `table.exec.state.ttl`.
    pub last_write: i64,
}

impl KeyVersions {
    /// When the watermark makes a version of this key useless: once it reaches the
    /// second version (the first is then superseded), or the only one if it is a delete.
    fn cleanup_time(&self) -> Option<i64> {
        match self.versions.as_slice() {
            [] => None,
            [only] => only.retract.then_some(only.time),
            [_, second, ..] => Some(second.time),
        }
    }

    /// Keeps the newest version at or below `watermark` and the newer ones; a delete left
    /// oldest goes too (no version and a delete join alike: nothing).
    fn clean(&mut self, watermark: i64) {
        let at_or_below = self.versions.partition_point(|v| v.time <= watermark);
        if at_or_below > 1 {
            self.versions.drain(..at_or_below - 1);
        }
        if self
            .versions
            .first()
            .is_some_and(|v| v.retract && v.time <= watermark)
        {
            self.versions.remove(0);
        }
    }
}

/// The versioned table: versions by encoded key, and per-key cleanup timers.
#[derive(Default)]
pub(super) struct VersionTable {
    /// Versions by encoded key.
    pub table: Map<Box<[u8]>, KeyVersions>,
    /// The pending cleanup timer of each key.
    timers: Map<Box<[u8]>, i64>,
    /// The same timers, by time.
    queue: BTreeSet<(i64, Box<[u8]>)>,
}

impl VersionTable {
    /// Number of versions held.
    pub fn rows(&self) -> usize {
        self.table.values().map(|k| k.versions.len()).sum()
    }

    /// Stores a version of `key` (replacing one of the same time) written at processing
    /// time `now`.
    pub fn upsert(&mut self, key: &[u8], version: Version, now: i64) {
        let entry = match self.table.get_mut(key) {
            Some(entry) => entry,
            None => self.table.entry(key.into()).or_default(),
        };
        entry.last_write = now;
        let at = entry.versions.partition_point(|v| v.time < version.time);
        match entry.versions.get_mut(at) {
            Some(same) if same.time == version.time => *same = version,
            _ => entry.versions.insert(at, version),
        }
        self.reschedule(key);
    }

    /// The time of the newest version of `key`, if it has one.
    pub fn newest_time(&self, key: &[u8]) -> Option<i64> {
        self.table.get(key)?.versions.last().map(|v| v.time)
    }

    /// The version of `key` valid at `time`: the one with the largest time at most
    /// `time`, unless it is a delete. A key not written for `ttl` has none.
    pub fn valid_at(&self, key: &[u8], time: i64, now: i64, ttl: Option<i64>) -> Option<&Version> {
        let entry = self.table.get(key)?;
        if ttl.is_some_and(|ttl| entry.last_write.saturating_add(ttl) <= now) {
            return None;
        }
        let at = entry.versions.partition_point(|v| v.time <= time);
        let version = entry.versions.get(at.checked_sub(1)?)?;
        (!version.retract).then_some(version)
    }

    /// Sets the cleanup timer of `key` from its versions (or clears it).
    fn reschedule(&mut self, key: &[u8]) {
        let wanted = self.table.get(key).and_then(KeyVersions::cleanup_time);
        let current = self.timers.get(key).copied();
        if wanted == current {
            return;
        }
        if let Some(old) = current {
            self.queue.remove(&(old, key.into()));
            self.timers.remove(key);
        }
        if let Some(at) = wanted {
            self.timers.insert(key.into(), at);
            self.queue.insert((at, key.into()));
        }
    }

    /// Cleans the keys whose timers are due at `watermark`.
    pub fn fire_timers(&mut self, watermark: i64) {
        while self.queue.first().is_some_and(|(at, _)| *at <= watermark) {
            let Some((_, key)) = self.queue.pop_first() else {
                break;
            };
            self.timers.remove(&key);
            if let Some(entry) = self.table.get_mut(&key) {
                entry.clean(watermark);
                if entry.versions.is_empty() {
                    self.table.remove(&key);
                }
            }
            self.reschedule(&key);
        }
    }

    /// Drops the keys not written for `ttl` at processing time `now`; returns how many.
    pub fn expire(&mut self, now: i64, ttl: i64) -> usize {
        let expired: Vec<Box<[u8]>> = self
            .table
            .iter()
            .filter(|(_, k)| k.last_write.saturating_add(ttl) <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &expired {
            self.table.remove(key);
            self.reschedule(key);
        }
        expired.len()
    }
}

/// The event times of `column` (TIMESTAMP(0..3), any zone) in milliseconds.
pub(super) fn millis(column: &ArrayRef) -> EngineResult<Int64Array> {
    let ms = match column.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => column.clone(),
        DataType::Timestamp(_, _) => {
            cast(column, &DataType::Timestamp(TimeUnit::Millisecond, None))?
        }
        other => {
            return Err(EngineError::Internal(format!(
                "temporal join time column is {other}, not a timestamp"
            )))
        }
    };
    let ms = ms
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| EngineError::Internal("temporal join time column type".into()))?;
    Ok(ms.reinterpret_cast())
}

/// Left rows waiting for the watermark to pass their time, in arrival order.
pub(super) struct Pending {
    schema: SchemaRef,
    time_column: usize,
    /// Batches with the smallest time among their rows.
    batches: Vec<(RecordBatch, i64)>,
}

impl Pending {
    /// No rows, of batches with `schema` whose event time is column `time_column`.
    pub fn new(schema: SchemaRef, time_column: usize) -> Pending {
        Pending {
            schema,
            time_column,
            batches: Vec::new(),
        }
    }

    /// Number of rows waiting.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|(b, _)| b.num_rows()).sum()
    }

    /// The batches waiting (for checkpoints).
    pub fn batches(&self) -> impl Iterator<Item = &RecordBatch> {
        self.batches.iter().map(|(b, _)| b)
    }

    /// Buffers `batch`, whose times are all non-NULL.
    pub fn push(&mut self, batch: RecordBatch) -> EngineResult<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let times = millis(batch.column(self.time_column))?;
        let earliest = min(&times).unwrap_or(i64::MIN);
        self.batches.push((batch, earliest));
        Ok(())
    }

    /// Takes the rows timed at most `watermark`, in arrival order, as one batch.
    pub fn take_due(&mut self, watermark: i64) -> EngineResult<Option<RecordBatch>> {
        if self
            .batches
            .iter()
            .all(|(_, earliest)| *earliest > watermark)
        {
            return Ok(None);
        }
        let mut due = Vec::new();
        let mut kept = Vec::with_capacity(self.batches.len());
        for (batch, earliest) in std::mem::take(&mut self.batches) {
            if earliest > watermark {
                kept.push((batch, earliest));
                continue;
            }
            let times = millis(batch.column(self.time_column))?;
            let mask = lt_eq(&times, &Int64Array::new_scalar(watermark))?;
            if mask.true_count() == batch.num_rows() {
                due.push(batch);
                continue;
            }
            due.push(filter_record_batch(&batch, &mask)?);
            let later = filter_record_batch(&batch, &not(&mask))?;
            let later_times = millis(later.column(self.time_column))?;
            let earliest = min(&later_times).unwrap_or(i64::MIN);
            kept.push((later, earliest));
        }
        self.batches = kept;
        Ok(Some(concat_batches(&self.schema, &due)?))
    }
}

fn not(mask: &BooleanArray) -> BooleanArray {
    // The mask has no NULLs: the times compared have none.
    BooleanArray::new(!mask.values(), None)
}
