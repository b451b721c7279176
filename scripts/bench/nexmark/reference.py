#!/usr/bin/env python3
"""A third opinion on the event-time window queries of run.py: their results computed in
plain Python from the bid files, compared with what Weir and Flink printed.

    scripts/bench/nexmark/reference.py WORK_FOLDER

WORK_FOLDER is the folder that `run.py --keep` prints at the end (`kept /tmp/...`): its
data/bid files and, per query, the print outputs `<query>/weir.out` and
`<query>/flink.out` of the correctness runs. For `tumble_sum`, `hop_count` and `q11`
(whichever were run) this computes the final table in batch, as the SQL of queries/
defines it (TUMBLE 10 s; HOP 2 s / 10 s; SESSION 10 s, where a row up to 10 s after the
last row of a session extends it, as Flink merges windows that touch), and compares each
engine's final table with it.

The reference has no watermark: it counts every row. That is what a streaming engine
must give too when no row is late, which holds when the rows are read in event-time
order (nexmark's generator writes them so; the watermarks of tables.sql allow 4 s of
disorder). The script checks that order (files read in path order, as Weir reads them)
and refuses to judge when it does not hold.

Exit status: 0 when every compared output matches the reference, 1 otherwise.
"""

import argparse
import collections
import datetime
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import flink_compare as fc  # noqa: E402

QUERIES = ("tumble_sum", "hop_count", "q11")
EPOCH = datetime.datetime(1970, 1, 1)


def millis(text):
    """Milliseconds since the epoch of a JSON `dateTime` ("2026-01-01 00:00:56.988")."""
    return round((datetime.datetime.fromisoformat(text) - EPOCH).total_seconds() * 1000)


def shown(ms):
    """A TIMESTAMP(3) as both engines print it (Java's LocalDateTime: seconds and
    milliseconds only when they are not zero)."""
    t = EPOCH + datetime.timedelta(milliseconds=ms)
    text = t.strftime("%Y-%m-%dT%H:%M")
    if t.second or t.microsecond:
        text += t.strftime(":%S")
    if t.microsecond:
        text += f".{t.microsecond // 1000:03d}"
    return text


def compute(bid_folder):
    """The final tables of the three queries as print lines, per query."""
    files = sorted(f for f in Path(bid_folder).iterdir()
                   if f.is_file() and not f.name.startswith((".", "_")))
    tumble = collections.defaultdict(lambda: [0, 0])  # (channel, start) -> [sum, count]
    hop = collections.Counter()  # (auction, start) -> count
    sessions = collections.defaultdict(list)  # bidder -> [[start, last, count], ...]
    latest = None
    for f in files:
        with open(f) as lines:
            for number, line in enumerate(lines, 1):
                row = json.loads(line)
                t = millis(row["dateTime"])
                if latest is not None and t < latest:
                    raise SystemExit(
                        f"{f}:{number}: dateTime {row['dateTime']} is earlier than a row "
                        f"before it: the rows are not in event-time order, so the engines "
                        f"may drop late rows and this reference (which counts every row) "
                        f"cannot judge them")
                latest = t
                acc = tumble[(row["channel"], t - t % 10_000)]
                acc[0] += row["price"]
                acc[1] += 1
                last_start = t - t % 2_000
                for start in range(last_start - 8_000, last_start + 1, 2_000):
                    hop[(row["auction"], start)] += 1
                bidder = sessions[row["bidder"]]
                if bidder and t <= bidder[-1][1] + 10_000:
                    bidder[-1][1] = t
                    bidder[-1][2] += 1
                else:
                    bidder.append([t, t, 1])
    return {
        "tumble_sum": [f"+I[{c}, {s}, {n}, {shown(w)}]" for (c, w), (s, n) in tumble.items()],
        "hop_count": [f"+I[{a}, {n}, {shown(w)}, {shown(w + 10_000)}]"
                      for (a, w), n in hop.items()],
        "q11": [f"+I[{b}, {n}, {shown(s)}, {shown(last + 10_000)}]"
                for b, runs in sessions.items() for s, last, n in runs],
    }


def check(work, queries=QUERIES):
    """Compares the outputs kept in `work` (`<query>/weir.out`, `<query>/flink.out`) of
    those of `queries` that have some with the reference. Returns a list of (query,
    engine, comparison), the comparison as `flink_compare.compare` gives it with the
    engine's table first (its `weir_*` fields) and the reference second (`flink_*`)."""
    work = Path(work)
    wanted = [q for q in queries
              if any((work / q / f"{e}.out").exists() for e in ("weir", "flink"))]
    if not wanted:
        return []
    expected = compute(work / "data" / "bid")
    results = []
    with tempfile.TemporaryDirectory(prefix="nexmark-reference-") as tmp:
        for q in wanted:
            for engine in ("weir", "flink"):
                out = work / q / f"{engine}.out"
                if not out.exists():
                    continue
                # The reference gets the print identifier of the output (run.py --smoke
                # names each query's sink), as rows are compared per sink.
                prefix = f"{sink_of(out)}> " if sink_of(out) else ""
                ref = Path(tmp) / f"{q}-{engine}.out"
                ref.write_text("".join(f"{prefix}{line}\n" for line in expected[q]))
                results.append((q, engine, fc.compare(fc.FinalTable(out), fc.FinalTable(ref),
                                                      limit=5)))
    return results


def sink_of(out):
    """The print identifier of the first row of a print output ('' without one)."""
    with open(out, errors="replace") as f:
        for line in f:
            parsed = fc.parse_line(line)
            if parsed:
                return parsed[0]
    return ""


def describe(query, engine, r):
    """Lines saying how an engine's output compares with the reference."""
    if r["match"]:
        return [f"{query}: {engine} matches the reference ({r['weir_rows']} rows)"]
    lines = [f"{query}: {engine} DIFFERS from the reference: {engine} {r['weir_rows']} rows, "
             f"reference {r['flink_rows']}; {r['only_weir']} only in {engine}, "
             f"{r['only_flink']} only in the reference"]
    lines += [f"  only in {engine}: {line}" for line in r["examples_only_weir"]]
    lines += [f"  only in the reference: {line}" for line in r["examples_only_flink"]]
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("work", type=Path, help="a folder kept by `run.py --keep`")
    args = p.parse_args()
    results = check(args.work)
    if not results:
        p.error(f"{args.work} holds no output of {', '.join(QUERIES)}: run run.py with "
                f"--queries {','.join(QUERIES)} --keep (without --no-check)")
    for query, engine, r in results:
        print("\n".join(describe(query, engine, r)))
    return 0 if all(r["match"] for _, _, r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
