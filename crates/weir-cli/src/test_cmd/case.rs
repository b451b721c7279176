//! Test case files: parsing and checking a case's TOML into a [`Case`], with every
//! error naming the file and line.
//!
//! A case gives, per source table, rows (`rows` inline, `json` or `csv` text, or a
//! `file`), per sink table the expected output (`expected` changelog rows in Flink's print
//! form, or the `final` table), and an optional `steps` script (rows of a source, a
//! watermark, a pause). A table can instead use its declared connector
//! (`connector = "declared"`: a source reads its real input, a sink's written `output`
//! lines are checked); a case can expect the job to fail (`error`) and list the
//! parallelisms it runs at (`parallelism`). docs/testing.md describes the format.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

/// A test case read from a file.
#[derive(Debug)]
pub struct Case {
    /// The case file.
    pub path: PathBuf,
    /// The file name without `.toml`.
    pub name: String,
    /// The file's text (for `--update`).
    pub text: String,
    /// Rows declared per source table, in file order.
    pub sources: Vec<SourceRows>,
    /// Expectations per sink table, in file order.
    pub sinks: Vec<SinkExpectation>,
    /// The script, in order.
    pub steps: Vec<Step>,
    /// Source tables read through their declared connectors (`connector = "declared"`).
    pub declared_sources: Vec<(String, usize)>,
    /// Lines the job's error must contain: the job must fail (`error = [...]`).
    pub error: Option<Vec<String>>,
    /// The parallelisms to run at (`parallelism = [1, 4]`); empty: the job's own.
    pub parallelism: Vec<usize>,
}

/// The declared rows of one source table (`[sources.NAME]`).
#[derive(Debug, Clone)]
pub struct SourceRows {
    /// The table.
    pub table: String,
    /// Line of `[sources.NAME]`.
    pub line: usize,
    /// The rows.
    pub rows: Rows,
}

/// Rows in one text format, each with the line it was written on.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// CSV rather than JSON lines.
    pub csv: bool,
    /// The file the rows are in (the case file, or a `file = ...`).
    pub origin: PathBuf,
    /// `(line, text)` of each row; JSON rows are one JSON object each.
    pub lines: Vec<(usize, String)>,
}

/// What one sink table must have received (`[sinks.NAME]`).
#[derive(Debug, Clone)]
pub struct SinkExpectation {
    /// The table (`select_1` for a bare SELECT).
    pub table: String,
    /// Line of `[sinks.NAME]`.
    pub line: usize,
    /// What is compared.
    pub check: Check,
    /// Compare the changelog in order (`ordered = true`) rather than as a multiset.
    pub ordered: bool,
    /// Written through the declared connector (`connector = "declared"`).
    pub declared: bool,
}

/// The two ways of stating a sink's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `expected`: every row the sink receives, with its kind (`+I[1, a]`, `-U[...]`).
    Changelog(Vec<String>),
    /// `final`: the table left after applying the changelog (`[1, a]`).
    Final(Vec<String>),
    /// `output`: the lines a declared sink wrote (files' lines, printed lines).
    Output(Vec<String>),
}

/// One step of a case's script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Rows for a source table.
    Rows {
        /// The table.
        table: String,
        /// Line of the step.
        line: usize,
        /// The rows.
        rows: Rows,
    },
    /// The next `count` declared rows of a source table.
    Take {
        /// The table.
        table: String,
        /// Line of the step.
        line: usize,
        /// How many.
        count: usize,
    },
    /// Watermark of one source table, or of every source when `table` is `None`.
    Watermark {
        /// The table, or all.
        table: Option<String>,
        /// Line of the step.
        line: usize,
        /// Epoch milliseconds (a timestamp without zone is read as UTC).
        millis: i64,
    },
    /// Processing time passes.
    Pause(Duration),
}

/// An error in a case file, with its position.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct CaseError {
    /// The file.
    pub path: PathBuf,
    /// The line, if known.
    pub line: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    error: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    parallelism: Option<Spanned<Vec<usize>>>,
    #[serde(default)]
    sources: IndexMap<String, Spanned<RawInput>>,
    #[serde(default)]
    sinks: IndexMap<String, Spanned<RawSink>>,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    rows: Option<Vec<Spanned<toml::Table>>>,
    json: Option<Spanned<String>>,
    csv: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    connector: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    expected: Option<Vec<Spanned<String>>>,
    #[serde(rename = "final")]
    final_rows: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    ordered: bool,
    connector: Option<Spanned<String>>,
    output: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    source: Option<String>,
    rows: Option<Vec<Spanned<toml::Table>>>,
    json: Option<Spanned<String>>,
    csv: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    take: Option<usize>,
    watermark: Option<toml::Value>,
    pause: Option<String>,
}

