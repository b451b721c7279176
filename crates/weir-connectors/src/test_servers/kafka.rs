//! A real Kafka-protocol broker for tests: tansu 0.6 on a free port of 127.0.0.1, stopped
//! when the handle is dropped. Tests produce and read records with librdkafka (the client
//! the connectors use), synchronously.
//!
//! Storage is memory (lost when the broker stops) unless the broker is started with
//! [`KafkaBroker::start_on_s3`]: then topics and records live in a bucket of an
//! [`S3Server`] and survive [`KafkaBroker::restart`] (the broker restart test).
//!
//! The binary is `$WEIR_TANSU`, else `~/.cache/weir-tools/bin/tansu`, else `tansu` in
//! `PATH`; `scripts/setup.sh` installs it (`cargo install tansu --features dynostore`,
//! about 16 minutes the first time, then cached). Tansu has no transactions (no EndTxn).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::s3::apply_env;
use super::{find_binary, free_port, stop_child, S3Server, START_TIMEOUT};

/// How long a test waits for records or the broker.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A record to produce: partition, key, value (`None`: a tombstone).
pub type TestRecord<'a> = (i32, Option<&'a [u8]>, Option<&'a [u8]>);

/// A record read back from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Key bytes, if any.
    pub key: Option<Vec<u8>>,
    /// Value bytes; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Record timestamp (ms), if set.
    pub timestamp: Option<i64>,
}

impl ReadRecord {
    /// The value as UTF-8 text (panics on a tombstone or bad UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8(self.value.clone().expect("a value, not a tombstone"))
            .expect("a UTF-8 value")
    }
}

/// A tansu broker of this test.
pub struct KafkaBroker {
    port: u16,
    child: Option<Child>,
    /// `--storage-engine`: `memory://tansu/` or `s3://<bucket>/`.
    storage: String,
    /// Environment of the broker process (the S3 endpoint and credentials).
    env: Vec<(&'static str, String)>,
}

/// The tansu binary.
fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("WEIR_TANSU") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cached = home.join(".cache/weir-tools/bin/tansu");
    if cached.is_file() {
        return cached;
    }
    find_binary("tansu", &[]).unwrap_or_else(|| {
        panic!(
            "tansu (a Kafka-protocol broker) is not installed: run scripts/setup.sh, which runs \
             `cargo install tansu --features dynostore --root ~/.cache/weir-tools`, or set WEIR_TANSU"
        )
    })
}

impl KafkaBroker {
    /// Starts `tansu broker` with memory storage on a free port and waits until it
    /// answers metadata requests.
    pub fn start() -> KafkaBroker {
        let mut broker = KafkaBroker {
            port: free_port(),
            child: None,
            storage: "memory://tansu/".to_string(),
            env: Vec::new(),
        };
        broker.restart();
        broker
    }

    /// Starts `tansu broker` storing topics and records in `bucket` (created here) of
    /// `s3`, so that they survive [`KafkaBroker::restart`]. `s3` must outlive the broker.
    pub fn start_on_s3(s3: &S3Server, bucket: &str) -> KafkaBroker {
        s3.create_bucket(bucket);
        let mut broker = KafkaBroker {
            port: free_port(),
            child: None,
            storage: format!("s3://{bucket}/"),
            env: s3.env(),
        };
        broker.restart();
        broker
    }

