//! Window and slice assignment: the slice a timestamp falls in, the windows a slice
//! belongs to, and the columnar partitioning of a batch's rows by slice.
//!
//! Every window kind is cut into equal, disjoint *slices* aligned to the offset:
//! TUMBLE into slices of `size` (slice = window), HOP into slices of `gcd(size, slide)`,
//! CUMULATE into slices of `step`. A slice is named by its (exclusive) end. Window ends
//! lie on a regular lattice (`window_step` apart), so the windows of a slice are the
//! lattice points between [`WindowSpec::first_window_end`] and
//! [`WindowSpec::last_window_end`], both monotone in the slice end.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::{DataType, TimeUnit};
use weir_types::{EngineError, EngineResult};

use super::WindowSpec;

/// Floor of `ts` to a multiple of `size` shifted by `offset` (Flink's `getWindowStartWithOffset`).
fn align_down(ts: i64, size: i64, offset: i64) -> i64 {
    ts.saturating_sub(ts.wrapping_sub(offset).rem_euclid(size))
}

/// Greatest common divisor of two positive numbers.
fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl WindowSpec {
    /// Checks sizes: all positive, HOP `size >= slide`, CUMULATE `max_size` a multiple of `step`.
    pub fn validate(&self) -> EngineResult<()> {
        let bad = |msg: String| Err(EngineError::Config(msg));
        match *self {
            WindowSpec::Tumble { size_ms, .. } if size_ms <= 0 => {
                bad(format!("TUMBLE size must be positive, got {size_ms} ms"))
            }
            WindowSpec::Hop {
                size_ms, slide_ms, ..
            } if slide_ms <= 0 || size_ms < slide_ms => bad(format!(
                "HOP needs 0 < slide <= size, got slide {slide_ms} ms and size {size_ms} ms"
            )),
            WindowSpec::Cumulate {
                step_ms,
                max_size_ms,
                ..
            } if step_ms <= 0 || max_size_ms < step_ms || max_size_ms % step_ms != 0 => {
                bad(format!(
                    "CUMULATE max size must be a positive multiple of step, got step {step_ms} ms \
                     and max size {max_size_ms} ms"
                ))
            }
            _ => Ok(()),
        }
    }

    /// Length of one slice in milliseconds.
    pub fn slice_size(&self) -> i64 {
        match *self {
            WindowSpec::Tumble { size_ms, .. } => size_ms,
            WindowSpec::Hop {
                size_ms, slide_ms, ..
            } => gcd(size_ms, slide_ms),
            WindowSpec::Cumulate { step_ms, .. } => step_ms,
        }
    }

    fn offset(&self) -> i64 {
        match *self {
            WindowSpec::Tumble { offset_ms, .. }
            | WindowSpec::Hop { offset_ms, .. }
            | WindowSpec::Cumulate { offset_ms, .. } => offset_ms,
        }
    }

    /// Distance between consecutive window ends.
    fn window_step(&self) -> i64 {
        match *self {
            WindowSpec::Tumble { size_ms, .. } => size_ms,
            WindowSpec::Hop { slide_ms, .. } => slide_ms,
            WindowSpec::Cumulate { step_ms, .. } => step_ms,
        }
    }

    /// Smallest window end (of any window) that is `>= x`.
    fn ceil_window_end(&self, x: i64) -> i64 {
        let phase = match *self {
            WindowSpec::Hop {
                size_ms, offset_ms, ..
            } => offset_ms.wrapping_add(size_ms),
            _ => self.offset(),
        };
        x.saturating_add(phase.wrapping_sub(x).rem_euclid(self.window_step()))
    }

    /// The slice `[end - slice_size, end)` containing `ts`, named by its end.
    pub fn slice_end(&self, ts: i64) -> i64 {
        let size = self.slice_size();
        align_down(ts, size, self.offset()).saturating_add(size)
    }

    /// Start of the window ending at `window_end`.
    pub fn window_start(&self, window_end: i64) -> i64 {
        match *self {
            WindowSpec::Tumble { size_ms, .. } | WindowSpec::Hop { size_ms, .. } => {
                window_end.saturating_sub(size_ms)
            }
            WindowSpec::Cumulate {
                max_size_ms,
                offset_ms,
                ..
            } => align_down(window_end.saturating_sub(1), max_size_ms, offset_ms),
        }
    }

    /// End of the first window the slice ending at `slice_end` belongs to.
    pub fn first_window_end(&self, slice_end: i64) -> i64 {
        match self {
            WindowSpec::Hop { .. } => self.ceil_window_end(slice_end),
            _ => slice_end,
        }
    }

    /// End of the last window the slice ending at `slice_end` belongs to: once that window
    /// has fired, the slice is dropped and rows falling in it are late.
    pub fn last_window_end(&self, slice_end: i64) -> i64 {
        match *self {
            WindowSpec::Tumble { .. } => slice_end,
            WindowSpec::Hop {
                size_ms,
                slide_ms,
                offset_ms,
            } => {
                let slice_start = slice_end.saturating_sub(self.slice_size());
                align_down(slice_start, slide_ms, offset_ms).saturating_add(size_ms)
            }
            WindowSpec::Cumulate {
                max_size_ms,
                offset_ms,
                ..
            } => align_down(slice_end.saturating_sub(1), max_size_ms, offset_ms)
                .saturating_add(max_size_ms),
        }
    }

    /// Ends of every window the slice ending at `slice_end` belongs to, in order.
    pub fn window_ends(&self, slice_end: i64) -> impl Iterator<Item = i64> {
        let step = self.window_step();
        let last = self.last_window_end(slice_end);
        std::iter::successors(Some(self.first_window_end(slice_end)), move |&e| {
            e.checked_add(step)
        })
        .take_while(move |&e| e <= last)
    }

    /// End of the first window of slice `slice_end` that ends after `fired_upto` (windows
    /// ending at or before it have fired), or `None` when all of its windows have fired.
    pub fn next_window_end(&self, slice_end: i64, fired_upto: i64) -> Option<i64> {
        let next = self
            .first_window_end(slice_end)
            .max(self.ceil_window_end(fired_upto.saturating_add(1)));
        (next <= self.last_window_end(slice_end)).then_some(next)
    }
}

