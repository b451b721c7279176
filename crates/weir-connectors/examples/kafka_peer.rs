//! The Kafka benchmark's peer (scripts/bench/kafka.sh): the raw speed of producing and
//! consuming with librdkafka alone, the same client library the kafka connector uses,
//! and an end-to-end latency probe.
//!
//! ```text
//! kafka_peer produce  BOOTSTRAP TOPIC COUNT PARTITIONS   # JSON records k, seq, ts, created
//! kafka_peer consume  BOOTSTRAP TOPIC COUNT              # reads COUNT records from the start
//! kafka_peer latency  BOOTSTRAP IN OUT RATE SECONDS      # produces at RATE/s into IN, reads OUT
//! ```
//!
//! Each prints one `key=value` line. Records are `{"k":..,"seq":..,"ts":"..","created":ms}`;
//! latency is the time from `created` (set when the record is handed to the producer)
//! to when the record read back from OUT carries it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn record(i: u64, created: i64) -> String {
    let ts = chrono::DateTime::from_timestamp_millis(1_767_225_600_000 + i as i64)
        .unwrap_or_default()
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.3f");
    format!(
        r#"{{"k":{},"seq":{i},"ts":"{ts}","created":{created}}}"#,
        i % 1000
    )
}

fn producer(bootstrap: &str) -> Result<BaseProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()?)
}

/// Sends `value` to `partition`, waiting for queue space.
fn send(producer: &BaseProducer, topic: &str, partition: i32, value: &str) -> Result<()> {
    let mut record = BaseRecord::<(), str>::to(topic)
        .partition(partition)
        .payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                back,
            )) => {
                producer.poll(Duration::from_millis(1));
                record = back;
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

fn produce(bootstrap: &str, topic: &str, count: u64, partitions: i32) -> Result<()> {
    let producer = producer(bootstrap)?;
    // tansu 0.6 answers ListOffsets(latest) with the base offset + 1 of a partition's
    // newest batch (see weir-connectors' test_servers/kafka.rs): the first and the last
    // record of each partition go alone, so that a bounded read up to the latest offset
    // (Weir's `latest-offset`) sees them all.
    let alone = (partitions as u64).min(count);
    let last = count.saturating_sub(alone).max(alone);
    let send_alone = |range: std::ops::Range<u64>| -> Result<()> {
        for i in range {
            send(
                &producer,
                topic,
                (i % partitions as u64) as i32,
                &record(i, now_ms()),
            )?;
            producer.flush(Duration::from_secs(30))?;
        }
        Ok(())
    };
    send_alone(0..alone)?;
    let started = Instant::now();
    for i in alone..last {
        send(
            &producer,
            topic,
            (i % partitions as u64) as i32,
            &record(i, now_ms()),
        )?;
    }
    producer.flush(Duration::from_secs(120))?;
    let seconds = started.elapsed().as_secs_f64();
    send_alone(last..count)?;
    println!(
        "produce records={} seconds={seconds:.3} rate={:.0}",
        last - alone,
        (last - alone) as f64 / seconds
    );
    Ok(())
}

fn consumer(bootstrap: &str) -> Result<BaseConsumer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "weir-bench-peer")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        // tansu answers a fetch only when its wait is over, even with data there (a
        // Kafka broker answers at once): the benchmark's consumers wait 10 ms.
        .set("fetch.wait.max.ms", "10")
        .create()?)
}

/// Assigns every partition of `topic` from `offset`.
fn assign(consumer: &BaseConsumer, topic: &str, offset: Offset) -> Result<()> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
    let mut list = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            list.add_partition_offset(topic, p.id(), offset)?;
        }
    }
    consumer.assign(&list)?;
    Ok(())
}

fn consume(bootstrap: &str, topic: &str, count: u64) -> Result<()> {
    let consumer = consumer(bootstrap)?;
    assign(&consumer, topic, Offset::Beginning)?;
    let mut read = 0u64;
    let mut started = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while read < count && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message?;
            started.get_or_insert_with(Instant::now);
            read += 1;
        }
    }
    let seconds = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
    println!(
        "consume records={read} seconds={seconds:.3} rate={:.0}",
        read as f64 / seconds.max(1e-9)
    );
    Ok(())
}

/// The `created` field of a record.
fn created(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    let start = text.find("\"created\":")? + "\"created\":".len();
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

fn latency(bootstrap: &str, input: &str, output: &str, rate: u64, seconds: u64) -> Result<()> {
    let consumer = consumer(bootstrap)?;
    assign(&consumer, output, Offset::End)?;
    let bootstrap_owned = bootstrap.to_string();
    let input_owned = input.to_string();
    let writer = std::thread::spawn(move || -> std::result::Result<u64, String> {
        let producer = producer(&bootstrap_owned).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let total = rate * seconds;
        for i in 0..total {
            // Paced: record i leaves at i / rate seconds.
            let due = Duration::from_secs_f64(i as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
            send(
                &producer,
                &input_owned,
                (i % 2) as i32,
                &record(i, now_ms()),
            )
            .map_err(|e| e.to_string())?;
            producer.poll(Duration::ZERO);
        }
        producer
            .flush(Duration::from_secs(60))
            .map_err(|e| e.to_string())?;
        Ok(total)
    });
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(seconds + 10);
    while Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(50)) {
            let message = message?;
            if let Some(c) = message.payload().and_then(created) {
                latencies.push(now_ms() - c);
            }
        }
    }
    let produced = writer
        .join()
        .map_err(|_| "the producer thread panicked")??;
    latencies.sort_unstable();
    let pct = |p: f64| -> i64 {
        if latencies.is_empty() {
            return -1;
        }
        latencies[((latencies.len() - 1) as f64 * p).round() as usize]
    };
    println!(
        "latency produced={produced} received={} p50_ms={} p99_ms={} p999_ms={} max_ms={}",
        latencies.len(),
        pct(0.5),
        pct(0.99),
        pct(0.999),
        latencies.last().copied().unwrap_or(-1)
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| "missing argument; see the usage at the top of kafka_peer.rs".into())
    };
    match arg(0)? {
        "produce" => produce(arg(1)?, arg(2)?, arg(3)?.parse()?, arg(4)?.parse()?),
        "consume" => consume(arg(1)?, arg(2)?, arg(3)?.parse()?),
        "latency" => latency(
            arg(1)?,
            arg(2)?,
            arg(3)?,
            arg(4)?.parse()?,
            arg(5)?.parse()?,
        ),
        other => Err(format!("unknown command '{other}': produce, consume or latency").into()),
    }
}
