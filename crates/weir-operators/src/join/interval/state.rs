//! The cache of one side of an interval join: its rows per key with their event time and
//! whether they joined, and its per-key cleanup timers.

use std::collections::{BTreeSet, HashMap};

use arrow::row::{RowConverter, SortField};
use weir_types::{EngineError, EngineResult, RowKind};

use crate::join::columns::Emitted;
use crate::join::JoinSide;

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// One cached row.
#[derive(Debug, Clone)]
pub(super) struct Cached {
    /// Event time, in milliseconds.
    pub time: i64,
    /// The row's data columns, row-encoded.
    pub row: Box<[u8]>,
    /// Whether it joined a row of the other side (outer sides emit it padded otherwise).
    pub emitted: bool,
}

/// The rows and timers of one input.
pub(super) struct IntervalSide {
    /// Encodes the key columns.
    pub keys: RowConverter,
    /// Encodes and decodes whole rows.
    pub rows: RowConverter,
    /// Index of the event-time column.
    pub time_column: usize,
    /// How far the other side's time may be ahead of one of this side's rows.
    pub relative: i64,
    /// Cached rows by encoded key.
    pub table: Map<Box<[u8]>, Vec<Cached>>,
    /// The pending cleanup timer of each key.
    pub timers: Map<Box<[u8]>, i64>,
    /// The same timers, by time.
    pub queue: BTreeSet<(i64, Box<[u8]>)>,
}

impl IntervalSide {
    /// An empty cache for `side`, whose event time is column `time_column`.
    pub fn new(side: &JoinSide, time_column: usize) -> EngineResult<IntervalSide> {
        let fields = side.schema.fields();
        let key_fields = side
            .keys
            .iter()
            .map(|&k| {
                fields
                    .get(k)
                    .map(|f| SortField::new(f.data_type().clone()))
                    .ok_or_else(|| EngineError::Internal(format!("join key {k} is not a column")))
            })
            .collect::<EngineResult<Vec<_>>>()?;
        if time_column >= fields.len() {
            return Err(EngineError::Internal(format!(
                "interval join time column {time_column} is not a column"
            )));
        }
        let row_fields = fields
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        Ok(IntervalSide {
            keys: RowConverter::new(key_fields)?,
            rows: RowConverter::new(row_fields)?,
            time_column,
            relative: 0,
            table: Map::default(),
            timers: Map::default(),
            queue: BTreeSet::new(),
        })
    }

    /// Number of cached rows.
    pub fn rows(&self) -> usize {
        self.table.values().map(Vec::len).sum()
    }

    /// Sets the cleanup timer of `key` (replacing a pending one).
    pub fn set_timer(&mut self, key: &[u8], at: i64) {
        if let Some(old) = self.timers.insert(key.into(), at) {
            self.queue.remove(&(old, key.into()));
        }
        self.queue.insert((at, key.into()));
    }

    /// The cleanup time of a row timed `time`: `time + relative + interval + 1`.
    fn cleanup_time(&self, time: i64, interval: i64) -> i64 {
        time.saturating_add(self.relative)
            .saturating_add(interval)
            .saturating_add(1)
    }

    /// Caches a row of `key` and sets the key's cleanup timer if it has none.
    pub fn cache(&mut self, key: &[u8], time: i64, row: &[u8], emitted: bool, interval: i64) {
        let cached = Cached {
            time,
            row: row.into(),
            emitted,
        };
        match self.table.get_mut(key) {
            Some(list) => list.push(cached),
            None => {
                self.table.insert(key.into(), vec![cached]);
            }
        }
        if !self.timers.contains_key(key) {
            let at = self.cleanup_time(time, interval);
            self.set_timer(key, at);
        }
    }

    /// Removes the rows of `key` timed at most `expired`; on an outer side, those that
    /// never joined go to `padded`.
    pub fn remove_expired(&mut self, key: &[u8], expired: i64, padded: &mut Emitted, outer: bool) {
        let Some(list) = self.table.get_mut(key) else {
            return;
        };
        list.retain(|c| {
            let keep = c.time > expired;
            if !keep && outer && !c.emitted {
                padded.push(None, Some(&c.row), RowKind::Insert);
            }
            keep
        });
        if list.is_empty() {
            self.table.remove(key);
        }
    }

    /// Fires the timers due at `watermark`: removes each key's expired rows and sets a
    /// timer for its earliest remaining row (clears it when none remains).
    pub fn fire_timers(
        &mut self,
        watermark: Option<i64>,
        expired: i64,
        padded: &mut Emitted,
        outer: bool,
        interval: i64,
    ) {
        let Some(watermark) = watermark else {
            return;
        };
        while let Some((at, _)) = self.queue.first() {
            if *at > watermark {
                break;
            }
            let Some((_, key)) = self.queue.pop_first() else {
                break;
            };
            self.timers.remove(&key);
            self.remove_expired(&key, expired, padded, outer);
            let earliest = self
                .table
                .get(&key)
                .and_then(|list| list.iter().map(|c| c.time).min());
            if let Some(earliest) = earliest {
                let at = self.cleanup_time(earliest, interval);
                self.set_timer(&key, at);
            }
        }
    }
}
