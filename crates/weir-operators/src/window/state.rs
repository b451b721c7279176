//! The state of one window aggregation subtask: live slices, each holding per-key
//! accumulators, and the firing of windows by combining slices.
//!
//! A slice has an *open* part, where rows are added (DataFusion `GroupValues` mapping keys
//! to group indices, plus one `GroupsAccumulator` per aggregate), and *frozen* chunks:
//! the intermediate state (`GroupsAccumulator::state`) of an open part, as Arrow arrays
//! with their key columns. A window is built by merging the frozen chunks of the slices it
//! covers into fresh accumulators (`merge_batch`), so a slice shared by several windows
//! (HOP, CUMULATE) computes its state once and is never recomputed from rows. A window
//! whose only slice is needed by no later window (every TUMBLE window) is evaluated
//! straight from the open part, without the state round trip.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use arrow::array::{new_empty_array, Array, ArrayRef, AsArray, BooleanArray, UInt32Array};
use arrow::compute::{cast, prep_null_mask_filter, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::{GroupsAccumulatorAdapter, PhysicalExpr};
use datafusion::physical_plan::aggregates::group_values::{new_group_values, GroupValues};
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use weir_types::{EngineError, EngineResult};

use super::{FilteredAggregate, WindowAggregate, WindowSpec};

/// The aggregates and keys of a window aggregation, prepared once per subtask.
pub(crate) struct Aggregates {
    exprs: Vec<Arc<AggregateFunctionExpr>>,
    /// Arguments of each aggregate, then its ORDER BY expressions (as DataFusion passes them).
    args: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    key_columns: Vec<usize>,
    /// Types of the key columns (all nullable), taken from the output schema.
    key_schema: SchemaRef,
}

impl Aggregates {
    /// Prepares the aggregates of `def`, whose output schema gives the key types.
    pub fn new(def: &WindowAggregate) -> EngineResult<Aggregates> {
        Aggregates::from_parts(&def.aggregates, &def.key_columns, &def.output_schema)
    }

    /// Prepares `aggregates` grouped by `key_columns`; `output_schema` starts with the two
    /// window bounds, then one column per key (which gives the key types).
    pub fn from_parts(
        aggregates: &[FilteredAggregate],
        key_columns: &[usize],
        output_schema: &SchemaRef,
    ) -> EngineResult<Aggregates> {
        let key_fields = output_schema
            .fields()
            .iter()
            .skip(2)
            .take(key_columns.len())
            .map(|f| Field::new(f.name(), f.data_type().clone(), true))
            .collect::<Vec<_>>();
        let mut args = Vec::with_capacity(aggregates.len());
        for (agg, _) in aggregates {
            let mut exprs = agg.expressions();
            exprs.extend(agg.order_bys().iter().map(|s| Arc::clone(&s.expr)));
            args.push(exprs);
        }
        Ok(Aggregates {
            exprs: aggregates.iter().map(|(a, _)| Arc::clone(a)).collect(),
            args,
            filters: aggregates.iter().map(|(_, f)| f.clone()).collect(),
            key_columns: key_columns.to_vec(),
            key_schema: Arc::new(Schema::new(key_fields)),
        })
    }

    /// Types of the key columns, as the operator keeps them (the output key types).
    pub(crate) fn key_types(&self) -> Vec<DataType> {
        self.key_schema
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect()
    }

    /// Fresh accumulators, one per aggregate: DataFusion's vectorised `GroupsAccumulator`
    /// where the function has one, else per-group `Accumulator`s behind DataFusion's adapter.
    pub(crate) fn accumulators(&self) -> EngineResult<Vec<Box<dyn GroupsAccumulator>>> {
        self.exprs
            .iter()
            .map(|agg| -> EngineResult<Box<dyn GroupsAccumulator>> {
                if agg.groups_accumulator_supported() {
                    Ok(agg.create_groups_accumulator()?)
                } else {
                    let agg = Arc::clone(agg);
                    Ok(Box::new(GroupsAccumulatorAdapter::new(move || {
                        agg.create_accumulator()
                    })))
                }
            })
            .collect()
    }

    fn key_groups(&self) -> EngineResult<KeyGroups> {
        if self.key_columns.is_empty() {
            Ok(KeyGroups::Global { used: false })
        } else {
            Ok(KeyGroups::Keyed(new_group_values(
                Arc::clone(&self.key_schema),
                &GroupOrdering::None,
            )?))
        }
    }

    /// Evaluates the key columns, aggregate arguments and FILTER predicates over a batch.
    pub fn inputs(&self, batch: &RecordBatch) -> EngineResult<Inputs> {
        let rows = batch.num_rows();
        let mut keys = Vec::with_capacity(self.key_columns.len());
        for (&i, field) in self.key_columns.iter().zip(self.key_schema.fields()) {
            let column = batch.columns().get(i).ok_or_else(|| {
                EngineError::Internal(format!("window key column {i} is not in the input"))
            })?;
            keys.push(if column.data_type() == field.data_type() {
                Arc::clone(column)
            } else {
                cast(column, field.data_type())?
            });
        }
        let mut args = Vec::with_capacity(self.args.len());
        for exprs in &self.args {
            let values = exprs
                .iter()
                .map(|e| e.evaluate(batch)?.into_array(rows))
                .collect::<Result<Vec<_>, _>>()?;
            args.push(values);
        }
        let mut filters = Vec::with_capacity(self.filters.len());
        for filter in &self.filters {
            filters.push(match filter {
                None => None,
                Some(predicate) => {
                    let mask = predicate.evaluate(batch)?.into_array(rows)?;
                    let Some(mask) = mask.as_boolean_opt() else {
                        return Err(EngineError::Internal(format!(
                            "aggregate FILTER evaluated to {} instead of BOOLEAN",
                            mask.data_type()
                        )));
                    };
                    // NULL means "not selected"; accumulators read only the values.
                    Some(if mask.null_count() > 0 {
                        prep_null_mask_filter(mask)
                    } else {
                        mask.clone()
                    })
                }
            });
        }
        Ok(Inputs {
            rows,
            keys,
            args,
            filters,
        })
    }
}

/// The columns of a batch that the aggregation reads.
pub(crate) struct Inputs {
    /// Number of rows.
    pub rows: usize,
    /// Key columns, cast to the output key types.
    pub keys: Vec<ArrayRef>,
    /// Per aggregate, its argument columns.
    pub args: Vec<Vec<ArrayRef>>,
    /// Per aggregate, its FILTER mask (NULL already folded to false).
    pub filters: Vec<Option<BooleanArray>>,
}

impl Inputs {
    /// The rows at `indices` (one `take` per column).
    pub fn take(&self, indices: Vec<u32>) -> EngineResult<Inputs> {
        let indices = UInt32Array::from(indices);
        let pick = |a: &ArrayRef| take(a.as_ref(), &indices, None);
        let mut filters = Vec::with_capacity(self.filters.len());
        for f in &self.filters {
            filters.push(match f {
                None => None,
                Some(f) => Some(take(f, &indices, None)?.as_boolean().clone()),
            });
        }
        Ok(Inputs {
            rows: indices.len(),
            keys: self.keys.iter().map(pick).collect::<Result<_, _>>()?,
            args: self
                .args
                .iter()
                .map(|a| a.iter().map(pick).collect::<Result<_, _>>())
                .collect::<Result<_, _>>()?,
            filters,
        })
    }
}

/// Maps keys to dense group indices.
enum KeyGroups {
    /// No GROUP BY keys besides the window: one group.
    Global { used: bool },
    /// DataFusion's hash table of key values (specialised per key type, vectorised).
    Keyed(Box<dyn GroupValues>),
}

impl KeyGroups {
    fn intern(
        &mut self,
        keys: &[ArrayRef],
        rows: usize,
        groups: &mut Vec<usize>,
    ) -> EngineResult<()> {
        groups.clear();
        match self {
            KeyGroups::Global { used } => {
                *used |= rows > 0;
                groups.resize(rows, 0);
            }
            KeyGroups::Keyed(values) => values.intern(keys, groups)?,
        }
        Ok(())
    }

    fn len(&self) -> usize {
        match self {
            KeyGroups::Global { used } => usize::from(*used),
            KeyGroups::Keyed(values) => values.len(),
        }
    }

    /// The key columns of all groups, in group index order.
    fn emit(&mut self, aggs: &Aggregates) -> EngineResult<Vec<ArrayRef>> {
        match self {
            KeyGroups::Global { .. } => Ok(Vec::new()),
            // `GroupValuesRows::emit` panics when nothing was interned: avoid calling it.
            KeyGroups::Keyed(values) if values.is_empty() => Ok(aggs
                .key_schema
                .fields()
                .iter()
                .map(|f| new_empty_array(f.data_type()))
                .collect()),
            KeyGroups::Keyed(values) => Ok(values.emit(EmitTo::All)?),
        }
    }
}

/// A window's (or a frozen slice's) keys and aggregate values, ready to emit.
pub(crate) struct Evaluated {
    /// Number of groups.
    pub rows: usize,
    /// Key columns.
    pub keys: Vec<ArrayRef>,
    /// One final value column per aggregate.
    pub values: Vec<ArrayRef>,
}

/// Intermediate aggregate state of a set of groups, with their keys (distinct).
#[derive(Clone)]
pub(crate) struct Chunk {
    /// Number of groups.
    pub rows: usize,
    /// Key columns (output key types).
    pub keys: Vec<ArrayRef>,
    /// `GroupsAccumulator::state` of each aggregate.
    pub states: Vec<Vec<ArrayRef>>,
}

/// One part of a slice as a checkpoint stores it: a frozen chunk (`index` in the
/// slice's list) or the open part (`open`), as intermediate state.
pub(crate) struct StoredPart {
    /// End of the slice.
    pub slice_end: i64,
    /// Position among the slice's frozen chunks (the open part comes after them).
    pub index: u32,
    /// Whether this is the open part, where rows are still added.
    pub open: bool,
    /// The groups and their intermediate states.
    pub chunk: Chunk,
}

/// Groups being accumulated: keys, and one accumulator per aggregate.
struct Part {
    groups: KeyGroups,
    /// Set instead of `groups` when the part was built from one chunk: its row count and keys.
    fixed: Option<(usize, Vec<ArrayRef>)>,
    accs: Vec<Box<dyn GroupsAccumulator>>,
}

impl Part {
    fn new(aggs: &Aggregates) -> EngineResult<Part> {
        Ok(Part {
            groups: aggs.key_groups()?,
            fixed: None,
            accs: aggs.accumulators()?,
        })
    }

    fn rows(&self) -> usize {
        match &self.fixed {
            Some((rows, _)) => *rows,
            None => self.groups.len(),
        }
    }

    /// Adds rows to their groups.
    fn update(&mut self, inputs: &Inputs, groups: &mut Vec<usize>) -> EngineResult<()> {
        self.groups.intern(&inputs.keys, inputs.rows, groups)?;
        let total = self.groups.len();
        for ((acc, args), filter) in self.accs.iter_mut().zip(&inputs.args).zip(&inputs.filters) {
            acc.update_batch(args, groups, filter.as_ref(), total)?;
        }
        Ok(())
    }

    /// Merges intermediate states into this part's groups.
    fn merge(&mut self, chunk: &Chunk, groups: &mut Vec<usize>) -> EngineResult<()> {
        self.groups.intern(&chunk.keys, chunk.rows, groups)?;
        let total = self.groups.len();
        for (acc, states) in self.accs.iter_mut().zip(&chunk.states) {
            acc.merge_batch(states, groups, total)?;
        }
        Ok(())
    }

    /// A part holding exactly the groups of `chunk` (its keys are distinct: no hashing).
    fn from_chunk(aggs: &Aggregates, chunk: &Chunk, groups: &mut Vec<usize>) -> EngineResult<Part> {
        let mut part = Part::new(aggs)?;
        groups.clear();
        groups.extend(0..chunk.rows);
        for (acc, states) in part.accs.iter_mut().zip(&chunk.states) {
            acc.merge_batch(states, groups, chunk.rows)?;
        }
        part.fixed = Some((chunk.rows, chunk.keys.clone()));
        Ok(part)
    }

    fn take_keys(&mut self, aggs: &Aggregates) -> EngineResult<Vec<ArrayRef>> {
        match self.fixed.take() {
            Some((_, keys)) => Ok(keys),
            None => self.groups.emit(aggs),
        }
    }

    /// Final values of every group.
    fn evaluate(mut self, aggs: &Aggregates) -> EngineResult<Evaluated> {
        let rows = self.rows();
        let keys = self.take_keys(aggs)?;
        let values = self
            .accs
            .iter_mut()
            .map(|acc| acc.evaluate(EmitTo::All))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Evaluated { rows, keys, values })
    }

    /// Intermediate state of every group, or `None` when there is no group.
    fn into_chunk(mut self, aggs: &Aggregates) -> EngineResult<Option<Chunk>> {
        let rows = self.rows();
        if rows == 0 {
            return Ok(None);
        }
        let keys = self.take_keys(aggs)?;
        let states = self
            .accs
            .iter_mut()
            .map(|acc| acc.state(EmitTo::All))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Chunk { rows, keys, states }))
    }
}

