//! Compiled Java date/time patterns: formatting and parsing with a converted pattern, the
//! lenient default `yyyy-MM-dd HH:mm:ss[.fff]` parser, and the small cache that keeps the
//! last compiled pattern (or regex) of a UDF across batches.

use std::fmt::{self, Write};
use std::sync::{Arc, Mutex};

use arrow::array::timezone::Tz;
use chrono::format::{parse, Item, Parsed, StrftimeItems};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use datafusion::error::{DataFusionError, Result};

use datafusion::logical_expr::ColumnarValue;

use crate::args::StrColumn;
use crate::fast_format::FastPattern;
use crate::format::convert;

/// Flink's default timestamp pattern.
pub(crate) const DEFAULT_PATTERN: &str = "yyyy-MM-dd HH:mm:ss";

/// A Java pattern converted and pre-parsed into chrono items.
#[derive(Debug)]
pub(crate) struct JavaPattern {
    items: Vec<Item<'static>>,
    needs_offset: bool,
    is_default: bool,
    /// The same pattern for the digit-writing formatter, when it is numeric only.
    fast: Option<FastPattern>,
}

impl JavaPattern {
    /// Converts `java` for use by the SQL function `function` (named in errors).
    pub(crate) fn compile(function: &str, java: &str) -> Result<Self> {
        let converted =
            convert(java).map_err(|e| DataFusionError::Execution(format!("{function}: {e}")))?;
        let items = StrftimeItems::new(&converted.strftime)
            .parse_to_owned()
            .map_err(|e| {
                DataFusionError::Execution(format!(
                    "{function}: pattern '{java}' is not supported by chrono: {e}"
                ))
            })?;
        let fast = if converted.needs_offset {
            None
        } else {
            FastPattern::compile(&converted.strftime)
        };
        Ok(Self {
            items,
            needs_offset: converted.needs_offset,
            is_default: java == DEFAULT_PATTERN,
            fast,
        })
    }

    /// The digit-writing form of this pattern, when it has only numeric fields.
    pub(crate) fn fast(&self) -> Option<&FastPattern> {
        self.fast.as_ref()
    }

    /// Writes `local` (a wall-clock time whose UTC offset, if printed, is that of `zone`).
    pub(crate) fn format_into(
        &self,
        out: &mut impl Write,
        local: &NaiveDateTime,
        zone: &Tz,
    ) -> fmt::Result {
        if self.needs_offset {
            match zone.from_local_datetime(local).earliest() {
                Some(dt) => write!(
                    out,
                    "{}",
                    dt.fixed_offset().format_with_items(self.items.iter())
                ),
                None => Err(fmt::Error),
            }
        } else {
            write!(out, "{}", local.format_with_items(self.items.iter()))
        }
    }

    /// Parses `s` as a wall-clock time. Fields missing from the pattern default like
    /// Flink's `DateTimeUtils.fromTemporal`: year 1970, month 1, day 1, time 00:00:00.
    /// Returns `None` when `s` does not match.
    pub(crate) fn parse(&self, s: &str) -> Option<NaiveDateTime> {
        if self.is_default {
            return parse_default_timestamp(s);
        }
        let mut p = Parsed::new();
        parse(&mut p, s, self.items.iter()).ok()?;
        let year = match (p.year(), p.year_mod_100()) {
            (Some(y), _) => y,
            // Java's two-digit year base is 2000.
            (None, Some(y)) => 2000 + y,
            (None, None) => 1970,
        };
        let date = match (p.month(), p.day(), p.ordinal()) {
            (None, None, Some(ordinal)) => NaiveDate::from_yo_opt(year, ordinal)?,
            (month, day, _) => NaiveDate::from_ymd_opt(year, month.unwrap_or(1), day.unwrap_or(1))?,
        };
        let hour = p.hour_div_12().unwrap_or(0) * 12 + p.hour_mod_12().unwrap_or(0);
        let time = NaiveTime::from_hms_nano_opt(
            hour,
            p.minute().unwrap_or(0),
            p.second().unwrap_or(0),
            p.nanosecond().unwrap_or(0),
        )?;
        Some(date.and_time(time))
    }
}

