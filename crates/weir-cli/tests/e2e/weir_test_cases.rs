//! `weir test` and `weir sample` end to end: every job under `tests/jobs/` passes its
//! cases (`JOB.tests/*.toml`), a failing case shows its diff, `--update` rewrites
//! expectations, the JUnit report parses back, and bad cases or scripts are reported
//! with their file and line. `WEIR_CASE=name` runs only the jobs whose folder matches.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::cases::{repo_root, weir};

fn jobs_dir() -> PathBuf {
    repo_root().join("tests/jobs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn weir_in(dir: &Path, args: &[&str]) -> Output {
    weir().current_dir(dir).args(args).output().unwrap()
}

/// A copy of `tests/jobs/bid_windows` in a temporary folder.
fn bid_windows_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from = jobs_dir().join("bid_windows");
    for sub in ["", "data", "job.tests", "failing"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(from.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, dir.path().join(sub).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    dir
}

#[test]
fn every_job_under_tests_jobs_passes_its_cases() {
    let filter = std::env::var("WEIR_CASE").ok();
    let mut jobs: Vec<PathBuf> = std::fs::read_dir(jobs_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("job.sql").exists())
        .filter(|p| {
            filter
                .as_deref()
                .is_none_or(|f| p.to_string_lossy().contains(f))
        })
        .collect();
    jobs.sort();
    for job in &jobs {
        for parallelism in ["1", "3"] {
            let out = weir_in(
                job,
                &[
                    "test",
                    "job.sql",
                    "--set",
                    &format!("parallelism.default={parallelism}"),
                ],
            );
            let (stdout, stderr) = text(&out);
            assert!(
                out.status.success(),
                "{} at parallelism {parallelism}:\n{stdout}\n{stderr}",
                job.display()
            );
            assert!(
                !stdout.contains("FAIL") && stdout.contains(" passed, 0 failed"),
                "{stdout}"
            );
        }
    }
    if filter.is_none() {
        let bid_windows = weir_in(&jobs_dir().join("bid_windows"), &["test", "job.sql"]);
        assert!(text(&bid_windows)
            .0
            .ends_with("5 cases: 5 passed, 0 failed\n"));
    }
}

#[test]
fn a_failing_case_shows_missing_unexpected_and_wrong_kind_rows() {
    let out = weir_in(
        &jobs_dir().join("bid_windows"),
        &["test", "job.sql", "failing/wrong_total.toml"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stdout,
        "FAIL  wrong_total  (failing/wrong_total.toml)\n\
         \x20 sink 'auction_totals': expected 2 rows, received 2 rows\n\
         \x20   missing:     +I[1, 2024-01-01T10:00, 2024-01-01T10:00:10, 2, 31]\n\
         \x20   wrong kind:  +I[1, 2024-01-01T10:00:10, 2024-01-01T10:00:20, 1, 5]  (expected +U[1, 2024-01-01T10:00:10, 2024-01-01T10:00:20, 1, 5])\n\
         \x20   unexpected:  +I[1, 2024-01-01T10:00, 2024-01-01T10:00:10, 2, 30]\n\
         1 case: 0 passed, 1 failed\n"
    );
}

#[test]
fn update_rewrites_the_expectations_and_keeps_the_rest_of_the_file() {
    let dir = bid_windows_copy();
    let case = dir.path().join("failing/wrong_total.toml");
    let before = std::fs::read_to_string(&case).unwrap();
    let out = weir_in(
        dir.path(),
        &["test", "job.sql", "failing/wrong_total.toml", "--update"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("    unexpected:  +I[1, 2024-01-01T10:00, 2024-01-01T10:00:10, 2, 30]\n  updated failing/wrong_total.toml\n"), "{stdout}");
    assert!(
        stdout.ends_with("1 case: 0 passed, 1 failed (1 updated)\n"),
        "{stdout}"
    );
    let after = std::fs::read_to_string(&case).unwrap();
    let kept = before.split("[sinks.auction_totals]").next().unwrap();
    assert!(
        after.starts_with(kept),
        "comments and steps are kept:\n{after}"
    );
    assert!(
        after.ends_with(
            "[sinks.auction_totals]\nexpected = [\n  \"+I[1, 2024-01-01T10:00, 2024-01-01T10:00:10, 2, 30]\",\n  \"+I[1, 2024-01-01T10:00:10, 2024-01-01T10:00:20, 1, 5]\",\n]\n"
        ),
        "{after}"
    );
    let again = weir_in(dir.path(), &["test", "job.sql", "failing/wrong_total.toml"]);
    assert!(again.status.success(), "{}", text(&again).0);
}

#[test]
fn the_junit_report_parses_back() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.xml");
    let out = weir_in(
        &jobs_dir().join("bid_windows"),
        &[
            "test",
            "job.sql",
            "job.tests",
            "failing",
            "--junit",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&report).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("name"), Some("job.sql"));
    assert_eq!(suite.attribute("tests"), Some("6"));
    assert_eq!(suite.attribute("failures"), Some("1"));
    assert_eq!(suite.attribute("errors"), Some("0"));
    let cases: Vec<roxmltree::Node> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let names: Vec<&str> = cases.iter().filter_map(|c| c.attribute("name")).collect();
    assert_eq!(
        names,
        [
            "declared_rows",
            "late_rows_from_files",
            "late_shop_bid",
            "on_time_shop_bid",
            "slow_source_holds_the_watermark",
            "wrong_total"
        ]
    );
    let failure = cases[5]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.attribute("message"),
        Some("sink 'auction_totals' differs")
    );
    assert!(failure
        .text()
        .unwrap()
        .contains("missing:     +I[1, 2024-01-01T10:00, 2024-01-01T10:00:10, 2, 31]"));
    assert!(cases[..5]
        .iter()
        .all(|c| c.children().all(|n| !n.is_element())));
}

#[test]
fn errors_in_cases_and_scripts_name_their_file_and_line() {
    let dir = bid_windows_copy();
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let cases = [
        (
            "misspelt_column.toml",
            "[sources.web_bids]\nrows = [\n  { auction = 1, price = 10 },\n  { auction = 1, prise = 10 },\n]\n\n[sinks.auction_totals]\nexpected = []\n",
            "bad/misspelt_column.toml:4: source 'web_bids' has no column 'prise' (its columns: auction, price, bidtime;",
        ),
        (
            "unknown_table.toml",
            "# typo\n[sources.web_bidz]\nrows = []\n\n[sinks.auction_totals]\nexpected = []\n",
            "bad/unknown_table.toml:2: the job does not read table 'web_bidz' (it reads: web_bids, shop_bids)",
        ),
        (
            "unknown_key.toml",
            "[sinks.auction_totals]\nexpectd = []\n",
            "bad/unknown_key.toml:2: unknown field `expectd`, expected one of `expected`, `final`, `ordered`",
        ),
        (
            "wrong_type.toml",
            "[sources.shop_bids]\ncsv = '''\n1,100,2024-01-01 10:00:00\nx,100,2024-01-01 10:00:01\n'''\n[sinks.auction_totals]\nexpected = []\n",
            "bad/wrong_type.toml:4: source 'shop_bids': cannot read row",
        ),
    ];
    for (name, body, _) in &cases {
        std::fs::write(bad.join(name), body).unwrap();
    }
    let out = weir_in(dir.path(), &["test", "job.sql", "bad"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    for (name, _, message) in &cases {
        let stem = name.trim_end_matches(".toml");
        assert!(
            stdout.contains(&format!("ERROR {stem}  (bad/{name})\n  {message}")),
            "{name}:\n{stdout}"
        );
    }
    assert!(
        stdout.ends_with("4 cases: 0 passed, 0 failed, 4 could not run\n"),
        "{stdout}"
    );

    std::fs::write(
        dir.path().join("broken.sql"),
        "CREATE TABLE t (a INT) WITH ('connector' = 'datagen');\nSELECT b FROM t;\n",
    )
    .unwrap();
    let out = weir_in(dir.path(), &["test", "broken.sql", "job.tests"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("broken.sql: SQL error at line 2, column"),
        "{stderr}"
    );
}

#[test]
fn unknown_connectors_are_mocked_and_bare_selects_have_final_tables() {
    // 'pulsar' is not a connector of this build: the job could not run, but it can be
    // tested, since no connector is ever created; a warning says so.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orders.sql"),
        "CREATE TABLE orders (id INT, amount DOUBLE, who STRING)\n\
         WITH ('connector' = 'pulsar', 'topics' = 'orders', 'service-url' = 'pulsar://nowhere:6650');\n\
         SELECT id, UPPER(who) FROM orders WHERE amount > 10;\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("orders.tests")).unwrap();
    std::fs::write(
        dir.path().join("orders.tests/big.toml"),
        "[sources.orders]\njson = '''\n{\"id\": 1, \"amount\": 25.0, \"who\": \"ann\"}\n{\"id\": 2, \"amount\": 5.0, \"who\": \"bo\"}\n'''\n\n[sinks.select_1]\nfinal = [\"[1, ANN]\"]\n",
    )
    .unwrap();
    let out = weir_in(dir.path(), &["test", "orders.sql"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout, "PASS  big\n1 case: 1 passed, 0 failed\n");
    assert!(
        stderr.contains("warning: table 'orders': unknown connector 'pulsar'")
            && stderr.contains("weir test mocks table 'orders' anyway"),
        "{stderr}"
    );
    let run = weir_in(dir.path(), &["run", "orders.sql"]);
    assert!(
        !run.status.success(),
        "pulsar is not a connector of this build"
    );
}

#[test]
fn sample_reads_rows_from_the_real_source() {
    let job = jobs_dir().join("bid_windows");
    let out = weir_in(
        &job,
        &["sample", "shop_bids", "--from", "job.sql", "--limit", "1"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout,
        "{\"auction\":1,\"cents\":1100,\"bidtime\":\"2024-01-01 10:00:05\"}\n"
    );
    let out = weir_in(&job, &["sample", "auction_totals", "--from", "job.sql"]);
    assert!(!out.status.success());
    assert!(text(&out)
        .1
        .contains("the job does not read table 'auction_totals' (it reads: web_bids, shop_bids)"));
}

#[test]
fn mocked_tables_keep_their_connector_checks() {
    // The same errors, at the same positions, as `weir validate` reports.
    let dir = tempfile::tempdir().unwrap();
    let scripts = [
        (
            "option.sql",
            "CREATE TABLE t (a INT)\nWITH ('connector' = 'filesystem', 'path' = 'nowhere.json', 'format' = 'json', 'json.bogus' = 'x');\nSELECT a FROM t;\n",
        ),
        (
            "required.sql",
            "CREATE TABLE t (a INT) WITH ('connector' = 'filesystem', 'format' = 'json');\nSELECT a FROM t;\n",
        ),
        (
            "updates.sql",
            "CREATE TABLE t (a INT) WITH ('connector' = 'datagen', 'number-of-rows' = '3');\nCREATE TABLE o (a INT, n BIGINT) WITH ('connector' = 'filesystem', 'path' = 'o', 'format' = 'json');\nINSERT INTO o SELECT a, COUNT(*) FROM t GROUP BY a;\n",
        ),
    ];
    for (script, body) in scripts {
        std::fs::write(dir.path().join(script), body).unwrap();
        let tests = dir.path().join(script.replace(".sql", ".tests"));
        std::fs::create_dir_all(&tests).unwrap();
        std::fs::write(tests.join("c.toml"), "[sinks.select_1]\nexpected = []\n").unwrap();
        let validate = weir_in(dir.path(), &["validate", script]);
        assert_eq!(validate.status.code(), Some(2), "{script}");
        let out = weir_in(dir.path(), &["test", script]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{script}: {stderr}");
        assert_eq!(stderr, text(&validate).1, "{script}");
        assert!(stderr.contains("SQL error at line "), "{script}: {stderr}");
        // A case expecting that error passes.
        let error_line = stderr.lines().next().unwrap().replace('"', "\\\"");
        std::fs::write(
            tests.join("c.toml"),
            format!("parallelism = [1, 2]\nerror = [\"{error_line}\"]\n"),
        )
        .unwrap();
        let out = weir_in(dir.path(), &["test", script]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{script}: {stdout}{stderr}");
        assert!(
            stdout.ends_with("2 cases: 2 passed, 0 failed\n"),
            "{stdout}"
        );
    }
}
