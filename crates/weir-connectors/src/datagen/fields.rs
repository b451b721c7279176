//! Column generators of the datagen connector.
//!
//! Each column of the table gets a [`ColumnGen`] built from its Arrow type and its
//! `fields.<name>.*` options (nested types read `fields.<name>.<sub>.*`,
//! `fields.<name>.element.*`, `fields.<name>.key.*` and `fields.<name>.value.*`, as
//! Flink does). [`ColumnGen::generate`] (in `generate.rs`) makes a whole Arrow array per
//! batch.

use std::collections::BTreeMap;

use arrow::datatypes::{DataType, Field, FieldRef};

use crate::descriptor::{ConnectorError, TableDescriptor};
use crate::options::parse_duration;

/// Flink's default length of random strings and bytes.
const DEFAULT_STRING_LENGTH: usize = 100;
/// Flink's default number of elements of random arrays and maps.
const DEFAULT_COLLECTION_LENGTH: usize = 3;

/// How the values of one column (or nested field) are made.
#[derive(Debug, Clone)]
pub(crate) enum GenKind {
    /// Uniform integers in `[min, max]`.
    Int { min: i64, max: i64 },
    /// Uniform floating-point numbers in `[min, max]`.
    Float { min: f64, max: f64 },
    /// Uniform decimals: unscaled values in `[min, max]`.
    Decimal { min: i128, max: i128 },
    /// Random booleans.
    Bool,
    /// Random alphanumeric strings of `length` characters (`1..=length` with `var_len`).
    Str { length: usize, var_len: bool },
    /// Random bytes of `length` bytes (`1..=length` with `var_len`).
    Bytes { length: usize, var_len: bool },
    /// Now minus a random duration below `max_past_ms` (timestamps, dates, times).
    Time { max_past_ms: i64 },
    /// `start, start+1, ...`, strided over the subtasks; numbers or strings.
    Sequence { start: i64 },
    /// Arrays of `length` elements.
    List {
        length: usize,
        element: Box<ColumnGen>,
    },
    /// Maps of `length` entries.
    Map {
        length: usize,
        key: Box<ColumnGen>,
        value: Box<ColumnGen>,
    },
    /// Rows, one generator per field.
    Struct { fields: Vec<ColumnGen> },
}

/// The generator of one column or nested field.
#[derive(Debug, Clone)]
pub(crate) struct ColumnGen {
    pub(super) field: FieldRef,
    pub(super) null_rate: f32,
    pub(super) kind: GenKind,
}

/// Reads `fields.*` options, remembering which keys apply to which field so that unknown
/// ones can be reported precisely. Field names match case-insensitively, because the
/// planner may normalise unquoted identifiers.
pub(crate) struct FieldOptions<'a> {
    table: &'a TableDescriptor,
    /// Lower-case key without `fields.` -> (original key, value).
    given: BTreeMap<String, (&'a str, &'a str)>,
    /// Lower-case field path -> the properties it accepts.
    allowed: BTreeMap<String, Vec<&'static str>>,
}