/// One slice: rows still being added (`open`) and frozen intermediate states.
#[derive(Default)]
struct Slice {
    open: Option<Part>,
    frozen: Vec<Chunk>,
}

impl Slice {
    /// Moves the open part, if any, into a frozen chunk.
    fn freeze(&mut self, aggs: &Aggregates) -> EngineResult<()> {
        if let Some(open) = self.open.take() {
            if let Some(chunk) = open.into_chunk(aggs)? {
                self.frozen.push(chunk);
            }
        }
        Ok(())
    }
}

/// All state of one window aggregation subtask, in one place so that it can be
/// snapshotted (see `checkpoint_agg.rs`): every frozen chunk and the intermediate state
/// of every open part, with its slice end, plus `fired_upto`.
///
/// Memory is proportional to live slices x keys: a slice lives until the last window
/// that covers it has fired.
pub struct WindowState {
    /// Live slices by slice end.
    slices: BTreeMap<i64, Slice>,
    /// Windows ending at or before this (watermark + 1) have fired; `i64::MIN` before
    /// the first watermark.
    fired_upto: i64,
    /// Allowed lateness (ms): a fired window's slices are kept until `end + lateness <=
    /// fired_upto`, so late rows can update it.
    lateness: i64,
    /// Updating emission (early fire or allowed lateness): windows are evaluated without
    /// consuming their slices, so they can be evaluated again.
    keep: bool,
}

