//! String functions with Flink semantics: `SPLIT_INDEX` and `REGEXP_EXTRACT`.
//!
//! `CHAR_LENGTH`/`CHARACTER_LENGTH` and `CONCAT_WS` come from DataFusion, whose
//! behaviour already matches Flink (character counts; NULL separator gives NULL, NULL
//! arguments are skipped); the tests below pin that down.

use std::sync::Arc;

use arrow::array::StringBuilder;
use arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use memchr::memmem::Finder;
use regex::Regex;

use crate::args::{
    batch_len, check_arity, coerce_integer, coerce_string, finish, i64_column, scalar_i64,
    StrColumn,
};
use crate::pattern::LastCache;

/// `SPLIT_INDEX(string, separator, index) -> STRING`: splits on the whole separator
/// (keeping empty tokens) and returns token `index` (0-based); NULL when `index` is
/// negative or past the end, or when `string` is empty. An empty separator splits on
/// whitespace. `separator` may also be an INT character code 1-255 (other codes give
/// NULL), as in Flink.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SplitIndex {
    signature: Signature,
}

impl Default for SplitIndex {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// A separator column: text, or a character code.
enum Separator<'a> {
    Text(StrColumn<'a>),
    Code(Box<dyn Fn(usize) -> Option<i64> + 'a>),
}

/// A separator prepared for repeated searches: one byte (a word-at-a-time scan), several
/// bytes (memchr's substring finder, built once), or empty (split on whitespace).
enum Splitter<'a> {
    Byte(u8),
    Bytes(Box<Finder<'a>>),
    Whitespace,
}

impl<'a> Splitter<'a> {
    fn new(separator: &'a str) -> Self {
        match separator.as_bytes() {
            [] => Self::Whitespace,
            [b] => Self::Byte(*b),
            bytes => Self::Bytes(Box::new(Finder::new(bytes))),
        }
    }

    /// Token `index` (0-based) of `s`, as `s.split(separator).nth(index)` (and
    /// `s.split(char::is_whitespace)` for an empty separator); `None` for an empty `s`.
    #[inline]
    fn token<'s>(&self, s: &'s str, index: usize) -> Option<&'s str> {
        if s.is_empty() {
            return None;
        }
        let bytes = s.as_bytes();
        let (start, end) = match self {
            Self::Whitespace => return s.split(char::is_whitespace).nth(index),
            Self::Byte(b) => byte_token(*b, bytes, index)?,
            Self::Bytes(finder) => {
                let len = finder.needle().len();
                let mut start = 0;
                for _ in 0..index {
                    start += finder.find(&bytes[start..])? + len;
                }
                let end = finder
                    .find(&bytes[start..])
                    .map_or(bytes.len(), |at| start + at);
                (start, end)
            }
        };
        // Separators are whole UTF-8 sequences, so both ends are character boundaries.
        s.get(start..end)
    }
}

/// Start and end of token `index` of `bytes` split on the byte `separator`.
///
/// Tokens between separators (URL directories, CSV fields) are short: the separators are
/// found eight bytes at a time in a `u64` (SWAR), a word with fewer separators than are
/// still to pass is skipped after one popcount, and the loop stays inlined in the
/// caller, where a call into `memchr` per token would cost more than its SIMD saves.
#[inline]
fn byte_token(separator: u8, bytes: &[u8], index: usize) -> Option<(usize, usize)> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = LOW * u64::from(separator);
    // Separators still to pass before the token starts; then the token's start.
    let mut to_pass = index;
    let mut start = 0;
    let mut offset = 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // The high bit of each byte equal to `separator` (exact: no carry crosses bytes).
        let x = u64::from_le_bytes(word) ^ pattern;
        let mut found = !(((x & !HIGH) + !HIGH) | x) & HIGH;
        let count = found.count_ones() as usize;
        if count < to_pass {
            to_pass -= count;
            offset += 8;
            continue;
        }
        while found != 0 {
            let at = offset + (found.trailing_zeros() / 8) as usize;
            if to_pass == 0 {
                return Some((start, at));
            }
            to_pass -= 1;
            if to_pass == 0 {
                start = at + 1;
            }
            found &= found - 1;
        }
        offset += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b != separator {
            continue;
        }
        if to_pass == 0 {
            return Some((start, offset + i));
        }
        to_pass -= 1;
        if to_pass == 0 {
            start = offset + i + 1;
        }
    }
    (to_pass == 0).then_some((start, bytes.len()))
}

fn split_index<'s>(s: &'s str, separator: &str, index: usize) -> Option<&'s str> {
    Splitter::new(separator).token(s, index)
}

