//! Kafka to Kafka while the broker goes away: a `weir run` job copies numbered records
//! from topic `input` to `events` and counts them per key and 1-second window into
//! `windows` (at-least-once sinks, checkpoints every 500 ms), while records keep
//! arriving; the broker is killed (`kill -9`) twice mid-run and started again on the same
//! port after 2 s. The job must come through and a reader of the output topics must find
//! every key's every sequence number, and every window with its one correct result
//! (the checks of `kafka_support`).
//!
//! The broker is tansu storing its topics in a local S3 server (moto), so that records
//! and committed offsets survive its restart (tansu's memory storage would lose them).
//! The job's warnings (`WEIR_LOG=warn`) are printed with the test's output and checked
//! to name what went away.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use weir_connectors::test_servers::{KafkaBroker, S3Server};

use super::cases::weir;
use super::kafka_support::Numbered;

/// 3,000 records over 3 partitions, in 30 slices 300 ms apart.
const INPUT: Numbered = Numbered {
    records: 3_000,
    partitions: 3,
    batched: true,
};
const SLICES: usize = 30;
const PAUSE: Duration = Duration::from_millis(300);
/// After these slices the broker is killed and, after `DOWN`, started again.
const RESTART_AFTER: [usize; 2] = [8, 18];
const DOWN: Duration = Duration::from_secs(2);
/// How long the job may take in all.
const JOB_TIMEOUT: Duration = Duration::from_secs(240);

const SETTINGS: &str = "\
SET 'execution.checkpointing.interval' = '500 ms';
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '10';
SET 'restart-strategy.fixed-delay.delay' = '1 s';";

/// Starts `weir run` on `script` at parallelism 2, its stderr (with warnings) into `log`.
fn start(script: &Path, log: &Path) -> Child {
    weir()
        .arg("run")
        .arg(script)
        .args(["--set", "parallelism.default=2"])
        .env("WEIR_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("weir starts")
}

#[test]
fn kafka_to_kafka_through_two_broker_restarts_loses_no_record() {
    let s3 = S3Server::start();
    let mut broker = KafkaBroker::start_on_s3(&s3, "tansu");
    INPUT.create_topics(&broker);
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("job.sql");
    std::fs::write(&script, INPUT.job(&broker.bootstrap(), SETTINGS)).unwrap();
    let log = work.path().join("weir.log");

    let started = Instant::now();
    let mut job = start(&script, &log);
    // The test's producer writes a slice at a time and waits for its acknowledgements,
    // so no produce request of its own is in flight when the broker is killed (a retried
    // one could duplicate an input record, and with it a window's count).
    for slice in 0..SLICES {
        INPUT.produce_slice(&broker, slice, SLICES);
        std::thread::sleep(PAUSE);
        if RESTART_AFTER.contains(&slice) {
            assert!(
                job.try_wait().unwrap().is_none(),
                "the job ended before the broker restart after slice {slice}: {}",
                std::fs::read_to_string(&log).unwrap()
            );
            broker.stop();
            println!("{:.1?}: broker killed", started.elapsed());
            std::thread::sleep(DOWN);
            broker.restart();
            println!("{:.1?}: broker started again", started.elapsed());
        }
    }
    let deadline = Instant::now() + JOB_TIMEOUT;
    let status = loop {
        if let Some(status) = job.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            job.kill().unwrap();
            job.wait().unwrap();
            panic!(
                "the job did not finish within {JOB_TIMEOUT:?}: {}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(&log).unwrap();
    println!(
        "{:.1?}: the job ended ({status}); its stderr:\n{text}",
        started.elapsed()
    );
    assert!(status.success(), "the job failed: {text}");
    // librdkafka reconnects by itself; were the job to fail instead, its restart
    // strategy restarts it from the latest checkpoint, with a notice naming the cause.
    let restarts = text.matches("the job failed:").count();
    println!("job restarts while the broker was away: {restarts}");
    // While the broker is away the source and the sinks say so, naming their tables.
    for table in ["table 'input'", "table=events", "table=windows"] {
        assert!(
            text.lines()
                .any(|l| l.contains(table) && l.contains("All broker connections are down")),
            "no warning of {table} that the broker is down: {text}"
        );
    }

    let context = "after two broker restarts";
    INPUT.check_events(&broker, context);
    INPUT.check_windows(&broker, context);
}