/// Reads and checks the case file at `path`.
pub fn read_case(path: &Path) -> Result<Case, CaseError> {
    let text = std::fs::read_to_string(path).map_err(|e| CaseError {
        path: path.to_path_buf(),
        line: None,
        message: format!("cannot read the case file: {e}"),
    })?;
    parse_case(path, text)
}

/// Parses a case file's text (`path` names it in errors and resolves `file = ...`).
pub fn parse_case(path: &Path, text: String) -> Result<Case, CaseError> {
    let cx = Cx { path, text: &text };
    let raw: RawCase = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| cx.line_of(s.start));
        cx.error(line, e.message().to_string())
    })?;
    let _ = raw.description;
    let mut sources = Vec::new();
    let mut declared_sources = Vec::new();
    for (table, input) in &raw.sources {
        let line = cx.line_of(input.span().start);
        if cx.declared(input.get_ref().connector.as_ref())? {
            if cx.rows(input.get_ref())?.is_some() {
                return Err(cx.error(Some(line), format!("source '{table}': connector = \"declared\" reads the table's real input; give no rows")));
            }
            declared_sources.push((table.clone(), line));
            continue;
        }
        let rows = cx
            .rows(input.get_ref())?
            .ok_or_else(|| cx.error(Some(line), format!("source '{table}': give its rows with one of rows = [...], json = '''...''', csv = '''...''' or file = \"...\"")))?;
        sources.push(SourceRows {
            table: table.clone(),
            line,
            rows,
        });
    }
    let mut sinks = Vec::new();
    for (table, sink) in &raw.sinks {
        let line = cx.line_of(sink.span().start);
        let sink = sink.get_ref();
        let declared = cx.declared(sink.connector.as_ref())?;
        let check = match (&sink.expected, &sink.final_rows, &sink.output) {
            (None, None, Some(lines)) if declared => {
                Check::Output(lines.iter().map(|l| l.get_ref().clone()).collect())
            }
            (_, _, _) if declared => {
                return Err(cx.error(
                    Some(line),
                    format!("sink '{table}': a declared sink is checked by output = [\"...\", ...] (the lines it wrote), not by expected or final"),
                ))
            }
            (_, _, Some(_)) => {
                return Err(cx.error(
                    Some(line),
                    format!("sink '{table}': output = [...] checks a declared sink: add connector = \"declared\", or give expected = [...]"),
                ))
            }
            (Some(rows), None, None) => Check::Changelog(cx.print_rows(rows, true)?),
            (None, Some(rows), None) => Check::Final(cx.print_rows(rows, false)?),
            _ => {
                return Err(cx.error(
                    Some(line),
                    format!("sink '{table}': give exactly one of expected = [\"+I[...]\", ...] (every row received) or final = [\"[...]\", ...] (the table after applying updates)"),
                ))
            }
        };
        if sink.ordered && matches!(check, Check::Final(_)) {
            return Err(cx.error(
                Some(line),
                format!(
                    "sink '{table}': ordered = true applies to expected rows, not to a final table"
                ),
            ));
        }
        sinks.push(SinkExpectation {
            table: table.clone(),
            line,
            check,
            ordered: sink.ordered,
            declared,
        });
    }
    let mut steps = Vec::new();
    for step in &raw.steps {
        let step = cx.step(step)?;
        if let Step::Rows { table, line, .. }
        | Step::Take { table, line, .. }
        | Step::Watermark {
            table: Some(table),
            line,
            ..
        } = &step
        {
            if declared_sources.iter().any(|(t, _)| t == table) {
                return Err(cx.error(
                    Some(*line),
                    format!("source '{table}' reads its declared connector: steps cannot feed it"),
                ));
            }
        }
        steps.push(step);
    }
    let parallelism =
        match &raw.parallelism {
            Some(p) if p.get_ref().is_empty() || p.get_ref().contains(&0) => return Err(cx.error(
                Some(cx.line_of(p.span().start)),
                "parallelism: list one or more positive parallelisms, e.g. parallelism = [1, 4]"
                    .into(),
            )),
            Some(p) => p.get_ref().clone(),
            None => Vec::new(),
        };
    let error = raw
        .error
        .as_ref()
        .map(|lines| lines.iter().map(|l| l.get_ref().clone()).collect());

    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| path.display().to_string());
    Ok(Case {
        path: path.to_path_buf(),
        name,
        text: text.clone(),
        sources,
        sinks,
        steps,
        declared_sources,
        error,
        parallelism,
    })
}

