#!/usr/bin/env python3
"""Throughput with a checkpoint every second against the same job without (issue 4).

Part 2 of scripts/bench/state_backends.sh; a benchmark, not a test.

    scripts/bench/checkpoint_throughput.py --weir target/release/weir --events 60000000

Runs Nexmark q17 (unbounded GROUP BY per auction and day) and tumble_sum (10 s TUMBLE per
channel) over EVENTS generated bids at parallelism 2, in each configuration:

    hashmap                  no checkpoints (the baseline of both hashmap rows)
    hashmap, full            1 s checkpoints, full snapshots
    hashmap, incremental     1 s checkpoints, execution.checkpointing.incremental
    rocksdb                  no checkpoints (the baseline of the rocksdb row)
    rocksdb, incremental     1 s checkpoints, incremental

Every checkpointed configuration is compared with the same state backend without
checkpoints, as Flink's numbers are: the backend's own cost (RocksDB reads and writes)
is not a checkpoint's. Wall times on a shared machine move by 10 % or more from one
minute to the next, so the configurations run in ROUNDS interleaved rounds (each round
runs every configuration once, in a rotated order) and the table gives medians: events
per second over the wall time, CPU seconds (user + system), and, from the job's summary
line, what the checkpoints cost the tasks (seconds the barriers held them, summed over
tasks) and wrote.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BIDS = """SET 'parallelism.default' = '2';
CREATE TABLE bid (
    auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
    `dateTime` TIMESTAMP(3), extra STRING,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'weir.event-type' = 'bid', 'events.num' = '{events}',
        'weir.base-time' = '2026-01-01 00:00:00');
"""

# (name, backend, options after --set, baseline name)
CONFIGURATIONS = [
    ("hashmap, no checkpoints", "hashmap", [], None),
    ("hashmap, 1 s full", "hashmap", ["checkpoints"], "hashmap, no checkpoints"),
    (
        "hashmap, 1 s incremental",
        "hashmap",
        ["checkpoints", "execution.checkpointing.incremental=true"],
        "hashmap, no checkpoints",
    ),
    ("rocksdb, no checkpoints", "rocksdb", [], None),
    (
        "rocksdb, 1 s incremental",
        "rocksdb",
        ["checkpoints", "execution.checkpointing.incremental=true"],
        "rocksdb, no checkpoints",
    ),
]

SUMMARY = re.compile(
    r"in all ([0-9.]+) MB written, ([0-9.]+) s snapshotting on tasks, ([0-9.]+) s aligning"
)


def run_once(weir, script, backend, options, work):
    """One run: (events/s, CPU s, MB written, barrier s, peak MB)."""
    for folder in ("checkpoints", "rocksdb"):
        shutil.rmtree(work / folder, ignore_errors=True)
    args = [str(weir), "run", str(script), "--fresh"]
    if backend == "rocksdb":
        args += ["--set", "state.backend.type=rocksdb"]
        args += ["--set", f"state.backend.rocksdb.localdir={work / 'rocksdb'}"]
    for option in options:
        if option == "checkpoints":
            args += ["--set", "execution.checkpointing.interval=1s"]
            args += ["--set", f"execution.checkpointing.dir={work / 'checkpoints'}"]
        else:
            args += ["--set", option]
    started = time.monotonic()
    before = os.times()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.monotonic() - started
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    peak_mb = int(done.stderr.strip().splitlines()[-1]) / 1024
    found = SUMMARY.search(done.stderr)
    written, barriers = (float(found[1]), float(found[2])) if found else (0.0, 0.0)
    return wall, cpu, written, barriers, peak_mb


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weir", required=True, help="the weir binary (a release build)")
    parser.add_argument("--events", type=int, default=20_000_000, help="bids per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument(
        "--queries", default="q17,tumble_sum", help="comma-separated: q17, tumble_sum"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(
            f"{'query':<11} {'configuration':<26} {'events/s':>10} {'ratio':>6} "
            f"{'CPU s':>7} {'ratio':>6} {'snapshot s':>10} {'MB written':>10} {'peak MB':>8}"
        )
        for query in args.queries.split(","):
            script = work / f"{query}.sql"
            text = (ROOT / f"scripts/bench/nexmark/queries/{query}.sql").read_text()
            script.write_text(BIDS.format(events=args.events) + text)
            runs = {name: [] for name, *_ in CONFIGURATIONS}
            for round_index in range(args.rounds):
                shift = round_index % len(CONFIGURATIONS)
                for name, backend, options, _ in (
                    CONFIGURATIONS[shift:] + CONFIGURATIONS[:shift]
                ):
                    runs[name].append(run_once(args.weir, script, backend, options, work))
            medians = {
                name: [statistics.median(r[i] for r in rows) for i in range(5)]
                for name, rows in runs.items()
            }
            for name, _, _, baseline in CONFIGURATIONS:
                wall, cpu, written, barriers, peak = medians[name]
                rate = args.events / wall
                if baseline is None:
                    wall_ratio, cpu_ratio = "1.00", "1.00"
                else:
                    base_wall, base_cpu = medians[baseline][:2]
                    wall_ratio = f"{base_wall / wall:.2f}"
                    cpu_ratio = f"{base_cpu / cpu:.2f}"
                print(
                    f"{query:<11} {name:<26} {rate:>10,.0f} {wall_ratio:>6} {cpu:>7.1f} "
                    f"{cpu_ratio:>6} {barriers:>10.2f} {written:>10.0f} {peak:>8.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
