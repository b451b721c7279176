//! Session windows against a naive reference that recomputes every key's sessions from
//! its raw rows at each event (random out-of-order rows, random watermark delays), and
//! against the batch result over the rows that were not late.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::TimeUnit;
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::functions_aggregate::sum::sum_udaf;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weir_runtime::SubtaskContext;
use weir_types::{Message, Watermark};

use super::super::tests::{agg, fired, input_schema, r, sorted, Ev, Row};
use super::tests::{drive, late, session_aggregate};
use super::SessionWindowOperator;

type Key = Option<&'static str>;

/// A row of the reference: time and value.
type Timed = (i64, Option<i64>);

/// Sessions of rows of one key: maximal runs whose consecutive times are at most `gap`
/// apart, as (start, end, rows).
fn sessions_of(mut rows: Vec<Timed>, gap: i64) -> Vec<(i64, i64, Vec<Timed>)> {
    rows.sort_by_key(|r| r.0);
    let mut out: Vec<(i64, i64, Vec<Timed>)> = Vec::new();
    for row in rows {
        match out.last_mut() {
            Some(last) if row.0 <= last.1 => {
                last.1 = last.1.max(row.0 + gap);
                last.2.push(row);
            }
            _ => out.push((row.0, row.0 + gap, vec![row])),
        }
    }
    out
}

/// COUNT, SUM, MIN, MAX, AVG, SUM(DISTINCT), SUM FILTER (v > 50) of `v`, as SQL values.
fn naive_aggregates(values: &[Option<i64>]) -> Vec<String> {
    let present: Vec<i64> = values.iter().flatten().copied().collect();
    let opt = |v: Option<i64>| ScalarValue::Int64(v).to_string();
    let sum = |v: &[i64]| (!v.is_empty()).then(|| v.iter().sum::<i64>());
    let mut distinct = present.clone();
    distinct.sort();
    distinct.dedup();
    let big: Vec<i64> = present.iter().copied().filter(|v| *v > 50).collect();
    let avg = sum(&present).map(|s| s as f64 / present.len() as f64);
    vec![
        ScalarValue::Int64(Some(present.len() as i64)).to_string(),
        opt(sum(&present)),
        opt(present.iter().min().copied()),
        opt(present.iter().max().copied()),
        ScalarValue::Float64(avg).to_string(),
        opt(sum(&distinct)),
        opt(sum(&big)),
    ]
}

fn result_row(start: i64, end: i64, key: Option<Key>, rows: &[Timed]) -> Vec<String> {
    let mut row = r(&[&start.to_string(), &end.to_string()]);
    if let Some(key) = key {
        row.push(key.unwrap_or("NULL").to_string());
    }
    let values: Vec<Option<i64>> = rows.iter().map(|r| r.1).collect();
    row.extend(naive_aggregates(&values));
    row
}

/// What the reference expects: rows emitted (with the watermark that emitted them), the
/// late count, the batch result over the rows kept, and how many kept rows touched a
/// fired session (Flink has forgotten it: the row joins or opens another session, so
/// the stream differs from the batch result).
struct Expected {
    emitted: Vec<Vec<String>>,
    late: u64,
    batch: Vec<Vec<String>>,
    reopened: usize,
}

/// Recomputes, at every event, each key's sessions from its rows not yet fired.
fn naive(events: &[Ev], gap: i64, keyed: bool) -> Expected {
    let key_of = |k: Key| keyed.then_some(k);
    let mut open: BTreeMap<Key, Vec<Timed>> = BTreeMap::new();
    let mut fired_sessions: BTreeMap<Key, Vec<(i64, i64)>> = BTreeMap::new();
    let mut kept: BTreeMap<Key, Vec<Timed>> = BTreeMap::new();
    let mut emitted = Vec::new();
    let (mut wm, mut late, mut reopened) = (i64::MIN, 0u64, 0usize);
    for ev in events {
        match ev {
            Ev::Rows(rows) => {
                for &(ts, k, v) in rows {
                    let Some(ts) = ts else { continue };
                    let touches = |s: i64, e: i64| s <= ts + gap && e >= ts;
                    let rows_of_key = open.entry(k).or_default();
                    let joins = sessions_of(rows_of_key.clone(), gap)
                        .iter()
                        .any(|s| touches(s.0, s.1));
                    if !joins && wm != i64::MIN && ts + gap - 1 <= wm {
                        late += 1;
                        continue;
                    }
                    let near_fired = fired_sessions
                        .get(&k)
                        .is_some_and(|f| f.iter().any(|&(s, e)| touches(s, e)));
                    reopened += usize::from(near_fired);
                    rows_of_key.push((ts, v));
                    kept.entry(k).or_default().push((ts, v));
                }
            }
            Ev::Wm(w) => {
                wm = wm.max(*w);
                for (k, rows) in open.iter_mut() {
                    let mut still = Vec::new();
                    for (s, e, members) in sessions_of(std::mem::take(rows), gap) {
                        if e - 1 <= wm {
                            let mut row = vec![w.to_string()];
                            row.extend(result_row(s, e, key_of(*k), &members));
                            emitted.push(row);
                            fired_sessions.entry(*k).or_default().push((s, e));
                        } else {
                            still.extend(members);
                        }
                    }
                    *rows = still;
                }
            }
        }
    }
    let mut batch = Vec::new();
    for (k, rows) in &kept {
        for (s, e, members) in sessions_of(rows.clone(), gap) {
            batch.push(result_row(s, e, key_of(*k), &members));
        }
    }
    Expected {
        emitted,
        late,
        batch,
        reopened,
    }
}