impl Default for WindowState {
    fn default() -> Self {
        WindowState::new(0, false)
    }
}

impl WindowState {
    /// An empty state keeping fired windows for `lateness` ms; `keep` evaluates windows
    /// without consuming their slices (for updating emission).
    pub fn new(lateness: i64, keep: bool) -> WindowState {
        WindowState {
            slices: BTreeMap::new(),
            fired_upto: i64::MIN,
            lateness: lateness.max(0),
            keep,
        }
    }

    /// Windows ending at or before this have fired (watermark + 1; `i64::MIN` before the
    /// first watermark).
    pub fn fired_upto(&self) -> i64 {
        self.fired_upto
    }

    /// Whether the window ending at `end` is past its allowed lateness: its result can
    /// no longer change.
    pub fn is_expired(&self, end: i64) -> bool {
        self.fired_upto != i64::MIN && end.saturating_add(self.lateness) <= self.fired_upto
    }
    /// Number of slices holding state.
    pub fn live_slices(&self) -> usize {
        self.slices.len()
    }

    /// Whether rows of slice `slice_end` are late: every window covering it has fired
    /// and is past its allowed lateness.
    pub fn is_late(&self, spec: &WindowSpec, slice_end: i64) -> bool {
        self.is_expired(spec.last_window_end(slice_end))
    }