impl ScalarUDFImpl for SplitIndex {
    fn name(&self) -> &str {
        "split_index"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        const NAME: &str = "SPLIT_INDEX";
        check_arity(NAME, t, 3, 3)?;
        let separator = if t[1].is_integer() {
            DataType::Int64
        } else {
            coerce_string(NAME, 2, &t[1])?
        };
        Ok(vec![
            coerce_string(NAME, 1, &t[0])?,
            separator,
            coerce_integer(NAME, 3, &t[2])?,
        ])
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        const NAME: &str = "SPLIT_INDEX";
        let n = batch_len(&args.args);
        let input = args.args[0].to_array(n)?;
        let text = StrColumn::try_new(NAME, &input)?;
        let index_array;
        let index: Box<dyn Fn(usize) -> Option<i64>> = match scalar_i64(&args.args[2]) {
            Some(fixed) => Box::new(move |_| fixed),
            None => {
                index_array = args.args[2].to_array(n)?;
                Box::new(i64_column(NAME, &index_array)?)
            }
        };
        let mut out = StringBuilder::with_capacity(n, input.get_array_memory_size() / 2);
        // A literal text separator (the common case) is prepared once for the batch.
        if let ColumnarValue::Scalar(sep) = &args.args[1] {
            if let Some(sep) = sep.try_as_str() {
                let splitter = sep.map(Splitter::new);
                for i in 0..n {
                    let idx = index(i).and_then(|v| usize::try_from(v).ok());
                    match (text.get(i), &splitter, idx) {
                        (Some(s), Some(sp), Some(idx)) => out.append_option(sp.token(s, idx)),
                        _ => out.append_null(),
                    }
                }
                return finish(&args.args, Arc::new(out.finish()));
            }
        }
        let separators = args.args[1].to_array(n)?;
        let separator = if separators.data_type() == &DataType::Int64 {
            Separator::Code(Box::new(i64_column(NAME, &separators)?))
        } else {
            Separator::Text(StrColumn::try_new(NAME, &separators)?)
        };
        let mut code_buf = [0u8; 4];
        for i in 0..n {
            let Some(idx) = index(i).and_then(|v| usize::try_from(v).ok()) else {
                out.append_null();
                continue;
            };
            let sep = match &separator {
                Separator::Text(col) => col.get(i),
                Separator::Code(code) => code(i)
                    .filter(|c| (1..=255).contains(c))
                    .and_then(|c| char::from_u32(u32::try_from(c).ok()?))
                    .map(|c| &*c.encode_utf8(&mut code_buf)),
            };
            match (text.get(i), sep) {
                (Some(s), Some(sep)) => out.append_option(split_index(s, sep, idx)),
                _ => out.append_null(),
            }
        }
        finish(&args.args, Arc::new(out.finish()))
    }
}

/// `REGEXP_EXTRACT(string, regex[, group]) -> STRING`: the `group`-th capture group of
/// the first match (0 = whole match, the default, as in Flink's `SqlFunctionUtils`).
/// NULL when there is no match, the group did not participate or does not exist, or
/// `group` is negative. An invalid literal regex is an error; an invalid regex coming
/// from a column gives NULL for that row (Flink logs and returns NULL).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RegexpExtract {
    signature: Signature,
    cache: LastCache<Regex>,
}

impl Default for RegexpExtract {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            cache: LastCache::new(),
        }
    }
}

fn compile_regex(pattern: &str) -> Result<Regex> {
    Regex::new(pattern)
        .or_else(|e| exec_err!("REGEXP_EXTRACT: invalid regular expression '{pattern}': {e}"))
}

impl ScalarUDFImpl for RegexpExtract {
    fn name(&self) -> &str {
        "regexp_extract"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        const NAME: &str = "REGEXP_EXTRACT";
        check_arity(NAME, t, 2, 3)?;
        let mut out = vec![
            coerce_string(NAME, 1, &t[0])?,
            coerce_string(NAME, 2, &t[1])?,
        ];
        if let Some(g) = t.get(2) {
            out.push(coerce_integer(NAME, 3, g)?);
        }
        Ok(out)
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        const NAME: &str = "REGEXP_EXTRACT";
        let n = batch_len(&args.args);
        let input = args.args[0].to_array(n)?;
        let text = StrColumn::try_new(NAME, &input)?;
        // Literal regex: compiled once (and cached across batches).
        let fixed = match &args.args[1] {
            ColumnarValue::Scalar(s) => Some(match s.try_as_str().flatten() {
                Some(p) => Some(self.cache.get_or_build(p, compile_regex)?),
                None => None,
            }),
            ColumnarValue::Array(_) => None,
        };
        let pattern_array = args.args[1].to_array(if fixed.is_some() { 1 } else { n })?;
        let patterns = StrColumn::try_new(NAME, &pattern_array)?;
        let group_array;
        let group: Box<dyn Fn(usize) -> Option<i64>> = match args.args.get(2) {
            None => Box::new(|_| Some(0)),
            Some(g) => match scalar_i64(g) {
                Some(fixed) => Box::new(move |_| fixed),
                None => {
                    group_array = g.to_array(n)?;
                    Box::new(i64_column(NAME, &group_array)?)
                }
            },
        };

        let mut out = StringBuilder::with_capacity(n, input.get_array_memory_size() / 4);
        let mut last: Option<(&str, Option<Regex>)> = None;
        let mut locations = None;
        for i in 0..n {
            let regex = match &fixed {
                Some(r) => r.as_deref(),
                None => match patterns.get(i) {
                    None => None,
                    Some(p) => {
                        if !matches!(&last, Some((q, _)) if *q == p) {
                            last = Some((p, Regex::new(p).ok()));
                            locations = None;
                        }
                        last.as_ref().and_then(|(_, r)| r.as_ref())
                    }
                },
            };
            let (Some(s), Some(re), Some(g)) = (text.get(i), regex, group(i)) else {
                out.append_null();
                continue;
            };
            let Ok(g) = usize::try_from(g) else {
                out.append_null();
                continue;
            };
            if g >= re.captures_len() {
                out.append_null();
                continue;
            }
            let locs = locations.get_or_insert_with(|| re.capture_locations());
            let found = re
                .captures_read(locs, s)
                .and_then(|_| locs.get(g))
                .map(|(start, end)| &s[start..end]);
            out.append_option(found);
        }
        finish(&args.args, Arc::new(out.finish()))
    }
}

#[cfg(test)]
#[path = "string_tests.rs"]
mod tests;