/// The file being parsed, for positions and errors.
struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Cx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|b| *b == b'\n')
            .count()
            + 1
    }

    /// Whether a table's `connector` key asks for its declared connector.
    fn declared(&self, connector: Option<&Spanned<String>>) -> Result<bool, CaseError> {
        match connector {
            None => Ok(false),
            Some(c) if c.get_ref() == "declared" => Ok(true),
            Some(c) => Err(self.error(
                Some(self.line_of(c.span().start)),
                format!("connector = \"{}\": the only value is \"declared\" (use the table's own connector and options); leave it out to mock the table", c.get_ref()),
            )),
        }
    }

    fn error(&self, line: Option<usize>, message: String) -> CaseError {
        CaseError {
            path: self.path.to_path_buf(),
            line,
            message,
        }
    }

    /// The rows of an input table, `None` when it gives none.
    fn rows(&self, input: &RawInput) -> Result<Option<Rows>, CaseError> {
        let given = [
            input.rows.is_some(),
            input.json.is_some(),
            input.csv.is_some(),
            input.file.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            let line = input
                .json
                .as_ref()
                .or(input.csv.as_ref())
                .or(input.file.as_ref())
                .map(|s| self.line_of(s.span().start));
            return Err(self.error(
                line,
                "give rows in one way only: rows, json, csv or file".into(),
            ));
        }
        let origin = self.path.to_path_buf();
        if let Some(rows) = &input.rows {
            let mut lines = Vec::new();
            for row in rows {
                let object: serde_json::Map<String, serde_json::Value> = row
                    .get_ref()
                    .iter()
                    .map(|(k, v)| (k.clone(), json_value(v)))
                    .collect();
                lines.push((
                    self.line_of(row.span().start),
                    serde_json::Value::Object(object).to_string(),
                ));
            }
            return Ok(Some(Rows {
                csv: false,
                origin,
                lines,
            }));
        }
        for (text, csv) in [(&input.json, false), (&input.csv, true)] {
            if let Some(text) = text {
                let first = self.line_of(text.span().start) + self.starts_with_newline(text);
                return Ok(Some(Rows {
                    csv,
                    origin,
                    lines: text_lines(text.get_ref(), first),
                }));
            }
        }
        if let Some(file) = &input.file {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            let target = dir.join(file.get_ref());
            let body = std::fs::read_to_string(&target).map_err(|e| {
                self.error(
                    Some(self.line_of(file.span().start)),
                    format!("cannot read '{}': {e}", target.display()),
                )
            })?;
            let csv = target.extension().is_some_and(|e| e == "csv");
            return Ok(Some(Rows {
                csv,
                origin: target,
                lines: text_lines(&body, 1),
            }));
        }
        Ok(None)
    }

    /// 1 when a multi-line string literal starts with a newline (which TOML drops).
    fn starts_with_newline(&self, value: &Spanned<String>) -> usize {
        let raw = &self.text[value.span().start.min(self.text.len())..];
        let after = raw
            .strip_prefix("'''")
            .or_else(|| raw.strip_prefix("\"\"\""));
        usize::from(after.is_some_and(|r| r.starts_with('\n') || r.starts_with("\r\n")))
    }

    /// Checks rows in print form: `+I[...]` (with a kind) or `[...]` (final rows).
    fn print_rows(
        &self,
        rows: &[Spanned<String>],
        with_kind: bool,
    ) -> Result<Vec<String>, CaseError> {
        let mut out = Vec::new();
        for row in rows {
            let text = row.get_ref().trim();
            let body = if with_kind {
                ["+I", "-U", "+U", "-D"]
                    .iter()
                    .find_map(|k| text.strip_prefix(k))
            } else {
                Some(text)
            };
            let valid = body.is_some_and(|b| b.starts_with('[') && b.ends_with(']'));
            if !valid {
                let example = if with_kind {
                    "a row kind and the fields in brackets, as Flink's print connector writes them: \"+I[1, Alice, 2024-01-01T10:00]\" (kinds: +I, -U, +U, -D)"
                } else {
                    "the fields in brackets, without a row kind: \"[1, Alice, 2024-01-01T10:00]\""
                };
                return Err(self.error(
                    Some(self.line_of(row.span().start)),
                    format!("'{text}' is not a row; write {example}"),
                ));
            }
            out.push(text.to_string());
        }
        Ok(out)
    }

    fn step(&self, step: &Spanned<RawStep>) -> Result<Step, CaseError> {
        let line = self.line_of(step.span().start);
        let raw = step.get_ref();
        let input = RawInput {
            connector: None,
            rows: raw.rows.clone(),
            json: raw.json.clone(),
            csv: raw.csv.clone(),
            file: raw.file.clone(),
        };
        let rows = self.rows(&input)?;
        let kinds = [
            rows.is_some(),
            raw.take.is_some(),
            raw.watermark.is_some(),
            raw.pause.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(self.error(
                Some(line),
                "a step does one thing: rows (rows/json/csv/file = ... or take = N, with source = \"TABLE\"), watermark = \"2024-01-01 10:00:05\" (source optional: all sources), or pause = \"500 ms\"".into(),
            ));
        }
        let needs_source = |what: &str| {
            raw.source.clone().ok_or_else(|| {
                self.error(
                    Some(line),
                    format!("a step with {what} needs source = \"TABLE\""),
                )
            })
        };
        if let Some(rows) = rows {
            return Ok(Step::Rows {
                table: needs_source("rows")?,
                line,
                rows,
            });
        }
        if let Some(count) = raw.take {
            return Ok(Step::Take {
                table: needs_source("take")?,
                line,
                count,
            });
        }
        if let Some(pause) = &raw.pause {
            if raw.source.is_some() {
                return Err(self.error(Some(line), "a pause step has no source".into()));
            }
            let duration = parse_duration(pause).ok_or_else(|| {
                self.error(
                    Some(line),
                    format!("pause = \"{pause}\": write a duration such as \"500 ms\", \"2 s\" or \"1 min\""),
                )
            })?;
            return Ok(Step::Pause(duration));
        }
        let value = raw.watermark.as_ref().map(watermark_millis);
        match value {
            Some(Some(millis)) => Ok(Step::Watermark {
                table: raw.source.clone(),
                line,
                millis,
            }),
            _ => Err(self.error(
                Some(line),
                "watermark: write a timestamp such as \"2024-01-01 10:00:05\" or \"2024-01-01 10:00:05.250\" (read as UTC), or epoch milliseconds".into(),
            )),
        }
    }
}

