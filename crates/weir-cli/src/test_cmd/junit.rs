//! JUnit XML reports (`weir test --junit FILE`), the format CI systems read: one
//! `<testsuite>` per job, one `<testcase>` per case, with a `<failure>` holding the diff
//! of a case whose output differs and an `<error>` for a case that could not run.

use std::fmt::Write as _;
use std::time::Duration;

/// How a case ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The output is as expected.
    Passed,
    /// The output differs: a one-line summary and the diff.
    Failed {
        /// E.g. `sink 'totals' differs`.
        summary: String,
        /// The readable diff.
        details: String,
    },
    /// The case could not run (bad case file, failed job, timeout).
    Error(String),
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case name (file name without `.toml`).
    pub name: String,
    /// The case file.
    pub file: String,
    /// How long it ran.
    pub time: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

/// The JUnit XML of the cases of the job `suite`.
pub fn report(suite: &str, results: &[CaseResult]) -> String {
    let failures = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
        .count();
    let errors = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Error(_)))
        .count();
    let time: f64 = results.iter().map(|r| r.time.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts = format!(
        "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{time:.3}\"",
        results.len()
    );
    let _ = writeln!(out, "<testsuites name=\"weir test\" {counts}>");
    let _ = writeln!(out, "  <testsuite name=\"{}\" {counts}>", escape(suite));
    for r in results {
        let _ = write!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{:.3}\"",
            escape(&r.name),
            escape(suite),
            escape(&r.file),
            r.time.as_secs_f64()
        );
        match &r.outcome {
            Outcome::Passed => out.push_str("/>\n"),
            Outcome::Failed { summary, details } => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"OutputMismatch\">{}</failure>\n    </testcase>",
                    escape(summary),
                    escape(details)
                );
            }
            Outcome::Error(message) => {
                let first = message.lines().next().unwrap_or_default();
                let _ = writeln!(
                    out,
                    ">\n      <error message=\"{}\" type=\"Error\">{}</error>\n    </testcase>",
                    escape(first),
                    escape(message)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot hold.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_counts() {
        let results = vec![
            CaseResult {
                name: "ok".into(),
                file: "t/ok.toml".into(),
                time: Duration::from_millis(5),
                outcome: Outcome::Passed,
            },
            CaseResult {
                name: "bad <one>".into(),
                file: "t/bad.toml".into(),
                time: Duration::from_millis(7),
                outcome: Outcome::Failed {
                    summary: "sink 'out' differs".into(),
                    details: "missing: +I[a & b]\u{1}".into(),
                },
            },
        ];
        let xml = report("job.sql", &results);
        assert!(xml.contains(
            "<testsuite name=\"job.sql\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"0.012\">"
        ));
        assert!(xml.contains("name=\"bad &lt;one&gt;\""));
        assert!(xml.contains(
            "<failure message=\"sink &apos;out&apos; differs\" type=\"OutputMismatch\">missing: +I[a &amp; b]</failure>"
        ));
    }
}
