//! The command line: help that teaches, clear errors for bad invocations.

use super::cases::weir;

#[test]
fn help_lists_commands_and_examples() {
    let out = weir().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in ["run", "explain", "Examples:", "parallelism.default"] {
        assert!(text.contains(needle), "--help lacks {needle}: {text}");
    }
}

#[test]
fn a_missing_script_is_a_clear_error() {
    let out = weir().args(["run", "no/such/job.sql"]).output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("cannot read the script 'no/such/job.sql'"), "{text}");
}

#[test]
fn explain_shows_operators_edges_and_changelog_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '5');\n\
         CREATE TABLE out (id BIGINT) WITH ('connector' = 'blackhole');\n\
         SET 'parallelism.default' = '2';\n\
         INSERT INTO out SELECT id + 1 FROM gen WHERE id > 0;\n",
    )
    .unwrap();
    let out = weir().arg("explain").arg(&script).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for needle in ["Source: gen", "Calc", "Sink: out", "parallelism=2", "append-only", "forward (chained)", "id="] {
        assert!(text.contains(needle), "explain lacks {needle}:\n{text}");
    }
}