    /// Adds rows (all in slice `slice_end`, not late) to the slice's open part.
    pub(crate) fn add(
        &mut self,
        aggs: &Aggregates,
        slice_end: i64,
        inputs: &Inputs,
        groups: &mut Vec<usize>,
    ) -> EngineResult<()> {
        let slice = match self.slices.get_mut(&slice_end) {
            Some(slice) => slice,
            None => self.slices.entry(slice_end).or_insert(Slice {
                open: Some(Part::new(aggs)?),
                frozen: Vec::new(),
            }),
        };
        let open = match &mut slice.open {
            Some(open) => open,
            None => slice.open.insert(Part::new(aggs)?),
        };
        open.update(inputs, groups)
    }

    /// Advances to `watermark`: fires, in order of window end, every window with data
    /// whose end - 1 <= watermark, then drops the slices no unfired window needs.
    /// Returns (window start, window end, result) per fired window.
    pub(crate) fn advance(
        &mut self,
        spec: &WindowSpec,
        aggs: &Aggregates,
        watermark: i64,
        groups: &mut Vec<usize>,
    ) -> EngineResult<Vec<(i64, i64, Evaluated)>> {
        let limit = watermark.saturating_add(1);
        let mut fired = Vec::new();
        if limit <= self.fired_upto {
            return Ok(fired);
        }
        loop {
            self.drop_expired(spec);
            // The next window with data is the first unfired window of the first live
            // slice with one (window ends are a lattice and a slice's windows are
            // monotone in it; slices kept for allowed lateness only are skipped).
            let fired_upto = self.fired_upto;
            let Some(&first) = self
                .slices
                .keys()
                .find(|&&s| spec.last_window_end(s) > fired_upto)
            else {
                break;
            };
            let Some(end) = spec.next_window_end(first, self.fired_upto) else {
                return Err(EngineError::Internal(format!(
                    "window slice {first} outlived its windows"
                )));
            };
            if end > limit {
                break;
            }
            let result = if self.keep {
                self.evaluate(aggs, spec, end, groups)?
            } else {
                self.fire(spec, aggs, end, groups)?
            };
            if let Some(result) = result {
                if result.rows > 0 {
                    fired.push((spec.window_start(end), end, result));
                }
            }
            self.fired_upto = end;
        }
        self.fired_upto = limit;
        self.drop_expired(spec);
        Ok(fired)
    }