/// Event times of a batch in epoch milliseconds, with the column's validity.
pub(crate) struct EventTimes {
    /// Milliseconds, one per row (undefined where the row is NULL).
    pub millis: ScalarBuffer<i64>,
    /// Validity of the time column.
    pub nulls: Option<arrow::buffer::NullBuffer>,
}

impl EventTimes {
    /// Reads a timestamp column; milliseconds are used as they are (no copy).
    pub fn try_new(column: &ArrayRef) -> EngineResult<EventTimes> {
        let (millis, nulls) = match column.data_type() {
            DataType::Timestamp(unit, _) => {
                let raw = match unit {
                    TimeUnit::Second => column
                        .as_primitive::<arrow::datatypes::TimestampSecondType>()
                        .values()
                        .clone(),
                    TimeUnit::Millisecond => column
                        .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                        .values()
                        .clone(),
                    TimeUnit::Microsecond => column
                        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                        .values()
                        .clone(),
                    TimeUnit::Nanosecond => column
                        .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
                        .values()
                        .clone(),
                };
                let millis = match unit {
                    TimeUnit::Millisecond => raw,
                    TimeUnit::Second => raw.iter().map(|s| s.saturating_mul(1000)).collect(),
                    TimeUnit::Microsecond => raw.iter().map(|u| u.div_euclid(1000)).collect(),
                    TimeUnit::Nanosecond => raw.iter().map(|n| n.div_euclid(1_000_000)).collect(),
                };
                (millis, column.logical_nulls())
            }
            other => {
                return Err(EngineError::Internal(format!(
                    "window time column must be a TIMESTAMP, got {other}"
                )))
            }
        };
        Ok(EventTimes { millis, nulls })
    }
}

/// A batch's rows grouped by slice.
#[derive(Debug, PartialEq)]
pub(crate) enum SliceRows {
    /// Every row falls in the slice ending at this value (no NULL times).
    All(i64),
    /// Row indices per slice end, in order of first appearance; NULL-time rows are absent.
    Some(Vec<(i64, Vec<u32>)>),
}

