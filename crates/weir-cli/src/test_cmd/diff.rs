//! Comparing what a sink received with what a case expects, and describing the
//! difference readably: missing rows, unexpected rows, rows with the wrong kind, rows
//! out of order, and retractions of rows that are not in the table.
//!
//! Rows are compared as text in Flink's print form (`+I[1, a]`), which is how the mock
//! sinks render them and how case files write them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::case::Check;

/// One difference between expected and actual output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// An expected row did not arrive.
    Missing(String),
    /// A row arrived that was not expected.
    Unexpected(String),
    /// A row arrived with another kind than expected (`+I[1]` for `+U[1]`).
    WrongKind {
        /// As expected.
        expected: String,
        /// As received.
        actual: String,
    },
    /// The rows are right but, with `ordered = true`, not in that order.
    Order {
        /// 1-based position of the first difference.
        position: usize,
        /// Expected row there.
        expected: String,
        /// Row received there.
        actual: String,
    },
    /// A declared `filesystem` sink left a hidden or in-progress file.
    InProgress(String),
    /// A `-U` / `-D` row retracts a row that is not in the table.
    CannotRetract {
        /// The retraction.
        row: String,
        /// 1-based position in the changelog.
        position: usize,
    },
}

/// Compares `actual` (the sink's rows with kinds, in arrival order) with `check`.
pub fn compare(check: &Check, ordered: bool, actual: &[String]) -> Vec<Problem> {
    match check {
        Check::Changelog(expected) | Check::Output(expected) => {
            let kinds = matches!(check, Check::Changelog(_));
            let mut problems = multiset_diff(expected, actual, kinds);
            if problems.is_empty() && ordered {
                if let Some(position) = expected.iter().zip(actual).position(|(e, a)| e != a) {
                    problems.push(Problem::Order {
                        position: position + 1,
                        expected: expected[position].clone(),
                        actual: actual[position].clone(),
                    });
                }
            }
            problems
        }
        Check::Final(expected) => {
            let (table, mut problems) = final_table(actual);
            problems.extend(multiset_diff(expected, &table, false));
            problems
        }
    }
}

/// The table a changelog leaves (`[...]` rows, in order of insertion), and the
/// retractions that found no row.
pub fn final_table(changelog: &[String]) -> (Vec<String>, Vec<Problem>) {
    let mut table: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    for (i, row) in changelog.iter().enumerate() {
        let (kind, body) = split_kind(row);
        match kind {
            "-U" | "-D" => match table.iter().position(|r| r == body) {
                Some(index) => {
                    table.remove(index);
                }
                None => problems.push(Problem::CannotRetract {
                    row: row.clone(),
                    position: i + 1,
                }),
            },
            _ => table.push(body.to_string()),
        }
    }
    (table, problems)
}

/// `("+I", "[1, a]")`; a row without a kind is `("", row)`.
fn split_kind(row: &str) -> (&str, &str) {
    if row.len() >= 2 && row.is_char_boundary(2) && row[2..].starts_with('[') {
        row.split_at(2)
    } else {
        ("", row)
    }
}

/// Missing and unexpected rows of two multisets; with `kinds`, a missing and an
/// unexpected row that differ only in their kind are one wrong-kind problem.
fn multiset_diff(expected: &[String], actual: &[String], kinds: bool) -> Vec<Problem> {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for e in expected {
        *counts.entry(e).or_default() += 1;
    }
    for a in actual {
        *counts.entry(a).or_default() -= 1;
    }
    let mut missing = Vec::new();
    let mut unexpected = Vec::new();
    // In the order the rows were written or received, so the report reads like them.
    for e in expected {
        if let Some(n) = counts.get_mut(e.as_str()).filter(|n| **n > 0) {
            *n -= 1;
            missing.push(e.clone());
        }
    }
    for a in actual {
        if let Some(n) = counts.get_mut(a.as_str()).filter(|n| **n < 0) {
            *n += 1;
            unexpected.push(a.clone());
        }
    }
    let mut problems = Vec::new();
    for m in missing {
        let paired = kinds
            .then(|| {
                unexpected
                    .iter()
                    .position(|u| split_kind(u).1 == split_kind(&m).1)
            })
            .flatten();
        match paired {
            Some(index) => problems.push(Problem::WrongKind {
                expected: m,
                actual: unexpected.remove(index),
            }),
            None => problems.push(Problem::Missing(m)),
        }
    }
    problems.extend(unexpected.into_iter().map(Problem::Unexpected));
    problems
}