    /// The state to checkpoint: every frozen chunk, and the intermediate state of every
    /// open part. An open part is replaced by a fresh part into which its state is merged
    /// back (what a restore builds too), so the operator goes on exactly as a restored
    /// one; only aggregates whose state round-trips exactly may be checkpointed.
    pub(crate) fn checkpoint(
        &mut self,
        aggs: &Aggregates,
        groups: &mut Vec<usize>,
    ) -> EngineResult<Vec<StoredPart>> {
        let mut parts = Vec::new();
        for (&slice_end, slice) in self.slices.iter_mut() {
            for (index, chunk) in slice.frozen.iter().enumerate() {
                parts.push(StoredPart {
                    slice_end,
                    index: index as u32,
                    open: false,
                    chunk: chunk.clone(),
                });
            }
            if let Some(open) = slice.open.take() {
                if let Some(chunk) = open.into_chunk(aggs)? {
                    let mut part = Part::new(aggs)?;
                    part.merge(&chunk, groups)?;
                    slice.open = Some(part);
                    parts.push(StoredPart {
                        slice_end,
                        index: slice.frozen.len() as u32,
                        open: true,
                        chunk,
                    });
                }
            }
        }
        Ok(parts)
    }

    /// Restores one part of slice `slice_end` (frozen parts in their stored order, then
    /// the open part); the chunk's keys may come from several old subtasks.
    pub(crate) fn restore_part(
        &mut self,
        aggs: &Aggregates,
        slice_end: i64,
        open: bool,
        chunk: &Chunk,
        groups: &mut Vec<usize>,
    ) -> EngineResult<()> {
        let mut part = Part::new(aggs)?;
        part.merge(chunk, groups)?;
        let slice = self.slices.entry(slice_end).or_default();
        if open {
            slice.open = Some(part);
        } else if let Some(chunk) = part.into_chunk(aggs)? {
            slice.frozen.push(chunk);
        }
        Ok(())
    }

    /// Sets where windows have fired (a restored watermark + 1), never backwards.
    pub(crate) fn restore_fired_upto(&mut self, fired_upto: i64) {
        self.fired_upto = self.fired_upto.max(fired_upto);
    }