/// The non-blank lines of `text`, numbered from `first`.
fn text_lines(text: &str, first: usize) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (first + i, l.to_string()))
        .collect()
}

/// A TOML value as JSON; dates and times become the SQL text form the `json` format reads.
fn json_value(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string().replacen('T', " ", 1)),
        toml::Value::Array(a) => J::Array(a.iter().map(json_value).collect()),
        toml::Value::Table(t) => {
            J::Object(t.iter().map(|(k, v)| (k.clone(), json_value(v))).collect())
        }
    }
}

/// A watermark step's value as epoch milliseconds.
fn watermark_millis(value: &toml::Value) -> Option<i64> {
    match value {
        toml::Value::Integer(ms) => Some(*ms),
        toml::Value::String(s) => parse_timestamp(s),
        toml::Value::Datetime(d) => parse_timestamp(&d.to_string()),
        _ => None,
    }
}

/// `2024-01-01 10:00:05[.fff]` (or with `T`) as UTC epoch milliseconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim().replacen('T', " ", 1);
    let text = text.strip_suffix('Z').unwrap_or(&text);
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
        .iter()
        .find_map(|format| {
            chrono::NaiveDateTime::parse_from_str(text, format)
                .ok()
                .or_else(|| {
                    chrono::NaiveDate::parse_from_str(text, format)
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                })
        })
        .map(|t| t.and_utc().timestamp_millis())
}