/// Parses Flink's default timestamp text: `yyyy-M-d`, optionally followed by a space or
/// `T` and `H:m`, `H:m:s` or `H:m:s.f` (1-9 fraction digits). Surrounding whitespace is
/// ignored. Returns `None` on anything else.
pub(crate) fn parse_default_timestamp(s: &str) -> Option<NaiveDateTime> {
    let mut cur = Cursor {
        b: s.trim().as_bytes(),
        i: 0,
    };
    let year = cur.number(1, 9)?;
    cur.expect(b'-')?;
    let month = cur.number(1, 2)?;
    cur.expect(b'-')?;
    let day = cur.number(1, 2)?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    if cur.done() {
        return date.and_hms_opt(0, 0, 0);
    }
    match cur.next()? {
        b' ' | b'T' => {}
        _ => return None,
    }
    let hour = cur.number(1, 2)?;
    cur.expect(b':')?;
    let minute = cur.number(1, 2)?;
    let (mut second, mut nanos) = (0, 0);
    if cur.peek() == Some(b':') {
        cur.i += 1;
        second = cur.number(1, 2)?;
        if cur.peek() == Some(b'.') {
            cur.i += 1;
            let start = cur.i;
            let fraction = cur.number(1, 9)?;
            let digits = u32::try_from(cur.i - start).ok()?;
            nanos = fraction * 10u32.pow(9 - digits);
        }
    }
    if !cur.done() {
        return None;
    }
    date.and_hms_nano_opt(hour, minute, second, nanos)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.i >= self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    /// Reads `min..=max` ASCII digits.
    fn number(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        let mut value: u32 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            if self.i - start == max {
                return None;
            }
            value = value * 10 + u32::from(c - b'0');
            self.i += 1;
        }
        (self.i - start >= min).then_some(value)
    }
}

/// A one-entry cache keyed by the source text (pattern or regex), shared by all
/// partitions evaluating one UDF instance. It is invisible to UDF equality and hashing.
pub(crate) struct LastCache<T>(Mutex<Option<(String, Arc<T>)>>);

impl<T> LastCache<T> {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(None))
    }

    /// The cached value for `key`, or `build(key)` (which then replaces the entry).
    pub(crate) fn get_or_build(
        &self,
        key: &str,
        build: impl FnOnce(&str) -> Result<T>,
    ) -> Result<Arc<T>> {
        if let Ok(guard) = self.0.lock() {
            if let Some((k, v)) = guard.as_ref() {
                if k == key {
                    return Ok(Arc::clone(v));
                }
            }
        }
        let value = Arc::new(build(key)?);
        if let Ok(mut guard) = self.0.lock() {
            *guard = Some((key.to_owned(), Arc::clone(&value)));
        }
        Ok(value)
    }
}

impl<T> fmt::Debug for LastCache<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LastCache")
    }
}

impl<T> PartialEq for LastCache<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for LastCache<T> {}

impl<T> std::hash::Hash for LastCache<T> {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

/// The pattern argument of a formatting/parsing function, resolved once per batch when
/// it is a literal (through the UDF's [`LastCache`]) and per distinct value otherwise.
pub(crate) enum PatternArg<'a> {
    /// A literal pattern (or the default); `None` for a NULL literal.
    Fixed(Option<Arc<JavaPattern>>),
    /// A pattern column; the last compiled value is reused while it repeats.
    PerRow {
        column: StrColumn<'a>,
        last: Option<(&'a str, JavaPattern)>,
    },
}

impl<'a> PatternArg<'a> {
    /// Resolves `arg` (or the default pattern when the argument is absent).
    pub(crate) fn new(
        function: &str,
        arg: Option<&'a ColumnarValue>,
        cache: &LastCache<JavaPattern>,
    ) -> Result<Self> {
        let compile = |p: &str| JavaPattern::compile(function, p);
        Ok(match arg {
            None => Self::Fixed(Some(cache.get_or_build(DEFAULT_PATTERN, compile)?)),
            Some(ColumnarValue::Scalar(s)) => match s.try_as_str().flatten() {
                Some(p) => Self::Fixed(Some(cache.get_or_build(p, compile)?)),
                None => Self::Fixed(None),
            },
            Some(ColumnarValue::Array(a)) => Self::PerRow {
                column: StrColumn::try_new(function, a)?,
                last: None,
            },
        })
    }