    /// Drops the slices whose last window has fired (a prefix: last ends are monotone).
    fn drop_expired(&mut self, spec: &WindowSpec) {
        let (fired_upto, lateness) = (self.fired_upto, self.lateness);
        while let Some(entry) = self.slices.first_entry() {
            let end = spec.last_window_end(*entry.key());
            if fired_upto == i64::MIN || end.saturating_add(lateness) > fired_upto {
                break;
            }
            entry.remove();
        }
    }

    /// The current result of the window ending at `end`, leaving its slices in place
    /// (their open parts are frozen, and each slice's chunks compacted into one), so it
    /// can be evaluated again after more rows. `None` when the window has no rows.
    pub(crate) fn evaluate(
        &mut self,
        aggs: &Aggregates,
        spec: &WindowSpec,
        end: i64,
        groups: &mut Vec<usize>,
    ) -> EngineResult<Option<Evaluated>> {
        let start = spec.window_start(end);
        let range = (Bound::Excluded(start), Bound::Included(end));
        let mut part: Option<Part> = None;
        for (_, slice) in self.slices.range_mut(range) {
            slice.freeze(aggs)?;
            if slice.frozen.len() > 1 {
                let mut merged = Part::new(aggs)?;
                for chunk in &slice.frozen {
                    merged.merge(chunk, groups)?;
                }
                slice.frozen = merged.into_chunk(aggs)?.into_iter().collect();
            }
            for chunk in &slice.frozen {
                let target = match &mut part {
                    Some(part) => part,
                    None => part.insert(Part::new(aggs)?),
                };
                target.merge(chunk, groups)?;
            }
        }
        match part {
            Some(part) if part.rows() > 0 => part.evaluate(aggs).map(Some),
            _ => Ok(None),
        }
    }

    /// Computes the window ending at `end` from the slices it covers.
    fn fire(
        &mut self,
        spec: &WindowSpec,
        aggs: &Aggregates,
        end: i64,
        groups: &mut Vec<usize>,
    ) -> EngineResult<Option<Evaluated>> {
        let start = spec.window_start(end);
        let range = (Bound::Excluded(start), Bound::Included(end));
        let ends: Vec<i64> = self.slices.range(range).map(|(&e, _)| e).collect();
        // A lone slice needed by no later window (TUMBLE, or a sparse HOP/CUMULATE
        // window): evaluate it in place.
        if let [only] = ends[..] {
            if spec.last_window_end(only) == end {
                if let Some(slice) = self.slices.get_mut(&only) {
                    if slice.frozen.is_empty() {
                        if let Some(open) = slice.open.take() {
                            return open.evaluate(aggs).map(Some);
                        }
                    }
                }
            }
        }
        for e in &ends {
            if let Some(slice) = self.slices.get_mut(e) {
                slice.freeze(aggs)?;
            }
        }
        let chunks: Vec<&Chunk> = ends
            .iter()
            .filter_map(|e| self.slices.get(e))
            .flat_map(|s| s.frozen.iter())
            .collect();
        let mut part = match chunks[..] {
            [] => return Ok(None),
            [chunk] => Part::from_chunk(aggs, chunk, groups)?,
            _ => {
                let mut part = Part::new(aggs)?;
                for chunk in &chunks {
                    part.merge(chunk, groups)?;
                }
                part
            }
        };
        // CUMULATE: every later window of this period covers the same slices, so fold
        // them into one chunk at `end` and later windows merge one prefix, not all slices.
        let fold = matches!(spec, WindowSpec::Cumulate { .. })
            && chunks.len() > 1
            && spec.last_window_end(end) > end;
        if fold {
            if let Some(prefix) = part.into_chunk(aggs)? {
                part = Part::from_chunk(aggs, &prefix, groups)?;
                for e in &ends {
                    self.slices.remove(e);
                }
                self.slices.insert(
                    end,
                    Slice {
                        open: None,
                        frozen: vec![prefix],
                    },
                );
            } else {
                return Ok(None);
            }
        }
        part.evaluate(aggs).map(Some)
    }
}

/// Casts `array` to `data_type` when it differs (e.g. a planner's wider output type).
pub(crate) fn cast_to(array: ArrayRef, data_type: &DataType) -> EngineResult<ArrayRef> {
    if array.data_type() == data_type {
        Ok(array)
    } else {
        Ok(cast(&array, data_type)?)
    }
}