/// Groups the rows of a batch by slice with one pass of integer arithmetic. The common
/// case, every row in one slice, is detected without allocating; otherwise each slice
/// gets one index list (no allocation per row beyond amortised `Vec` growth).
pub(crate) fn partition_by_slice(spec: &WindowSpec, times: &EventTimes) -> SliceRows {
    let size = spec.slice_size();
    let millis = &times.millis[..];
    let is_valid = |i: usize| times.nulls.as_ref().is_none_or(|n| n.is_valid(i));
    // Fast path: all rows valid and inside the first row's slice.
    let first_end = match millis.first() {
        Some(&t) if is_valid(0) => spec.slice_end(t),
        Some(_) => i64::MIN,
        None => return SliceRows::Some(Vec::new()),
    };
    let first_start = first_end.saturating_sub(size);
    let in_first = |t: i64| t >= first_start && t < first_end;
    let all_same = first_end != i64::MIN
        && times.nulls.as_ref().is_none_or(|n| n.null_count() == 0)
        && millis.iter().all(|&t| in_first(t));
    if all_same {
        return SliceRows::All(first_end);
    }
    let mut parts: Vec<(i64, Vec<u32>)> = Vec::new();
    let mut index: HashMap<i64, usize> = HashMap::new();
    // Cache of the last slice hit: consecutive rows mostly share a slice.
    let (mut cur_start, mut cur_end, mut cur_part) = (i64::MAX, i64::MIN, 0usize);
    for (i, &t) in millis.iter().enumerate() {
        if !is_valid(i) {
            continue;
        }
        if !(t >= cur_start && t < cur_end) {
            cur_end = spec.slice_end(t);
            cur_start = cur_end.saturating_sub(size);
            cur_part = *index.entry(cur_end).or_insert_with(|| {
                parts.push((cur_end, Vec::new()));
                parts.len() - 1
            });
        }
        parts[cur_part].1.push(i as u32);
    }
    SliceRows::Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumble_assignment_with_offset_and_negatives() {
        let t = WindowSpec::Tumble {
            size_ms: 10,
            offset_ms: 0,
        };
        assert_eq!(t.slice_end(0), 10);
        assert_eq!(t.slice_end(9), 10);
        assert_eq!(t.slice_end(-1), 0);
        assert_eq!(t.slice_end(-10), 0);
        assert_eq!(t.slice_end(-11), -10);
        let t = WindowSpec::Tumble {
            size_ms: 10,
            offset_ms: 3,
        };
        assert_eq!(t.slice_end(2), 3);
        assert_eq!(t.slice_end(3), 13);
        assert_eq!(t.window_start(13), 3);
        assert_eq!(t.last_window_end(13), 13);
        assert_eq!(t.next_window_end(13, 12), Some(13));
        assert_eq!(t.next_window_end(13, 13), None);
    }

    #[test]
    fn hop_slices_and_windows() {
        // size 10, slide 4: slices of 2, window ends at 10 + 4k (offset 0).
        let h = WindowSpec::Hop {
            size_ms: 10,
            slide_ms: 4,
            offset_ms: 0,
        };
        assert_eq!(h.slice_size(), 2);
        assert_eq!(h.slice_end(5), 6);
        // Slice [4, 6) is in windows [-4,6), [0,10), [4,14) (starts multiple of 4, start <= 4, end >= 6).
        assert_eq!(h.first_window_end(6), 6);
        assert_eq!(h.last_window_end(6), 14);
        assert_eq!(h.next_window_end(6, 10), Some(14));
        assert_eq!(h.next_window_end(6, 14), None);
        // Slice [-2, 0): windows [-8,2) and [-4,6).
        assert_eq!(h.first_window_end(0), 2);
        assert_eq!(h.last_window_end(0), 6);
    }

    #[test]
    fn cumulate_windows() {
        let c = WindowSpec::Cumulate {
            step_ms: 5,
            max_size_ms: 15,
            offset_ms: 0,
        };
        assert_eq!(c.slice_end(7), 10);
        assert_eq!(c.window_start(10), 0);
        assert_eq!(c.window_start(15), 0);
        assert_eq!(c.window_start(20), 15);
        assert_eq!(c.last_window_end(10), 15);
        assert_eq!(c.last_window_end(20), 30);
        assert_eq!(c.next_window_end(5, 5), Some(10));
        assert!(c.validate().is_ok());
        assert!(WindowSpec::Cumulate {
            step_ms: 4,
            max_size_ms: 15,
            offset_ms: 0
        }
        .validate()
        .is_err());
    }

    #[test]
    fn partitions_rows_by_slice() {
        let spec = WindowSpec::Tumble {
            size_ms: 10,
            offset_ms: 0,
        };
        let times = |v: Vec<Option<i64>>| {
            let a: ArrayRef = std::sync::Arc::new(arrow::array::TimestampMillisecondArray::from(v));
            EventTimes::try_new(&a).unwrap()
        };
        assert_eq!(
            partition_by_slice(&spec, &times(vec![Some(1), Some(9)])),
            SliceRows::All(10)
        );
        assert_eq!(
            partition_by_slice(
                &spec,
                &times(vec![Some(1), None, Some(25), Some(2), Some(-1)])
            ),
            SliceRows::Some(vec![(10, vec![0, 3]), (30, vec![2]), (0, vec![4])])
        );
    }
}