impl<'a> FieldOptions<'a> {
    /// Collects the table's `fields.*` options.
    pub fn new(table: &'a TableDescriptor) -> Self {
        let given = table
            .options
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix("fields.")?;
                Some((rest.to_lowercase(), (k.as_str(), v.as_str())))
            })
            .collect();
        FieldOptions {
            table,
            given,
            allowed: BTreeMap::new(),
        }
    }

    fn allow(&mut self, path: &str, props: &[&'static str]) {
        self.allowed
            .entry(path.to_lowercase())
            .or_default()
            .extend_from_slice(props);
    }

    fn get(&self, path: &str, prop: &str) -> Option<(&'a str, &'a str)> {
        self.given
            .get(&format!("{}.{prop}", path.to_lowercase()))
            .copied()
    }

    fn invalid(&self, key: &str, value: &str, reason: impl Into<String>) -> ConnectorError {
        ConnectorError::InvalidOption {
            table: self.table.name.clone(),
            option: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    fn parse<T: std::str::FromStr>(
        &self,
        path: &str,
        prop: &str,
        expected: &str,
    ) -> Result<Option<T>, ConnectorError> {
        match self.get(path, prop) {
            None => Ok(None),
            Some((key, v)) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.invalid(key, v, format!("expected {expected}"))),
        }
    }

    /// Fails on a `fields.*` option that names no column, or a property that does not
    /// apply to its field's type and kind.
    pub fn finish(&self) -> Result<(), ConnectorError> {
        let columns: Vec<&str> = self
            .table
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        for (rest, (key, value)) in &self.given {
            let applies = rest.rsplit_once('.').is_some_and(|(path, prop)| {
                self.allowed
                    .get(path)
                    .is_some_and(|props| props.contains(&prop))
            });
            if applies {
                continue;
            }
            let column = rest.split('.').next().unwrap_or_default();
            let reason = if !self.allowed.contains_key(column) {
                format!(
                    "no column '{column}' in the table; columns: {}",
                    columns.join(", ")
                )
            } else {
                let mut supported: Vec<String> = self
                    .allowed
                    .iter()
                    .filter(|(path, _)| *path == column || path.starts_with(&format!("{column}.")))
                    .flat_map(|(path, props)| {
                        props.iter().map(move |p| format!("fields.{path}.{p}"))
                    })
                    .collect();
                supported.sort();
                format!(
                    "this option does not apply to column '{column}' with its type and kind; options that apply: {}",
                    supported.join(", ")
                )
            };
            return Err(self.invalid(key, value, reason));
        }
        Ok(())
    }
}

/// Builds the generator of a top-level column; also returns the length of its sequence,
/// which bounds the source, when it is one.
pub(crate) fn build_column(
    opts: &mut FieldOptions<'_>,
    field: &FieldRef,
) -> Result<(ColumnGen, Option<u64>), ConnectorError> {
    let path = field.name().clone();
    opts.allow(&path, &["kind"]);
    let kind = match opts.get(&path, "kind") {
        None => "random".to_string(),
        Some((_, v)) => v.trim().to_lowercase(),
    };
    match kind.as_str() {
        "random" => Ok((build_random(opts, &path, field)?, None)),
        "sequence" => build_sequence(opts, &path, field),
        other => {
            let (key, _) = opts.get(&path, "kind").unwrap_or(("kind", other));
            Err(opts.invalid(key, other, "expected 'random' or 'sequence'"))
        }
    }
}

fn build_sequence(
    opts: &mut FieldOptions<'_>,
    path: &str,
    field: &FieldRef,
) -> Result<(ColumnGen, Option<u64>), ConnectorError> {
    let dt = field.data_type();
    let (lo, hi) = match dt {
        DataType::Int8 => (i8::MIN as i64, i8::MAX as i64),
        DataType::Int16 => (i16::MIN as i64, i16::MAX as i64),
        DataType::Int32 => (i32::MIN as i64, i32::MAX as i64),
        DataType::Int64 | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            (i64::MIN, i64::MAX)
        }
        DataType::Float32 | DataType::Float64 => (i64::MIN, i64::MAX),
        DataType::Decimal128(p, s) => {
            let limit = decimal_limit(*p) / 10i128.pow(u32::from((*s).max(0) as u8));
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            (-limit, limit)
        }
        other => {
            let (key, value) = opts.get(path, "kind").unwrap_or(("kind", "sequence"));
            return Err(opts.invalid(
                key,
                value,
                format!("kind 'sequence' is not supported for column '{path}' of type {other}; use kind 'random'"),
            ));
        }
    };
    opts.allow(path, &["start", "end"]);
    let bound = |prop: &str| -> Result<i64, ConnectorError> {
        let value: Option<i64> = opts.parse(path, prop, "an integer")?;
        let value = value.ok_or_else(|| ConnectorError::MissingOption {
            table: opts.table.name.clone(),
            option: format!("fields.{path}.{prop}"),
            hint: format!("a sequence column needs 'fields.{path}.start' and 'fields.{path}.end'"),
        })?;
        if value < lo || value > hi {
            let (key, v) = opts.get(path, prop).unwrap_or_default();
            return Err(opts.invalid(key, v, format!("out of the range of {dt}: {lo}..={hi}")));
        }
        Ok(value)
    };
    let start = bound("start")?;
    let end = bound("end")?;
    if end < start {
        let (key, v) = opts.get(path, "end").unwrap_or_default();
        return Err(opts.invalid(
            key,
            v,
            format!("the end of a sequence must not be below its start ({start})"),
        ));
    }
    let len = (end as i128 - start as i128 + 1) as u64;
    let gen = ColumnGen {
        field: field.clone(),
        null_rate: 0.0,
        kind: GenKind::Sequence { start },
    };
    Ok((gen, Some(len)))
}