    /// The pattern for row `i`; `None` when it is NULL.
    pub(crate) fn get(&mut self, function: &str, i: usize) -> Result<Option<&JavaPattern>> {
        match self {
            Self::Fixed(p) => Ok(p.as_deref()),
            Self::PerRow { column, last } => {
                let Some(text) = column.get(i) else {
                    return Ok(None);
                };
                if !matches!(last, Some((t, _)) if *t == text) {
                    *last = Some((text, JavaPattern::compile(function, text)?));
                }
                Ok(last.as_ref().map(|(_, p)| p))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::utc;

    fn ts(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").expect("valid test timestamp")
    }

    fn compile(java: &str) -> JavaPattern {
        JavaPattern::compile("TEST", java).expect("valid test pattern")
    }

    #[test]
    fn default_parser() {
        let p = parse_default_timestamp;
        assert_eq!(p("2024-01-02 03:04:05"), Some(ts("2024-01-02 03:04:05")));
        assert_eq!(p(" 2024-1-2 3:04:05.5 "), Some(ts("2024-01-02 03:04:05.5")));
        assert_eq!(
            p("2024-01-02T03:04:05.123456789"),
            Some(ts("2024-01-02 03:04:05.123456789"))
        );
        assert_eq!(p("2024-01-02"), Some(ts("2024-01-02 00:00:00")));
        assert_eq!(p("2024-01-02 03:04"), Some(ts("2024-01-02 03:04:00")));
        for bad in [
            "",
            "2024-13-01",
            "2024-01-02 25:00:00",
            "2024/01/02",
            "2024-01-02 03:04:05x",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
        assert_eq!(p("2024-01-02 03:04:05.1234567890"), None);
    }

    #[test]
    fn custom_parse_defaults_missing_fields() {
        assert_eq!(
            compile("yyyyMMdd").parse("20240102"),
            Some(ts("2024-01-02 00:00:00"))
        );
        assert_eq!(
            compile("HH:mm").parse("13:45"),
            Some(ts("1970-01-01 13:45:00"))
        );
        assert_eq!(
            compile("yy-MM").parse("24-03"),
            Some(ts("2024-03-01 00:00:00"))
        );
        assert_eq!(
            compile("dd/MM/yyyy hh:mm a").parse("02/01/2024 03:04 PM"),
            Some(ts("2024-01-02 15:04:00"))
        );
        assert_eq!(
            compile("yyyy-MM-dd'T'HH:mm:ss.SSS").parse("2024-01-02T03:04:05.678"),
            Some(ts("2024-01-02 03:04:05.678"))
        );
        assert_eq!(compile("yyyyMMdd").parse("2024-01-02"), None);
    }

    #[test]
    fn format_with_offset() {
        let mut s = String::new();
        let shanghai: Tz = "+08:00".parse().expect("valid zone");
        compile("yyyy-MM-dd HH:mm Z")
            .format_into(&mut s, &ts("2024-01-02 03:04:05"), &shanghai)
            .expect("formats");
        assert_eq!(s, "2024-01-02 03:04 +0800");
        s.clear();
        compile("EEE MMM d ''yy")
            .format_into(&mut s, &ts("2024-01-02 03:04:05"), &utc())
            .expect("formats");
        assert_eq!(s, "Tue Jan 2 '24");
    }

    #[test]
    fn last_cache_reuses_entry() -> Result<()> {
        let cache = LastCache::new();
        let a = cache.get_or_build("x", |k| Ok(k.len()))?;
        let b = cache.get_or_build("x", |_| Ok(99))?;
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(*cache.get_or_build("yy", |k| Ok(k.len()))?, 2);
        Ok(())
    }
}