    /// `127.0.0.1:<port>`, for `properties.bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the broker (kill -9 of the process this handle started). Memory storage:
    /// topics and records are gone; S3 storage keeps them.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "-KILL");
        }
    }

    /// Starts the broker again (stopping it first if it runs) on the same port and the
    /// same storage: empty with memory storage, as it was with S3 storage.
    pub fn restart(&mut self) {
        self.stop();
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut command = Command::new(tansu_binary());
        command
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", &self.storage, "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if !self.env.is_empty() {
            apply_env(&mut command, &self.env);
        }
        let child = command.spawn().expect("start tansu broker");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.answers() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "tansu exited at start ({status}); port {}, storage {}",
                    self.port, self.storage
                );
            }
            assert!(
                Instant::now() < deadline,
                "tansu on port {} did not answer within {START_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn answers(&self) -> bool {
        let Ok(consumer) = self.client_config().create::<BaseConsumer>() else {
            return false;
        };
        consumer
            .fetch_metadata(None, Duration::from_secs(1))
            .is_ok()
    }

    /// A client configuration pointing at this broker.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap());
        config
    }

    /// Creates `topic` with `partitions` partitions (`tansu topic create`).
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let output = Command::new(tansu_binary())
            .args([
                "topic",
                "create",
                topic,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .expect("run tansu topic create");
        assert!(
            output.status.success(),
            "tansu topic create {topic} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Produces `(partition, key, value)` records to `topic` and waits until all are
    /// acknowledged. `value` `None` is a tombstone.
    pub fn produce(&self, topic: &str, records: &[TestRecord<'_>]) {
        self.produce_with(topic, records, &[], None);
    }

    /// [`KafkaBroker::produce`] with headers and a timestamp on every record.
    pub fn produce_with(
        &self,
        topic: &str,
        records: &[TestRecord<'_>],
        headers: &[(&str, &[u8])],
        timestamp: Option<i64>,
    ) {
        self.send(topic, records, headers, timestamp, false);
    }

    /// [`KafkaBroker::produce`] in batches of many records (librdkafka's defaults, 5 ms
    /// linger): far fewer requests, which counts on S3 storage. tansu 0.6 then answers
    /// ListOffsets(latest) too low (see [`KafkaBroker::read_all`]), so jobs reading the
    /// topic must not rely on it (`'scan.bounded.mode' = 'latest-offset'`).
    pub fn produce_batched(&self, topic: &str, records: &[TestRecord<'_>]) {
        self.send(topic, records, &[], None, true);
    }

    fn send(
        &self,
        topic: &str,
        records: &[TestRecord<'_>],
        headers: &[(&str, &[u8])],
        timestamp: Option<i64>,
        batched: bool,
    ) {
        let mut config = self.client_config();
        if !batched {
            // tansu 0.6 answers ListOffsets(latest) with the base offset + 1 of the newest
            // batch, too low after a batch of several records, and jobs bounded by
            // 'latest-offset' stop there: one record per batch.
            config.set("linger.ms", "0").set("batch.num.messages", "1");
        }
        let producer: BaseProducer = config.create().expect("create a test producer");
        for &(partition, key, value) in records {
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).partition(partition);
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(value) = value {
                record = record.payload(value);
            }
            if !headers.is_empty() {
                let mut owned = OwnedHeaders::new();
                for (name, value) in headers {
                    owned = owned.insert(Header {
                        key: name,
                        value: Some(*value),
                    });
                }
                record = record.headers(owned);
            }
            if let Some(ts) = timestamp {
                record = record.timestamp(ts);
            }
            let mut record = record;
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((e, back)) => {
                        assert!(
                            format!("{e}").contains("QueueFull"),
                            "produce to {topic}: {e}"
                        );
                        producer.poll(Duration::from_millis(10));
                        record = back;
                    }
                }
            }
        }
        producer.flush(IO_TIMEOUT).expect("flush the test producer");
    }

    /// Produces UTF-8 values without keys, spread round-robin over `partitions`.
    pub fn produce_text(&self, topic: &str, partitions: i32, values: &[&str]) {
        let records: Vec<TestRecord<'_>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| ((i as i32) % partitions, None, Some(v.as_bytes())))
            .collect();
        self.produce(topic, &records);
    }

    /// Reads every record of `topic` that is there now (up to each partition's high
    /// watermark), ordered by partition then offset.
    ///
    /// The high watermarks are those of the fetch responses, not of ListOffsets: tansu
    /// 0.6 answers ListOffsets(latest) with the base offset + 1 of the batch object it
    /// last modified, too low after a batch of several records, and wrong on S3 storage,
    /// whose modification times have whole seconds (two batches of one second tie).
    pub fn read_all(&self, topic: &str) -> Vec<ReadRecord> {
        let consumer: BaseConsumer = self
            .client_config()
            .set(
                "group.id",
                format!("weir-test-reader-{}", rand::random::<u32>()),
            )
            .set("enable.auto.commit", "false")
            .create()
            .expect("create a test consumer");
        let metadata = consumer
            .fetch_metadata(Some(topic), IO_TIMEOUT)
            .expect("fetch topic metadata");
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut assignment = TopicPartitionList::new();
        for &p in &partitions {
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .expect("assign");
        }
        consumer.assign(&assignment).expect("assign partitions");
        // The next offset to read of each partition, once a record was read.
        let mut next: std::collections::BTreeMap<i32, i64> = std::collections::BTreeMap::new();
        let watermarks = |p: i32| cached_watermarks(&consumer, topic, p);
        let mut records = Vec::new();
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let done = partitions.iter().all(|&p| {
                watermarks(p)
                    .is_some_and(|(low, high)| next.get(&p).copied().unwrap_or(low) >= high)
            });
            if done {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "read {} records of {topic} within {IO_TIMEOUT:?}, not up to the high \
                 watermarks (partition: (log start, high watermark) {:?})",
                records.len(),
                partitions
                    .iter()
                    .map(|&p| (p, watermarks(p)))
                    .collect::<Vec<_>>()
            );
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = message.expect("read a record");
            next.insert(message.partition(), message.offset() + 1);
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default();
            records.push(ReadRecord {
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
                headers,
                timestamp: message.timestamp().to_millis(),
            });
        }
        records.sort_by_key(|r| (r.partition, r.offset));
        records
    }
}

/// A partition's (log start, high watermark) as the consumer's last fetch response gave
/// them, `None` before one came (no request to the broker: librdkafka's cache).
fn cached_watermarks(consumer: &BaseConsumer, topic: &str, partition: i32) -> Option<(i64, i64)> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` lives; the topic is a NUL-
    // terminated string that outlives the call; `low` and `high` are valid to write.
    let error = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (error == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        && low >= 0
        && high >= 0)
        .then_some((low, high))
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produce_and_read_back_with_keys_headers_and_tombstones() {
        let broker = KafkaBroker::start();
        broker.create_topic("t", 2);
        broker.produce_with(
            "t",
            &[
                (0, Some(b"k1"), Some(b"v1")),
                (1, None, Some(b"v2")),
                (0, Some(b"k1"), None),
            ],
            &[("h", b"x")],
            Some(1_700_000_000_000),
        );
        let records = broker.read_all("t");
        assert_eq!(records.len(), 3, "{records:?}");
        assert_eq!(records[0].text(), "v1");
        assert_eq!(records[0].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(records[1].value, None);
        assert_eq!(records[1].offset, 1);
        assert_eq!(records[2].partition, 1);
        assert_eq!(
            records[2].headers,
            vec![("h".to_string(), Some(b"x".to_vec()))]
        );
        assert_eq!(records[0].timestamp, Some(1_700_000_000_000));
    }

    #[test]
    fn a_batch_of_several_records_is_read_back_whole() {
        // tansu's ListOffsets(latest) would say 1 after this batch; the fetch says 5.
        let broker = KafkaBroker::start();
        broker.create_topic("t", 1);
        let producer: BaseProducer = broker
            .client_config()
            .set("linger.ms", "200")
            .create()
            .unwrap();
        for v in ["a", "b", "c", "d", "e"] {
            producer
                .send(
                    BaseRecord::<[u8], [u8]>::to("t")
                        .partition(0)
                        .payload(v.as_bytes()),
                )
                .unwrap();
        }
        producer.flush(IO_TIMEOUT).unwrap();
        let (_, listed) = producer
            .client()
            .fetch_watermarks("t", 0, IO_TIMEOUT)
            .unwrap();
        let texts: Vec<String> = broker.read_all("t").iter().map(ReadRecord::text).collect();
        assert_eq!(
            texts,
            vec!["a", "b", "c", "d", "e"],
            "ListOffsets said {listed}"
        );
    }

    #[test]
    fn on_s3_storage_topics_and_records_survive_a_restart() {
        let s3 = S3Server::start();
        let mut broker = KafkaBroker::start_on_s3(&s3, "tansu");
        broker.create_topic("t", 2);
        broker.produce_text("t", 2, &["a", "b", "c"]);
        broker.restart();
        broker.produce_text("t", 2, &["d"]);
        let texts: Vec<String> = broker.read_all("t").iter().map(ReadRecord::text).collect();
        assert_eq!(texts, vec!["a", "c", "d", "b"]);
        let watermark = s3.get(
            "tansu",
            "clusters/tansu_cluster/topics/t/partitions/0000000000/watermark.json",
        );
        assert!(
            watermark
                .as_deref()
                .is_some_and(|w| w.contains(r#""high":3"#)),
            "{watermark:?}"
        );
    }
}
