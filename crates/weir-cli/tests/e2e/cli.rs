//! The command line: help that teaches, clear errors for bad invocations.

use super::cases::{repo_root, weir};

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
    assert!(
        text.contains("cannot read the script 'no/such/job.sql'"),
        "{text}"
    );
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "Source: gen",
        "Calc",
        "Sink: out",
        "parallelism=2",
        "append-only",
        "forward (chained)",
        "id=",
    ] {
        assert!(text.contains(needle), "explain lacks {needle}:\n{text}");
    }
}

#[test]
fn sigterm_stops_an_unbounded_job_and_commits_its_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.sql"),
        "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '2000');\n\
         CREATE TABLE out (id BIGINT) WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'csv');\n\
         INSERT INTO out SELECT id FROM gen;\n",
    )
    .unwrap();
    let child = weir()
        .current_dir(dir.path())
        .args(["run", "--set", "parallelism.default=2", "job.sql"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the job has written something in progress, then stop it.
    let out = dir.path().join("out");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the job wrote nothing"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "a stopped job exits 0: {stderr}");
    let mut rows = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        assert!(
            !name.starts_with('.'),
            "in-progress file left after a graceful stop: {name}"
        );
        rows += std::fs::read_to_string(entry.path())
            .unwrap()
            .lines()
            .count();
    }
    assert!(
        rows > 0,
        "the committed files hold the rows read before the stop"
    );
}

#[test]
fn validate_checks_without_running_and_reports_positions() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.sql");
    std::fs::write(
        &good,
        "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen');\n\
         CREATE TABLE out (id BIGINT) WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'json');\n\
         INSERT INTO out SELECT id FROM gen;\n",
    )
    .unwrap();
    let out = weir().arg("validate").arg(&good).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid (3 operators, 1 sink)"));
    assert!(
        !dir.path().join("out").exists(),
        "validate must not create sink folders"
    );

    let bad = dir.path().join("bad.sql");
    std::fs::write(
        &bad,
        "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-secnd' = '5');\n\
         CREATE TABLE out (id BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO out SELECT id FROM gen;\n",
    )
    .unwrap();
    let out = weir().arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("line 1, column 1") && text.contains("rows-per-secnd"),
        "{text}"
    );
}

#[test]
fn the_quickstart_example_is_a_valid_windowed_job() {
    let script = repo_root().join("examples/quickstart.sql");
    let out = weir().arg("explain").arg(&script).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("WindowAggregate"), "{stdout}");
    assert!(stdout.contains("Sink: bids_per_channel"), "{stdout}");
}