/// The report of one sink's problems, indented under a `sink 'NAME'` heading.
pub fn describe(sink: &str, check: &Check, actual: &[String], problems: &[Problem]) -> String {
    let (expected_count, what, received) = match check {
        Check::Changelog(rows) => (rows.len(), "rows", "received"),
        Check::Final(rows) => (rows.len(), "final rows", "received"),
        Check::Output(rows) => (rows.len(), "output lines", "wrote"),
    };
    let unit = if matches!(check, Check::Output(_)) {
        "lines"
    } else {
        "rows"
    };
    let mut out = format!(
        "  sink '{sink}': expected {expected_count} {what}, {received} {} {unit}\n",
        actual.len()
    );
    for problem in problems {
        let _ = match problem {
            Problem::Missing(row) => writeln!(out, "    missing:     {row}"),
            Problem::Unexpected(row) => writeln!(out, "    unexpected:  {row}"),
            Problem::WrongKind { expected, actual } => {
                writeln!(out, "    wrong kind:  {actual}  (expected {expected})")
            }
            Problem::Order {
                position,
                expected,
                actual,
            } => writeln!(
                out,
                "    out of order at row {position}: {actual}  (expected {expected})"
            ),
            Problem::InProgress(file) => {
                writeln!(out, "    in-progress file left: {file}")
            }
            Problem::CannotRetract { row, position } => writeln!(
                out,
                "    cannot retract: {row}  (row {position} of the output: no such row in the table)"
            ),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn missing_unexpected_and_wrong_kinds() {
        let expected = Check::Changelog(rows(&["+I[a, 1]", "+I[b, 2]", "+U[c, 3]", "+I[b, 2]"]));
        let actual = rows(&["+I[b, 2]", "+I[c, 3]", "+I[d, 4]"]);
        let problems = compare(&expected, false, &actual);
        assert_eq!(
            problems,
            [
                Problem::Missing("+I[a, 1]".into()),
                Problem::Missing("+I[b, 2]".into()),
                Problem::WrongKind {
                    expected: "+U[c, 3]".into(),
                    actual: "+I[c, 3]".into()
                },
                Problem::Unexpected("+I[d, 4]".into()),
            ]
        );
        assert_eq!(
            describe("out", &expected, &actual, &problems),
            "  sink 'out': expected 4 rows, received 3 rows\n\
             \x20   missing:     +I[a, 1]\n\
             \x20   missing:     +I[b, 2]\n\
             \x20   wrong kind:  +I[c, 3]  (expected +U[c, 3])\n\
             \x20   unexpected:  +I[d, 4]\n"
        );
    }

    #[test]
    fn order_matters_only_when_asked() {
        let expected = Check::Changelog(rows(&["+I[1]", "+I[2]"]));
        let actual = rows(&["+I[2]", "+I[1]"]);
        assert!(compare(&expected, false, &actual).is_empty());
        assert_eq!(
            compare(&expected, true, &actual),
            [Problem::Order {
                position: 1,
                expected: "+I[1]".into(),
                actual: "+I[2]".into()
            }]
        );
    }

    #[test]
    fn final_table_applies_the_changelog() {
        let changelog = rows(&[
            "+I[a, 1]", "+I[b, 1]", "-U[a, 1]", "+U[a, 2]", "-D[b, 1]", "-D[z, 9]",
        ]);
        let (table, problems) = final_table(&changelog);
        assert_eq!(table, ["[a, 2]"]);
        assert_eq!(
            problems,
            [Problem::CannotRetract {
                row: "-D[z, 9]".into(),
                position: 6
            }]
        );
        let check = Check::Final(rows(&["[a, 2]", "[b, 1]"]));
        let problems = compare(&check, false, &changelog);
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[1], Problem::Missing("[b, 1]".into()));
        assert!(compare(&Check::Final(rows(&["[a, 2]"])), false, &changelog[..5]).is_empty());
    }
}