/// Random out-of-order rows with a random-delay watermark, checked against [`naive`]:
/// same rows (multiset), each emitted at the first watermark reaching its end, same
/// late count, no state left; and equal to the batch result over the rows kept when no
/// kept row reopened a fired session. Returns how many rows reopened one.
/// With `bounded`, no row is older than the watermark (disorder stays within the
/// watermark delay), as with a well-chosen `WATERMARK FOR ts AS ts - delay`.
fn check_against_naive(gap: i64, keyed: bool, seed: u64, bounded: bool) -> usize {
    let schema = input_schema(TimeUnit::Millisecond, None);
    let aggregates = vec![
        agg(&schema, count_udaf(), "cnt", false, None),
        agg(&schema, sum_udaf(), "total", false, None),
        agg(&schema, min_udaf(), "lo", false, None),
        agg(&schema, max_udaf(), "hi", false, None),
        agg(&schema, avg_udaf(), "mean", false, None),
        agg(&schema, sum_udaf(), "distinct_total", true, None),
        agg(&schema, sum_udaf(), "big_total", false, Some(50)),
    ];
    let def = session_aggregate(gap, &schema, keyed, aggregates);
    let mut op = SessionWindowOperator::new(Arc::new(def), &SubtaskContext::single("s")).unwrap();
    let mut rng = SmallRng::seed_from_u64(seed);
    let keys: &[Key] = if keyed {
        &[Some("a"), Some("b"), Some("c"), None]
    } else {
        &[None]
    };
    let mut events = Vec::new();
    let (mut base, mut max_ts, mut wm) = (-20_000i64, i64::MIN, i64::MIN);
    // Each run picks its own watermark delay; rows are mostly a little out of order,
    // sometimes very late; the stream has quiet stretches that close sessions.
    let delay = rng.random_range(0..3 * gap);
    for _ in 0..40 {
        let n = rng.random_range(0..12);
        let rows: Vec<Row> = (0..n)
            .map(|_| {
                let spread = if rng.random_range(0..5) == 0 {
                    4 * gap
                } else {
                    gap
                };
                let mut ts = base + rng.random_range(-spread..gap / 2);
                if bounded && wm != i64::MIN {
                    ts = ts.max(wm + 1);
                }
                let v = (rng.random_range(0..8) != 0).then(|| rng.random_range(0..100));
                (Some(ts), keys[rng.random_range(0..keys.len())], v)
            })
            .collect();
        max_ts = rows.iter().filter_map(|r| r.0).fold(max_ts, i64::max);
        events.push(Ev::Rows(rows));
        if rng.random_range(0..3) != 0 && max_ts.saturating_sub(delay) > wm {
            wm = max_ts - delay;
            events.push(Ev::Wm(wm));
        }
        base += if rng.random_range(0..6) == 0 {
            3 * gap
        } else {
            rng.random_range(0..gap / 2)
        };
    }
    events.push(Ev::Wm(i64::MAX));
    let expected = naive(&events, gap, keyed);

    let out = drive(&mut op, &schema, events);
    let mut actual = Vec::new();
    for messages in &out {
        let Some(Message::Watermark(Watermark(at))) = messages.last() else {
            assert!(messages.is_empty(), "rows emitted without a watermark");
            continue;
        };
        let rows = fired(messages, *at);
        let ends: Vec<i64> = rows.iter().map(|row| row[1].parse().unwrap()).collect();
        assert!(
            ends.windows(2).all(|p| p[0] <= p[1]),
            "sessions out of order"
        );
        for row in rows {
            let mut with_at = vec![at.to_string()];
            with_at.extend(row);
            actual.push(with_at);
        }
    }
    assert!(!expected.emitted.is_empty());
    let context = format!("gap {gap} keyed {keyed} seed {seed} bounded {bounded}");
    assert_eq!(
        sorted(actual.clone()),
        sorted(expected.emitted),
        "{context}"
    );
    assert_eq!(late(&op), expected.late, "{context}");
    assert_eq!(op.open_sessions(), 0);
    if expected.reopened == 0 {
        let streamed: Vec<Vec<String>> = actual.into_iter().map(|r| r[1..].to_vec()).collect();
        assert_eq!(sorted(streamed), sorted(expected.batch), "batch, {context}");
    }
    expected.reopened
}

#[test]
fn keyed_sessions_match_naive_reference() {
    for seed in 0..20 {
        check_against_naive(2000, true, seed, false);
    }
}

#[test]
fn global_sessions_match_naive_reference() {
    for seed in 0..12 {
        check_against_naive(1000, false, seed, false);
    }
}

#[test]
fn with_bounded_disorder_the_stream_equals_the_batch_result() {
    let mut batch_checked = 0;
    for seed in 0..20 {
        batch_checked += usize::from(check_against_naive(2000, true, seed, true) == 0);
        batch_checked += usize::from(check_against_naive(1000, false, seed, true) == 0);
    }
    // The batch comparison must not be vacuous.
    assert!(
        batch_checked >= 30,
        "only {batch_checked} of 40 runs compared with the batch result"
    );
}
