//! A harness for checkpoint tests of the window operators: runs an operator's subtasks
//! over a script of batches and watermarks, snapshots every subtask after event `k`,
//! restores the snapshots into a fresh set of subtasks at another parallelism, and
//! checks that the output equals an uninterrupted run's.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::compute::take_record_batch;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use weir_runtime::{Operator, OperatorFactory, Output, StateSnapshot, SubtaskContext};
use weir_types::keygroup::subtask_of_key_group;
use weir_types::{Message, Watermark};

/// Key groups used by the tests: few, so that 2 and 3 subtasks split them unevenly.
pub(crate) const MAX_PARALLELISM: usize = 16;

/// One event of a script.
#[derive(Clone)]
pub(crate) enum Event {
    /// A batch of input rows.
    Batch(RecordBatch),
    /// A watermark (ms).
    Watermark(i64),
}

/// What the state of subtask `subtask` of `parallelism` is after a restore from `old`
/// (the runtime's own redistribution: keyed rows by key group, union rows to everyone).
pub(crate) fn redistribute(
    old: &[StateSnapshot],
    subtask: usize,
    parallelism: usize,
) -> StateSnapshot {
    weir_runtime::redistribute(old, subtask, parallelism, MAX_PARALLELISM)
        .expect("snapshots redistribute")
}

/// Subtasks of one operator at some parallelism, with the columns rows are hashed by.
pub(crate) struct Subtasks {
    ops: Vec<Box<dyn Operator>>,
    keys: Vec<usize>,
}

impl Subtasks {
    /// `parallelism` fresh subtasks of `factory`, fed rows hashed by the input columns
    /// `keys` (no keys: parallelism must be 1).
    pub fn new(factory: &Arc<dyn OperatorFactory>, parallelism: usize, keys: &[usize]) -> Self {
        let ops = (0..parallelism)
            .map(|subtask| {
                let mut ctx = SubtaskContext::single("test");
                ctx.subtask = subtask;
                ctx.parallelism = parallelism;
                ctx.max_parallelism = MAX_PARALLELISM;
                ctx.checkpointing = true;
                factory.create(&ctx).unwrap()
            })
            .collect();
        Subtasks {
            ops,
            keys: keys.to_vec(),
        }
    }

    /// Restores every subtask from the old subtasks' snapshots.
    pub fn restore(&mut self, old: &[StateSnapshot]) {
        let parallelism = self.ops.len();
        for (i, op) in self.ops.iter_mut().enumerate() {
            let snapshot = redistribute(old, i, parallelism);
            if !snapshot.is_empty() {
                op.restore_state(snapshot).unwrap();
            }
        }
    }

    /// Snapshots every subtask.
    pub fn snapshot(&mut self) -> Vec<StateSnapshot> {
        self.ops
            .iter_mut()
            .map(|op| op.snapshot_state(1).unwrap())
            .collect()
    }

    /// Runs events; returns the rows emitted, formatted.
    pub fn run(&mut self, events: &[Event]) -> Vec<String> {
        let mut rows = Vec::new();
        for event in events {
            let mut out = Output::default();
            match event {
                Event::Batch(batch) => {
                    for (target, part) in self.route(batch) {
                        self.ops[target].process_batch(0, part, &mut out).unwrap();
                    }
                }
                Event::Watermark(w) => {
                    for op in &mut self.ops {
                        op.process_watermark(Watermark(*w), &mut out).unwrap();
                    }
                }
            }
            rows.extend(format_rows(&mut out));
        }
        rows
    }

    /// Ends the input (final watermark, then `finish`); returns the rows emitted.
    pub fn finish(&mut self) -> Vec<String> {
        let mut rows = self.run(&[Event::Watermark(i64::MAX)]);
        for op in &mut self.ops {
            let mut out = Output::default();
            op.finish(&mut out).unwrap();
            rows.extend(format_rows(&mut out));
        }
        rows
    }

    fn route(&self, batch: &RecordBatch) -> Vec<(usize, RecordBatch)> {
        let parallelism = self.ops.len();
        if parallelism == 1 {
            return vec![(0, batch.clone())];
        }
        assert!(
            !self.keys.is_empty(),
            "only keyed operators run in parallel"
        );
        let columns: Vec<ArrayRef> = self.keys.iter().map(|&k| batch.column(k).clone()).collect();
        let groups = weir_runtime::partition::key_groups(&columns, MAX_PARALLELISM).unwrap();
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); parallelism];
        for (row, &kg) in groups.values().iter().enumerate() {
            let target = subtask_of_key_group(kg as usize, MAX_PARALLELISM, parallelism);
            rows[target].push(row as u32);
        }
        rows.into_iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .map(|(t, r)| {
                (
                    t,
                    take_record_batch(batch, &arrow::array::UInt32Array::from(r)).unwrap(),
                )
            })
            .collect()
    }
}