/// Largest unscaled value of a DECIMAL(p, s).
fn decimal_limit(precision: u8) -> i128 {
    10i128.pow(u32::from(precision.min(38))) - 1
}

fn build_random(
    opts: &mut FieldOptions<'_>,
    path: &str,
    field: &FieldRef,
) -> Result<ColumnGen, ConnectorError> {
    opts.allow(path, &["null-rate"]);
    let null_rate: f32 = opts
        .parse(path, "null-rate", "a number between 0 and 1")?
        .unwrap_or(0.0);
    if let Some((key, v)) = opts.get(path, "null-rate") {
        if !(0.0..=1.0).contains(&null_rate) {
            return Err(opts.invalid(key, v, "expected a number between 0 and 1"));
        }
        if null_rate > 0.0 && !field.is_nullable() {
            return Err(opts.invalid(key, v, format!("'{path}' is NOT NULL")));
        }
    }
    let kind = match field.data_type() {
        DataType::Int8 => int_kind(opts, path, i8::MIN as i64, i8::MAX as i64)?,
        DataType::Int16 => int_kind(opts, path, i16::MIN as i64, i16::MAX as i64)?,
        DataType::Int32 => int_kind(opts, path, i32::MIN as i64, i32::MAX as i64)?,
        DataType::Int64 => int_kind(opts, path, i64::MIN, i64::MAX)?,
        // Flink's defaults: Java's MIN_VALUE (the smallest positive number) to MAX_VALUE.
        DataType::Float32 => float_kind(opts, path, f32::from_bits(1) as f64, f32::MAX as f64)?,
        DataType::Float64 => float_kind(opts, path, f64::from_bits(1), f64::MAX)?,
        DataType::Decimal128(p, s) => {
            let limit = decimal_limit(*p);
            let scale = 10f64.powi(i32::from(*s));
            match float_kind(opts, path, 0.0, limit as f64 / scale)? {
                GenKind::Float { min, max } => {
                    let unscaled = |x: f64| ((x * scale) as i128).clamp(-limit, limit);
                    GenKind::Decimal {
                        min: unscaled(min),
                        max: unscaled(max),
                    }
                }
                other => other,
            }
        }
        DataType::Boolean => GenKind::Bool,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let (length, var_len) = length_props(opts, path, DEFAULT_STRING_LENGTH, true)?;
            GenKind::Str { length, var_len }
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let (length, var_len) = length_props(opts, path, DEFAULT_STRING_LENGTH, true)?;
            GenKind::Bytes { length, var_len }
        }
        DataType::Timestamp(_, _) => {
            opts.allow(path, &["max-past"]);
            let max_past_ms = match opts.get(path, "max-past") {
                None => 0,
                Some((key, v)) => parse_duration(v)
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                    .ok_or_else(|| {
                        opts.invalid(key, v, "expected a duration such as '10 s', '1 h'")
                    })?,
            };
            GenKind::Time { max_past_ms }
        }
        DataType::Date32 | DataType::Date64 | DataType::Time32(_) | DataType::Time64(_) => {
            GenKind::Time { max_past_ms: 0 }
        }
        DataType::List(element) | DataType::LargeList(element) => {
            let (length, _) = length_props(opts, path, DEFAULT_COLLECTION_LENGTH, false)?;
            let element = build_random(opts, &format!("{path}.element"), element)?;
            GenKind::List {
                length,
                element: Box::new(element),
            }
        }
        DataType::Map(entries, _) => {
            let (length, _) = length_props(opts, path, DEFAULT_COLLECTION_LENGTH, false)?;
            let DataType::Struct(kv) = entries.data_type() else {
                return Err(unsupported(opts, path, field));
            };
            if kv.len() != 2 {
                return Err(unsupported(opts, path, field));
            }
            GenKind::Map {
                length,
                key: Box::new(build_random(opts, &format!("{path}.key"), &kv[0])?),
                value: Box::new(build_random(opts, &format!("{path}.value"), &kv[1])?),
            }
        }
        DataType::Struct(children) => GenKind::Struct {
            fields: children
                .iter()
                .map(|c| build_random(opts, &format!("{path}.{}", c.name()), c))
                .collect::<Result<_, _>>()?,
        },
        _ => return Err(unsupported(opts, path, field)),
    };
    Ok(ColumnGen {
        field: field.clone(),
        null_rate,
        kind,
    })
}

