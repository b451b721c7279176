//! Tests of updating emission (allowed lateness, early fire), with outputs computed by
//! hand. Rows print as `kind, start ms, end ms, [key,] values...`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::Int8Array;
use arrow::datatypes::TimeUnit;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use weir_types::{Message, RowKind};

use super::tests::{agg, drive, input_schema, late, rows_of, window_aggregate, Ev, Row};
use super::*;

/// The rows of all batches in `messages`, the row kind first.
fn changes(messages: &[Message]) -> Vec<String> {
    let mut rows = Vec::new();
    for m in messages {
        let Message::Batch(b) = m else { continue };
        let kinds = b
            .column(b.num_columns() - 1)
            .as_any()
            .downcast_ref::<Int8Array>()
            .expect("row kind column");
        let data = b
            .project(&(0..b.num_columns() - 1).collect::<Vec<_>>())
            .unwrap();
        for (i, row) in rows_of(&data).into_iter().enumerate() {
            let kind = RowKind::from_i8(kinds.value(i)).expect("kind");
            rows.push(format!("{} {}", kind.short_string(), row.join(",")));
        }
    }
    rows
}

fn operator(spec: WindowSpec, keyed: bool, emit: EmitStrategy) -> WindowAggregateOperator {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let mut aggregates = vec![agg(&schema, count_udaf(), "cnt", false, None)];
    if keyed {
        aggregates.push(agg(&schema, sum_udaf(), "total", false, None));
    }
    let mut def = window_aggregate(spec, &schema, keyed, aggregates);
    def.emit = emit;
    WindowAggregateOperator::new(Arc::new(def), &SubtaskContext::single("w")).unwrap()
}

