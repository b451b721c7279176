#!/usr/bin/env python3
"""Latency of Weir from event creation to sink output, at a fixed event rate.

    scripts/bench/nexmark/latency.py [--rate EVENTS_PER_S] [--seconds S] [--weir PATH]

Runs two jobs on a throttled, unbounded `nexmark` source (bids only, `first-event.rate`
events per second of the whole event stream, so bids arrive at 46/50 of it), each into
a `print` sink read line by line by this script as it is written, and stops each after
`--seconds` (a bounded source would close its last windows early at the end of input):

- stateless: q2's filter (`MOD(auction, 123) = 0`, a few bids per second, so that
  this script's reading is not what is measured); the latency of a row is the time
  this script reads it minus the bid's `dateTime`;
- windowed: bids per auction in 1 s TUMBLE windows (watermark `dateTime` - 0 s, so a
  window can close as soon as a later bid arrives); the latency of a row is the time it
  is read minus its `window_end`, the creation time of the first event that can close
  the window.

An event's `dateTime` is its creation time: the throttled source emits each event once
the wall clock has reached it (never before; in batches of about 5 ms of events), as
nexmark-flink's source does. Events made between planning and the first read are
emitted at once, so the first second is left out. Prints p50, p99 and p99.9 in
milliseconds per job.
Run it at half of the maximum rate of the stateless query to check the target of
issue 7 (p99 under 50 ms).
"""

import argparse
import datetime
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import flink_compare as fc  # noqa: E402

SOURCE = """
SET 'pipeline.auto-watermark-interval' = '{interval}';
CREATE TABLE bid (
    auction BIGINT, bidder BIGINT, price BIGINT, `dateTime` TIMESTAMP(3), extra STRING,
    WATERMARK FOR `dateTime` AS `dateTime`
) WITH ('connector' = 'nexmark', 'weir.event-type' = 'bid',
        'first-event.rate' = '{rate}', 'next-event.rate' = '{rate}');
"""

JOBS = {
    "stateless (q2 filter)": """
CREATE TABLE out (auction BIGINT, price BIGINT, `dateTime` TIMESTAMP(3))
WITH ('connector' = 'print');
INSERT INTO out SELECT auction, price, `dateTime` FROM bid WHERE MOD(auction, 123) = 0;
""",
    "windowed (1 s TUMBLE, COUNT per auction)": """
CREATE TABLE out (auction BIGINT, num BIGINT, window_end TIMESTAMP(3))
WITH ('connector' = 'print');
INSERT INTO out
SELECT auction, COUNT(*), window_end
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND))
GROUP BY auction, window_start, window_end;
""",
}


def parse_time(text):
    """Epoch seconds of a Java LocalDateTime string (as the print sink writes it), UTC."""
    return datetime.datetime.fromisoformat(text.strip()).replace(
        tzinfo=datetime.timezone.utc).timestamp()


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[i]


def measure(weir, sql, seconds):
    latencies = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "job.sql"
        script.write_text(sql)
        proc = subprocess.Popen([str(weir), "run", "--quiet", str(script)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                bufsize=1)
        first = None
        for line in proc.stdout:
            now = time.time()
            parsed = fc.parse_line(line)
            if not parsed:
                continue
            first = first or now
            if now - first > seconds:
                break
            # The first second: start-up, cold caches, and the events made before the
            # source's first read.
            if now - first >= 1:
                created = parse_time(parsed[2].rsplit(",", 1)[1])
                latencies.append((now - created) * 1000)
        proc.kill()
        proc.wait()
    return sorted(latencies)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=int, default=100_000, help="events per second")
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--weir", help="weir binary (default $CARGO_TARGET_DIR/release/weir)")
    args = p.parse_args()
    weir = args.weir or fc.weir_binary()
    source = SOURCE.format(rate=args.rate, interval="10 ms")
    print(f"{args.rate:,} events/s for {args.seconds} s; latency in ms, event creation to "
          "sink output")
    print("| job | rows | min | p50 | p99 | p99.9 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, job in JOBS.items():
        lat = measure(weir, source + job, args.seconds)
        print(f"| {name} | {len(lat):,} | {percentile(lat, 0):.1f} | {percentile(lat, 50):.1f} "
              f"| {percentile(lat, 99):.1f} | {percentile(lat, 99.9):.1f} |")


if __name__ == "__main__":
    main()