/// Every emitted row as `col|col|...`.
pub(crate) fn format_rows(out: &mut Output) -> Vec<String> {
    let mut rows = Vec::new();
    let options = FormatOptions::default().with_null("NULL");
    for message in out.drain() {
        if let Message::Batch(batch) = message {
            let formatters: Vec<ArrayFormatter> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
                .collect();
            for r in 0..batch.num_rows() {
                let row: Vec<String> = formatters.iter().map(|f| f.value(r).to_string()).collect();
                rows.push(row.join("|"));
            }
        }
    }
    rows
}

fn sorted(mut rows: Vec<String>) -> Vec<String> {
    rows.sort();
    rows
}

/// Checks, for every split point `k` of `events`, that snapshotting after event `k` at
/// parallelism `before` and restoring at `after` gives the output of an uninterrupted
/// run (at `before`), that the snapshotted subtasks going on give it too, and that the
/// state after the end is inert. Returns the uninterrupted output (sorted).
pub(crate) fn check_restores(
    factory: &Arc<dyn OperatorFactory>,
    keys: &[usize],
    events: &[Event],
    before: usize,
    after: usize,
) -> Vec<String> {
    let mut reference = Subtasks::new(factory, before, keys);
    let mut expected = reference.run(events);
    expected.extend(reference.finish());
    let expected = sorted(expected);
    for k in 0..=events.len() {
        let mut first = Subtasks::new(factory, before, keys);
        let head = first.run(&events[..k]);
        let snapshots = first.snapshot();
        // The snapshotted subtasks go on unchanged.
        let mut going_on = head.clone();
        going_on.extend(first.run(&events[k..]));
        going_on.extend(first.finish());
        assert_eq!(
            sorted(going_on),
            expected,
            "subtasks that took a snapshot after event {k} ({before} subtasks)"
        );
        // A restore at `after` subtasks.
        let mut second = Subtasks::new(factory, after, keys);
        second.restore(&snapshots);
        let mut restored = head;
        restored.extend(second.run(&events[k..]));
        restored.extend(second.finish());
        assert_eq!(
            sorted(restored),
            expected,
            "snapshot after event {k} of {}, {before} -> {after} subtasks",
            events.len()
        );
        // The state after the end is inert.
        let end = second.snapshot();
        let mut third = Subtasks::new(factory, after, keys);
        third.restore(&end);
        assert_eq!(third.finish(), Vec::<String>::new(), "state after the end");
    }
    expected
}

/// The input of window Top-N and deduplication tests: `window_start`, `window_end`
/// (Timestamp ms), `k` (Utf8, nullable), `ts` (Timestamp ms, nullable), `v` (Int64).
pub(crate) fn ranked_input() -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    Arc::new(Schema::new(vec![
        Field::new("window_start", ts.clone(), false),
        Field::new("window_end", ts.clone(), false),
        Field::new("k", DataType::Utf8, true),
        Field::new("ts", ts, true),
        Field::new("v", DataType::Int64, false),
    ]))
}

/// A random script over [`ranked_input`]: rows of 1 s tumbling windows arriving up to
/// 2 s out of order (some late), with few keys and times (ties), distinct values, and
/// watermarks trailing by 1 s.
pub(crate) fn ranked_script(seed: u64, batches: usize) -> Vec<Event> {
    use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    let mut rng = SmallRng::seed_from_u64(seed);
    let keys = [Some("a"), Some("b"), Some("c"), None];
    let mut events = Vec::new();
    let mut now = 0i64;
    let mut value = 0i64;
    for _ in 0..batches {
        let n = rng.random_range(1..8);
        let mut starts = Vec::new();
        let mut ks = Vec::new();
        let mut ts = Vec::new();
        let mut vs = Vec::new();
        for _ in 0..n {
            now += rng.random_range(0..300);
            let t = (now - rng.random_range(0..2000)).max(0);
            let start = t - t % 1000;
            starts.push(start);
            ks.push(keys[rng.random_range(0..keys.len())]);
            // Times on a coarse grid, so that rows tie.
            ts.push(if rng.random_range(0..10) == 0 {
                None
            } else {
                Some(start + 250 * rng.random_range(0..4))
            });
            value += 1;
            vs.push(if rng.random_range(0..2) == 0 {
                value
            } else {
                -value
            });
        }
        let ends: Vec<i64> = starts.iter().map(|s| s + 1000).collect();
        let batch = RecordBatch::try_new(
            ranked_input(),
            vec![
                Arc::new(TimestampMillisecondArray::from(starts)),
                Arc::new(TimestampMillisecondArray::from(ends)),
                Arc::new(StringArray::from(ks)),
                Arc::new(TimestampMillisecondArray::from(ts)),
                Arc::new(Int64Array::from(vs)),
            ],
        )
        .unwrap();
        events.push(Event::Batch(batch));
        if rng.random_range(0..2) == 0 {
            events.push(Event::Watermark(now - 1000));
        }
    }
    events
}