/// `500 ms`, `2 s`, `1.5 s`, `1 min`.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => number / 1000.0,
        "s" | "sec" | "second" | "seconds" => number,
        "min" | "minute" | "minutes" => number * 60.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Case, CaseError> {
        parse_case(Path::new("case.toml"), text.to_string())
    }

    #[test]
    fn a_full_case_with_lines() {
        let case = parse(
            r#"# comment
[sources.bids]
rows = [
  { id = 1, ts = 2024-01-01T10:00:01 },
  { id = 2, name = "x" },
]

[sources.people]
csv = '''
1,Ann

2,Bo
'''

[sinks.out]
expected = ["+I[1, a]", "-U[1, a]"]
ordered = true

[sinks.totals]
final = ["[1, 2]"]

[[steps]]
source = "bids"
take = 1

[[steps]]
watermark = "2024-01-01 10:00:05.5"

[[steps]]
pause = "20 ms"
"#,
        )
        .unwrap();
        let bids = &case.sources[0];
        assert_eq!((bids.table.as_str(), bids.line), ("bids", 2));
        assert_eq!(
            bids.rows.lines,
            [
                (4, r#"{"id":1,"ts":"2024-01-01 10:00:01"}"#.to_string()),
                (5, r#"{"id":2,"name":"x"}"#.to_string())
            ]
        );
        let people = &case.sources[1];
        assert!(people.rows.csv);
        assert_eq!(
            people.rows.lines,
            [(10, "1,Ann".to_string()), (12, "2,Bo".to_string())]
        );
        assert_eq!(
            case.sinks[0].check,
            Check::Changelog(vec!["+I[1, a]".into(), "-U[1, a]".into()])
        );
        assert!(case.sinks[0].ordered);
        assert_eq!(case.sinks[1].check, Check::Final(vec!["[1, 2]".into()]));
        assert!(
            matches!(&case.steps[0], Step::Take { table, count: 1, line: 22 } if table == "bids")
        );
        assert!(matches!(
            case.steps[1],
            Step::Watermark {
                table: None,
                millis: 1_704_103_205_500,
                line: 26
            }
        ));
        assert!(matches!(case.steps[2], Step::Pause(d) if d == Duration::from_millis(20)));
    }

    #[test]
    fn errors_name_the_line_and_what_to_write() {
        let err = parse("[sources.bids]\nrowz = []\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("case.toml:2: unknown field `rowz`"),
            "{err}"
        );
        let err = parse("[sinks.out]\nexpected = [\"1, a\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("case.toml:2: '1, a' is not a row"), "{err}");
        let err = parse("[sinks.out]\nordered = true\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("case.toml:1: sink 'out': give exactly one"),
            "{err}"
        );
        let err = parse("\n[[steps]]\nsource = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("case.toml:2: a step does one thing"),
            "{err}"
        );
        let err = parse("[[steps]]\nwatermark = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("case.toml:1: watermark: write a timestamp"),
            "{err}"
        );
        let err = parse("[[steps]]\nrows = [{ a = 1 }]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("case.toml:1: a step with rows needs source"),
            "{err}"
        );
        let err = parse("[sources.a]\nfile = \"nope.json\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("case.toml:2: cannot read 'nope.json'"),
            "{err}"
        );
    }

    #[test]
    fn declared_tables_errors_and_parallelism() {
        let case = parse(
            "parallelism = [1, 4]\nerror = [\"line 2\"]\n[sources.a]\nconnector = \"declared\"\n\n[sinks.o]\nconnector = \"declared\"\noutput = [\"x\"]\n[sinks.p]\nexpected = []\n",
        )
        .unwrap();
        assert_eq!(case.parallelism, [1, 4]);
        assert_eq!(case.error, Some(vec!["line 2".to_string()]));
        assert_eq!(case.declared_sources, [("a".to_string(), 3)]);
        assert!(case.sources.is_empty());
        assert!(case.sinks[0].declared && !case.sinks[1].declared);
        assert_eq!(case.sinks[0].check, Check::Output(vec!["x".into()]));
        for (text, message) in [
            (
                "[sources.a]\nconnector = \"kafka\"\n",
                "case.toml:2: connector = \"kafka\": the only value is \"declared\"",
            ),
            (
                "[sources.a]\nconnector = \"declared\"\nrows = []\n",
                "case.toml:1: source 'a': connector = \"declared\" reads",
            ),
            (
                "[sinks.o]\nconnector = \"declared\"\nexpected = []\n",
                "case.toml:1: sink 'o': a declared sink is checked by output",
            ),
            (
                "[sinks.o]\noutput = []\n",
                "case.toml:1: sink 'o': output = [...] checks a declared sink",
            ),
            (
                "parallelism = []\n",
                "case.toml:1: parallelism: list one or more",
            ),
            (
                "[sources.a]\nconnector = \"declared\"\n[[steps]]\nsource = \"a\"\ntake = 1\n",
                "case.toml:3: source 'a' reads its declared connector",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with(message), "{err}");
        }
    }

    #[test]
    fn timestamps_and_durations() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:01"), Some(1000));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_timestamp("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_timestamp("tomorrow"), None);
        assert_eq!(parse_duration("1.5 s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1min"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("5 parsecs"), None);
    }
}
