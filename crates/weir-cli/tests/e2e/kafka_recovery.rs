//! Kafka to Kafka under `kill -9`: while a producer writes numbered records into topic
//! `input`, a `weir run` job copies them to `events` (stateless) and counts them per key
//! and 1-second window into `windows`; it is killed at 20 random moments and restarted
//! each time (the same command resumes from the latest checkpoint), until it reaches
//! the bounded end offsets. Then a reader of the output topics checks, as Flink's
//! KafkaSinkITCase does, every key's sequence numbers: with the at-least-once sink none
//! is missing (duplicates are counted and allowed), and every window has its one
//! correct count and sum, however often it was written.
//!
//! The broker is tansu (memory storage, started by the test); it has no transactions,
//! so the exactly-once variant of this test cannot run against it. The kill moments
//! come from a seed printed by the test; `WEIR_KILL_SEED=<n>` replays a run.

use std::time::{Duration, Instant};

use weir_connectors::test_servers::KafkaBroker;

use super::kafka_support::Numbered;
use super::recovery::{start_at, Seeded};

/// 12,000 records over 3 partitions.
const INPUT: Numbered = Numbered {
    records: 12_000,
    partitions: 3,
    batched: false,
};

const SETTINGS: &str = "\
SET 'execution.checkpointing.interval' = '200 ms';
SET 'restart-strategy.type' = 'none';";

#[test]
fn kafka_to_kafka_killed_twenty_times_loses_no_record() {
    let seed = std::env::var("WEIR_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(11, |d| d.as_nanos() as u64)
        });
    println!("kill moments from WEIR_KILL_SEED={seed}");
    let mut random = Seeded(seed);

    let broker = KafkaBroker::start();
    INPUT.create_topics(&broker);
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("job.sql");
    std::fs::write(&script, INPUT.job(&broker.bootstrap(), SETTINGS)).unwrap();

    let mut kills = 0;
    let started = Instant::now();
    std::thread::scope(|scope| {
        // The producer writes while the job runs and is killed: 40 slices of the input,
        // over about 15 s, longer than 20 kills take.
        let producer = scope.spawn(|| INPUT.produce(&broker, 40, Duration::from_millis(350)));
        loop {
            let mut child = start_at(&script, 2, &[]);
            if kills < 20 {
                std::thread::sleep(random.millis(150, 600));
                if child.try_wait().unwrap().is_none() {
                    child.kill().unwrap();
                    let _ = child.wait_with_output().unwrap();
                    kills += 1;
                    continue;
                }
            }
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "the last run failed (seed {seed}): {text}"
            );
            break;
        }
        producer.join().expect("the producer thread");
    });
    println!("{kills} kills in {:.1?}", started.elapsed());
    assert_eq!(kills, 20, "the job ended before 20 kills (seed {seed})");

    let context = format!("seed {seed}");
    INPUT.check_events(&broker, &context);
    INPUT.check_windows(&broker, &context);
}