fn unsupported(opts: &FieldOptions<'_>, path: &str, field: &Field) -> ConnectorError {
    ConnectorError::Unsupported {
        table: opts.table.name.clone(),
        message: format!(
            "connector 'datagen' cannot generate '{path}' of type {}",
            field.data_type()
        ),
    }
}

fn int_kind(
    opts: &mut FieldOptions<'_>,
    path: &str,
    lo: i64,
    hi: i64,
) -> Result<GenKind, ConnectorError> {
    opts.allow(path, &["min", "max"]);
    let min = opts.parse(path, "min", "an integer")?.unwrap_or(lo);
    let max = opts.parse(path, "max", "an integer")?.unwrap_or(hi);
    for (prop, value) in [("min", min), ("max", max)] {
        if value < lo || value > hi {
            let (key, v) = opts.get(path, prop).unwrap_or_default();
            return Err(opts.invalid(key, v, format!("out of the column's range {lo}..={hi}")));
        }
    }
    if min > max {
        let (key, v) = opts
            .get(path, "min")
            .or(opts.get(path, "max"))
            .unwrap_or_default();
        return Err(opts.invalid(key, v, format!("min ({min}) is above max ({max})")));
    }
    Ok(GenKind::Int { min, max })
}

fn float_kind(
    opts: &mut FieldOptions<'_>,
    path: &str,
    lo: f64,
    hi: f64,
) -> Result<GenKind, ConnectorError> {
    opts.allow(path, &["min", "max"]);
    let min: f64 = opts.parse(path, "min", "a number")?.unwrap_or(lo);
    let max: f64 = opts.parse(path, "max", "a number")?.unwrap_or(hi);
    let finite = |x: f64| x.is_finite() && x.abs() <= hi.max(f64::from(f32::MAX));
    if !(finite(min) && finite(max) && min <= max && (max - min).is_finite()) {
        let (key, v) = opts
            .get(path, "min")
            .or(opts.get(path, "max"))
            .unwrap_or_default();
        return Err(opts.invalid(
            key,
            v,
            format!("min ({min}) and max ({max}) must be finite numbers with min <= max"),
        ));
    }
    Ok(GenKind::Float { min, max })
}

fn length_props(
    opts: &mut FieldOptions<'_>,
    path: &str,
    default: usize,
    var_len_allowed: bool,
) -> Result<(usize, bool), ConnectorError> {
    opts.allow(path, &["length"]);
    let length = opts
        .parse(path, "length", "a non-negative integer")?
        .unwrap_or(default);
    let mut var_len = false;
    if var_len_allowed {
        opts.allow(path, &["var-len"]);
        var_len = opts
            .parse(path, "var-len", "'true' or 'false'")?
            .unwrap_or(false);
    }
    Ok((length, var_len))
}
