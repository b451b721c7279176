//! Turns a case into the mock script of its job: checks the case's table names and
//! columns against the planned job, resolves `take` steps and watermark steps for all
//! sources, and appends the declared rows no step took.

use std::collections::BTreeMap;

use weir_connectors::mock::{MockFormat, MockRows, MockSinkOutput, MockSource, MockStep};

use super::case::{Case, CaseError, Rows, Step};

/// The mock steps of `case` for a job reading `sources` and writing `sinks`.
pub fn mock_steps(
    case: &Case,
    sources: &[MockSource],
    sinks: &[MockSinkOutput],
) -> Result<Vec<MockStep>, CaseError> {
    let error = |line: usize, message: String| CaseError {
        path: case.path.clone(),
        line: Some(line),
        message,
    };
    let source_names = || {
        sources
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let source_of = |table: &str, line: usize| {
        sources.iter().find(|s| s.name == table).ok_or_else(|| {
            error(
                line,
                format!(
                    "the job does not read table '{table}' (it reads: {})",
                    source_names()
                ),
            )
        })
    };
    for sink in case.sinks.iter().filter(|s| !s.declared) {
        if !sinks.iter().any(|s| s.name == sink.table) {
            let known: Vec<&str> = sinks.iter().map(|s| s.name.as_str()).collect();
            return Err(error(
                sink.line,
                format!(
                    "the job does not write table '{}' (it writes: {}; a bare SELECT writes select_1, select_2, ...)",
                    sink.table,
                    known.join(", ")
                ),
            ));
        }
    }
    // Declared rows not yet taken, per table.
    let mut declared: BTreeMap<&str, (Rows, usize)> = BTreeMap::new();
    for input in &case.sources {
        let source = source_of(&input.table, input.line)?;
        check_columns(source, &input.rows)?;
        declared.insert(&input.table, (input.rows.clone(), 0));
    }
    let mut steps = Vec::new();
    for step in &case.steps {
        match step {
            Step::Rows { table, line, rows } => {
                let source = source_of(table, *line)?;
                check_columns(source, rows)?;
                steps.push(rows_step(table, rows, 0, rows.lines.len()));
            }
            Step::Take { table, line, count } => {
                source_of(table, *line)?;
                let Some((rows, taken)) = declared.get_mut(table.as_str()) else {
                    return Err(error(
                        *line,
                        format!("take = {count}: declare the rows of '{table}' in [sources.{table}] first"),
                    ));
                };
                let left = rows.lines.len() - *taken;
                if *count > left {
                    return Err(error(
                        *line,
                        format!(
                            "take = {count}, but only {left} declared rows of '{table}' are left"
                        ),
                    ));
                }
                steps.push(rows_step(table, rows, *taken, *taken + count));
                *taken += count;
            }
            Step::Watermark {
                table: Some(table),
                line,
                millis,
            } => {
                source_of(table, *line)?;
                steps.push(MockStep::Watermark {
                    table: table.clone(),
                    millis: *millis,
                });
            }
            Step::Watermark {
                table: None,
                millis,
                ..
            } => {
                for source in sources {
                    steps.push(MockStep::Watermark {
                        table: source.name.clone(),
                        millis: *millis,
                    });
                }
            }
            Step::Pause(duration) => steps.push(MockStep::Pause(*duration)),
        }
    }
    // What no step took arrives after the steps, table by table in file order.
    for input in &case.sources {
        if let Some((rows, taken)) = declared.get(input.table.as_str()) {
            if *taken < rows.lines.len() {
                steps.push(rows_step(&input.table, rows, *taken, rows.lines.len()));
            }
        }
    }
    Ok(steps)
}

/// Rows `from..to` of `rows` as one step; consecutive lines form one chunk.
fn rows_step(table: &str, rows: &Rows, from: usize, to: usize) -> MockStep {
    let mut chunks: Vec<(u64, String)> = Vec::new();
    let mut last_line = 0;
    for (line, text) in &rows.lines[from..to] {
        match chunks.last_mut() {
            Some((_, chunk)) if *line == last_line + 1 => {
                chunk.push('\n');
                chunk.push_str(text);
            }
            _ => chunks.push((*line as u64, text.clone())),
        }
        last_line = *line;
    }
    MockStep::Rows {
        table: table.to_string(),
        rows: MockRows {
            format: if rows.csv {
                MockFormat::Csv
            } else {
                MockFormat::Json
            },
            origin: rows.origin.display().to_string(),
            chunks,
        },
    }
}

/// A JSON row's fields must be columns of the table (the `json` format ignores unknown
/// fields, which would turn a misspelt column into a silent NULL).
fn check_columns(source: &MockSource, rows: &Rows) -> Result<(), CaseError> {
    if rows.csv {
        return Ok(());
    }
    for (line, text) in &rows.lines {
        let Ok(serde_json::Value::Object(object)) = serde_json::from_str(text) else {
            continue; // the decoder reports malformed rows
        };
        if let Some(unknown) = object
            .keys()
            .find(|k| source.schema.index_of(k.as_str()).is_err())
        {
            let columns: Vec<&str> = source
                .schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            return Err(CaseError {
                path: rows.origin.clone(),
                line: Some(*line),
                message: format!(
                    "source '{}' has no column '{unknown}' (its columns: {}; computed columns are computed, not given)",
                    source.name,
                    columns.join(", ")
                ),
            });
        }
    }
    Ok(())
}