fn rows(rows: &[(i64, &'static str, i64)]) -> Ev {
    Ev::Rows(
        rows.iter()
            .map(|&(t, k, v)| -> Row { (Some(t), Some(k), Some(v)) })
            .collect(),
    )
}

fn run(op: &mut WindowAggregateOperator, events: Vec<Ev>) -> Vec<Vec<String>> {
    let schema = input_schema(TimeUnit::Millisecond, None);
    drive(op, &schema, events)
        .iter()
        .map(|m| changes(m))
        .collect()
}

const LATENESS_5S: EmitStrategy = EmitStrategy {
    allow_lateness_ms: 5_000,
    early_fire_delay_ms: None,
};

#[test]
fn allowed_lateness_updates_a_fired_tumble_window_until_it_expires() {
    let tumble = WindowSpec::Tumble {
        size_ms: 10_000,
        offset_ms: 0,
    };
    let mut op = operator(tumble, true, LATENESS_5S);
    let out = run(
        &mut op,
        vec![
            rows(&[(1_000, "a", 1), (2_000, "a", 2), (3_000, "b", 5)]),
            Ev::Wm(9_999),
            rows(&[(4_000, "a", 10)]),
            rows(&[(5_000, "c", 7)]),
            Ev::Wm(14_998),
            rows(&[(6_000, "b", 1)]),
            Ev::Wm(14_999),
            rows(&[(7_000, "a", 1)]),
        ],
    );
    let expected: Vec<Vec<&str>> = vec![
        vec![],
        vec!["+I 0,10000,a,2,3", "+I 0,10000,b,1,5"],
        vec!["-U 0,10000,a,2,3", "+U 0,10000,a,3,13"],
        vec!["+I 0,10000,c,1,7"],
        vec![],
        vec!["-U 0,10000,b,1,5", "+U 0,10000,b,2,6"],
        vec![],
        vec![],
    ];
    assert_eq!(out, expected);
    assert_eq!(
        late(&op),
        1,
        "the row after window end - 1 + lateness is dropped"
    );
    assert_eq!(op.live_slices(), 0);
    assert_eq!(op.tracked_windows(), 0);
}

#[test]
fn a_late_hop_row_updates_only_the_windows_within_lateness() {
    let hop = WindowSpec::Hop {
        size_ms: 10_000,
        slide_ms: 5_000,
        offset_ms: 0,
    };
    let mut op = operator(hop, false, LATENESS_5S);
    let out = run(
        &mut op,
        vec![
            rows(&[(1_000, "a", 1), (6_000, "a", 1), (7_000, "a", 1)]),
            Ev::Wm(9_999),
            // Slice [0, 5 s): its window ending at 5 s is past lateness, the one at 10 s not.
            rows(&[(3_000, "a", 1)]),
            // Slice [5 s, 10 s): the window at 10 s is updated, the one at 15 s is open.
            rows(&[(8_000, "a", 1)]),
            Ev::Wm(14_999),
            rows(&[(9_000, "a", 1)]),
            rows(&[(4_000, "a", 1)]),
            Ev::Wm(19_999),
        ],
    );
    let expected: Vec<Vec<&str>> = vec![
        vec![],
        vec!["+I -5000,5000,1", "+I 0,10000,3"],
        vec!["-U 0,10000,3", "+U 0,10000,4"],
        vec!["-U 0,10000,4", "+U 0,10000,5"],
        vec!["+I 5000,15000,3"],
        vec!["-U 5000,15000,3", "+U 5000,15000,4"],
        vec![],
        vec![],
    ];
    assert_eq!(out, expected);
    assert_eq!(late(&op), 1);
    assert_eq!(op.live_slices(), 0);
}

#[test]
fn a_late_cumulate_row_updates_every_unexpired_window_of_its_period() {
    let cumulate = WindowSpec::Cumulate {
        step_ms: 5_000,
        max_size_ms: 15_000,
        offset_ms: 0,
    };
    let lateness = EmitStrategy {
        allow_lateness_ms: 10_000,
        early_fire_delay_ms: None,
    };
    let mut op = operator(cumulate, false, lateness);
    let out = run(
        &mut op,
        vec![
            rows(&[(1_000, "a", 1), (6_000, "a", 1)]),
            Ev::Wm(9_999),
            rows(&[(2_000, "a", 1)]),
            Ev::Wm(14_999),
            rows(&[(3_000, "a", 1)]),
            Ev::Wm(30_000),
        ],
    );
    let expected: Vec<Vec<&str>> = vec![
        vec![],
        vec!["+I 0,5000,1", "+I 0,10000,2"],
        vec!["-U 0,5000,1", "+U 0,5000,2", "-U 0,10000,2", "+U 0,10000,3"],
        vec!["+I 0,15000,3"],
        vec![
            "-U 0,10000,3",
            "+U 0,10000,4",
            "-U 0,15000,3",
            "+U 0,15000,4",
        ],
        vec![],
    ];
    assert_eq!(out, expected);
    assert_eq!(late(&op), 0);
    assert_eq!(op.live_slices(), 0);
    assert_eq!(op.tracked_windows(), 0);
}

#[test]
fn early_fire_with_delay_zero_emits_after_every_batch_and_final_only_if_changed() {
    let tumble = WindowSpec::Tumble {
        size_ms: 10_000,
        offset_ms: 0,
    };
    let early = EmitStrategy {
        allow_lateness_ms: 0,
        early_fire_delay_ms: Some(0),
    };
    let mut op = operator(tumble, true, early);
    let out = run(
        &mut op,
        vec![
            rows(&[(1_000, "a", 1), (2_000, "b", 2)]),
            rows(&[(3_000, "a", 4)]),
            rows(&[(12_000, "a", 1)]),
            Ev::Wm(9_999),
            rows(&[(4_000, "a", 1)]),
            rows(&[(13_000, "a", 0)]),
            rows(&[(14_000, "b", 0), (15_000, "b", 0)]),
            Ev::Wm(19_999),
        ],
    );
    let expected: Vec<Vec<&str>> = vec![
        vec!["+I 0,10000,a,1,1", "+I 0,10000,b,1,2"],
        vec!["-U 0,10000,a,1,1", "+U 0,10000,a,2,5"],
        vec!["+I 10000,20000,a,1,1"],
        vec![],
        vec![],
        vec!["-U 10000,20000,a,1,1", "+U 10000,20000,a,2,1"],
        vec!["+I 10000,20000,b,2,0"],
        vec![],
    ];
    assert_eq!(out, expected);
    assert_eq!(late(&op), 1);
    assert_eq!(op.live_slices(), 0);
    assert_eq!(op.tracked_windows(), 0);
}

#[test]
fn early_fire_with_a_long_delay_emits_the_final_result_once() {
    let tumble = WindowSpec::Tumble {
        size_ms: 10_000,
        offset_ms: 0,
    };
    let early = EmitStrategy {
        allow_lateness_ms: 0,
        early_fire_delay_ms: Some(3_600_000),
    };
    let mut op = operator(tumble, true, early);
    let out = run(
        &mut op,
        vec![
            rows(&[(1_000, "a", 1)]),
            rows(&[(2_000, "a", 2)]),
            Ev::Wm(9_999),
        ],
    );
    let expected: Vec<Vec<&str>> = vec![vec![], vec![], vec!["+I 0,10000,a,2,3"]];
    assert_eq!(out, expected);
}

/// Count and sum per key of one window.
type KeyResults = BTreeMap<&'static str, (i64, i64)>;

/// A reference for allowed lateness that keeps every accepted row and recomputes each
/// window from rows: a row is accepted while one of its windows is not past its
/// lateness; after a batch every fired, unexpired window whose rows changed emits its
/// changes; at a watermark newly fired windows emit theirs. Lines of one event sorted.
struct NaiveLateness {
    spec: WindowSpec,
    lateness: i64,
    rows: Vec<(i64, &'static str, i64)>,
    fired_upto: i64,
    emitted: BTreeMap<(i64, i64), KeyResults>,
    late: u64,
    /// Early fire with delay 0: unfired windows emit after every batch too.
    early: bool,
}

impl NaiveLateness {
    fn expired(&self, end: i64) -> bool {
        self.fired_upto != i64::MIN && end + self.lateness <= self.fired_upto
    }

    fn result(&self, w: (i64, i64)) -> KeyResults {
        let mut out = KeyResults::new();
        for &(t, k, v) in &self.rows {
            if w.0 <= t && t < w.1 {
                let e: &mut (i64, i64) = out.entry(k).or_default();
                e.0 += 1;
                e.1 += v;
            }
        }
        out
    }

    fn emit(&mut self, w: (i64, i64), lines: &mut Vec<String>) {
        let new = self.result(w);
        let old = self.emitted.remove(&w);
        for (k, &(c, s)) in &new {
            match old.as_ref().and_then(|o| o.get(k)) {
                None => lines.push(format!("+I {},{},{k},{c},{s}", w.0, w.1)),
                Some(&(oc, os)) if (oc, os) != (c, s) => {
                    lines.push(format!("-U {},{},{k},{oc},{os}", w.0, w.1));
                    lines.push(format!("+U {},{},{k},{c},{s}", w.0, w.1));
                }
                Some(_) => {}
            }
        }
        self.emitted.insert(w, new);
    }

    fn batch(&mut self, rows: &[(i64, &'static str, i64)]) -> Vec<String> {
        let mut touched = BTreeSet::new();
        for &(t, k, v) in rows {
            let windows = super::tests_naive::naive_windows(&self.spec, t);
            if windows.iter().all(|w| self.expired(w.1)) {
                self.late += 1;
                continue;
            }
            self.rows.push((t, k, v));
            touched.extend(windows.into_iter().filter(|w| !self.expired(w.1)));
        }
        let mut lines = Vec::new();
        for w in touched {
            if self.early || w.1 <= self.fired_upto {
                self.emit(w, &mut lines);
            }
        }
        lines.sort();
        lines
    }

    fn watermark(&mut self, wm: i64) -> Vec<String> {
        let limit = wm + 1;
        let mut windows: Vec<(i64, i64)> = self
            .rows
            .iter()
            .flat_map(|r| super::tests_naive::naive_windows(&self.spec, r.0))
            .filter(|w| w.1 > self.fired_upto && w.1 <= limit)
            .collect();
        windows.sort_by_key(|w| (w.1, w.0));
        windows.dedup();
        let mut lines = Vec::new();
        for w in windows {
            self.emit(w, &mut lines);
        }
        self.fired_upto = self.fired_upto.max(limit);
        lines.sort();
        lines
    }
}

#[test]
fn allowed_lateness_matches_a_naive_reference_on_random_out_of_order_rows() {
    check_against_naive(false);
}

#[test]
fn early_fire_with_lateness_matches_a_naive_reference_on_random_out_of_order_rows() {
    check_against_naive(true);
}

/// Random batches and watermarks through the operator and [`NaiveLateness`], with early
/// fire (delay 0) or without.
fn check_against_naive(early: bool) {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    let specs = [
        WindowSpec::Tumble {
            size_ms: 10,
            offset_ms: 0,
        },
        WindowSpec::Hop {
            size_ms: 15,
            slide_ms: 5,
            offset_ms: 0,
        },
        WindowSpec::Hop {
            size_ms: 10,
            slide_ms: 4,
            offset_ms: 1,
        },
        WindowSpec::Cumulate {
            step_ms: 5,
            max_size_ms: 20,
            offset_ms: 0,
        },
    ];
    let keys = ["a", "b", "c"];
    // Late updates and dropped rows seen over all runs: the data exercises both.
    let (mut updates, mut dropped) = (0, 0);
    for (si, spec) in specs.into_iter().enumerate() {
        for seed in 0..20u64 {
            let mut rng = SmallRng::seed_from_u64(seed * 31 + si as u64);
            let lateness = [3, 7, 12, 0][seed as usize % if early { 4 } else { 3 }];
            let emit = EmitStrategy {
                allow_lateness_ms: lateness,
                early_fire_delay_ms: early.then_some(0),
            };
            let mut op = operator(spec, true, emit);
            let mut naive = NaiveLateness {
                spec,
                lateness,
                rows: Vec::new(),
                fired_upto: i64::MIN,
                emitted: Default::default(),
                late: 0,
                early,
            };
            let mut max_ts = 0i64;
            for _ in 0..40 {
                if rng.random_bool(0.7) {
                    let n = rng.random_range(1..4);
                    let rows: Vec<(i64, &'static str, i64)> = (0..n)
                        .map(|_| {
                            let t = (max_ts + rng.random_range(-25..8)).max(0);
                            max_ts = max_ts.max(t);
                            (t, keys[rng.random_range(0..3)], rng.random_range(1..10))
                        })
                        .collect();
                    let expected = naive.batch(&rows);
                    updates += expected.iter().filter(|l| l.starts_with("-U")).count();
                    let mut actual = run(&mut op, vec![rows_ev(&rows)]).remove(0);
                    actual.sort();
                    assert_eq!(actual, expected, "{spec:?} seed {seed} rows {rows:?}");
                } else {
                    let wm = max_ts - rng.random_range(0..6);
                    if naive.fired_upto != i64::MIN && wm < naive.fired_upto {
                        continue;
                    }
                    let expected = naive.watermark(wm);
                    let mut actual = run(&mut op, vec![Ev::Wm(wm)]).remove(0);
                    actual.sort();
                    assert_eq!(actual, expected, "{spec:?} seed {seed} watermark {wm}");
                }
            }
            assert_eq!(late(&op), naive.late, "{spec:?} seed {seed}");
            dropped += naive.late;
        }
    }
    assert!(
        updates > 100 && dropped > 100,
        "updates {updates}, dropped {dropped}"
    );
}

fn rows_ev(rows: &[(i64, &'static str, i64)]) -> Ev {
    Ev::Rows(
        rows.iter()
            .map(|&(t, k, v)| -> Row { (Some(t), Some(k), Some(v)) })
            .collect(),
    )
}
