#!/usr/bin/env python3
"""The Nexmark suite in Weir and in Apache Flink, on the same machine, data and parallelism.

    scripts/bench/nexmark/run.py [--size small|default | --events N] [--queries q0,q1,...]
                                 [--parallelism P] [--no-flink] [--no-check]
                                 [--write-docs] [--smoke]

1. Builds weir (`cargo build --release -p weir-cli`, in $CARGO_TARGET_DIR) and generates
   Nexmark events with Weir's own `nexmark` connector (generate.sql: deterministic, fixed
   base time) as JSON lines: one folder each of persons, auctions and bids.
2. For every query of queries/ (the Flink SQL of nexmark-flink, reading the files of
   tables.sql into a `blackhole` sink): `weir validate`; then a timed run in Weir and,
   in one fresh Flink JVM per query (PyFlink 2.3 local mini-cluster, installed into
   ~/.cache/weir-bench/flink-venv on first use), a tiny warm-up job and the timed job.
3. Correctness: each query runs once more in both engines with its sink turned into
   `print`; both changelogs are folded into final tables and compared as multisets
   (scripts/bench/flink_compare.py). A mismatch is printed beside the timing.
4. Prints the table (events/s, CPU seconds per million events, peak memory, ratios
   Weir/Flink, results) and with --write-docs puts it into docs/benchmarks.md between
   the `nexmark-flink` markers, with the date, machine, load and versions.

What is measured: events are the rows of the files a query reads (bids for every query
that runs today). Weir: wall time of `weir run` (start-up included), its CPU time (user
+ system) and peak RSS. Flink: the job's net runtime from its JobExecutionResult (JVM
and mini-cluster start-up excluded, job deployment included), the JVM's CPU time from
submission (after planning) to the end of the job, and the JVM's peak RSS (VmHWM, the
whole process).
Both engines run with their default options otherwise (no checkpoints, no mini-batch).

--smoke (used by scripts/test.sh): a small size, every query, and the Flink side only
when the Flink venv is already cached (all queries in one JVM, so memory figures are
meaningless); the event-time window queries are also checked against reference.py's
plain-Python results; fails when a script breaks or a result differs.

After `--keep`, `scripts/bench/nexmark/reference.py WORK_FOLDER` checks the outputs of
`tumble_sum`, `hop_count` and q11 against the same plain-Python computation.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
import flink_compare as fc  # noqa: E402

sys.path.insert(0, str(HERE))
import reference  # noqa: E402

SIZES = {"small": 20_000, "default": 2_000_000}

# The queries of nexmark-flink, in order; those with a reason are not run.
SUITE = [
    ("q0", None), ("q1", None), ("q2", None),
    ("q3", None),
    ("q4", None),
    ("q5", None),
    ("q6", "OVER ROWS over the updating output of a join: Flink refuses it too"),
    ("q7", None),
    ("q8", None),
    ("q9", None),
    ("q10", None), ("q11", None), ("q12", None),
    ("q13", "lookup join against a side-input file (`'connector' = 'filesystem'`): Flink "
            "2.3 cannot run it either, its filesystem connector is no lookup source, so it "
            "plans the join as a processing-time temporal join and refuses it: \"Temporal "
            "Table Join requires primary key in versioned table, but no primary key can be "
            "found.\" (with a PRIMARY KEY: \"Processing-time temporal join is not supported "
            "yet.\"); Weir looks up Redis and PostgreSQL tables only"),
    ("q14", None), ("q15", None), ("q16", None), ("q17", None), ("q18", None),
    ("q19", None),
    ("q20", None),
    ("q21", None), ("q22", None),
    ("q23", "three-way join: not adapted to file sources yet"),
    ("tumble_sum", None), ("hop_count", None),
]
# Queries whose Flink changelog is an upsert stream (Flink sends `+U` without `-U` to the
# print sink when the result has a unique key): compared as upserts on these columns.
UPSERT_KEYS = {"q9": [0]}

# Why a query's results cannot be compared between two runs, even of one engine.
NONDETERMINISTIC = {
    "q12": "processing-time windows: results depend on the speed of the run",
}
NOTES = {
    "q10": "sink adapted: blackhole instead of a partitioned filesystem sink",
    "q11": "`FROM bid B` without the alias: Weir refuses `B.dateTime` in SESSION()",
    "q14": "count_char (a Java UDF) written in SQL: CHAR_LENGTH - CHAR_LENGTH(REPLACE)",
    "tumble_sum": "not Nexmark: SUM and COUNT per channel, 10 s TUMBLE",
    "hop_count": "not Nexmark: q5's window part, COUNT per auction, HOP 10 s / 2 s",
}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def substitute(text, **values):
    for k, v in values.items():
        text = text.replace("${" + k + "}", str(v))
    return text


def count_rows(folder):
    n = 0
    for f in sorted(Path(folder).iterdir()):
        if f.is_file() and not f.name.startswith((".", "_")):
            with open(f, "rb") as fh:
                n += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return n


def one_file(folder):
    """Fails unless `folder` holds exactly one visible file. With several, Flink's file
    source reads them in an order that changes from run to run (not Weir's path order),
    so the rows of a file read after a later one are late for the watermark: event-time
    windows then drop them in Flink and the results differ for a reason that has nothing
    to do with either engine's windows."""
    files = [f.name for f in Path(folder).iterdir()
             if f.is_file() and not f.name.startswith((".", "_"))]
    if len(files) != 1:
        raise SystemExit(f"{folder}: generate.sql wrote {len(files)} files "
                         f"({', '.join(sorted(files))}) where the comparison with Flink needs "
                         f"one per table; check its 'sink.rolling-policy.*' options and that "
                         f"it runs with one subtask")


def tables_read(query_sql):
    return [t for t in ("person", "auction", "bid")
            if re.search(rf"(\bFROM|\bJOIN|\bTABLE|,)\s+{t}\b", query_sql, re.I)]


def git_commit():
    r = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %cs"],
                       capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return r.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


def java_version():
    r = subprocess.run(["java", "-version"], capture_output=True, text=True)
    first = (r.stderr or r.stdout).splitlines()
    return first[0].strip() if first else "unknown"


def run_query(name, query_file, args, weir, data, work, flink_ok):
    """Runs one query in both engines; returns its result record."""
    query_sql = query_file.read_text()
    rec = {"query": name}
    qdir = work / name
    qdir.mkdir()
    job = qdir / "job.sql"
    job.write_text(substitute((HERE / "tables.sql").read_text(), DATA=data) + "\n" + query_sql)
    check = qdir / "check.sql"
    check.write_text(fc.print_script(job.read_text(), qdir))
    rec["events"] = sum(args.rows[t] for t in tables_read(query_sql))

    v = subprocess.run([str(weir), "validate", str(job)], capture_output=True, text=True)
    if v.returncode != 0:
        msg = (v.stderr or v.stdout).strip().splitlines()
        rec["weir_error"] = msg[0].split(": ", 1)[-1] if msg else "invalid"
        return rec

    try:
        rec["weir"] = fc.run_weir(weir, job, args.parallelism, qdir / "weir-timed.out")
        if not args.no_check:
            fc.run_weir(weir, check, args.parallelism, qdir / "weir.out")
    except RuntimeError as e:
        rec["weir_error"] = str(e).splitlines()[-1]
        return rec
    if not flink_ok:
        return rec
    scripts = [job] + ([] if args.no_check else [check])
    try:
        metrics = fc.run_flink(scripts, args.parallelism, qdir / "flink.out", qdir,
                               warmup=True)
        rec["flink"] = metrics["jobs"][0]
        rec["flink_warmup"] = metrics.get("warmup")
    except RuntimeError as e:
        rec["flink_error"] = str(e).strip().splitlines()[-1][:300]
        return rec
    if not args.no_check:
        if name in NONDETERMINISTIC:
            rec["check"] = {"skipped": NONDETERMINISTIC[name]}
        else:
            key = UPSERT_KEYS.get(name)
            rec["check"] = fc.compare(fc.FinalTable(qdir / "weir.out", key),
                                      fc.FinalTable(qdir / "flink.out", key))
    if not args.keep:
        for f in qdir.glob("*.out"):
            f.unlink()
    return rec


def run_smoke_flink(records, args, work):
    """--smoke: the check scripts of every query in one Flink JVM (a cached venv only)."""
    runnable = [r for r in records if "weir" in r]
    scripts = [work / r["query"] / "check.sql" for r in runnable]
    for r, s in zip(runnable, scripts):
        # One print identifier per query, so the outputs of the queries stay apart.
        text = s.read_text().replace("'connector' = 'print'",
                                     f"'connector' = 'print', 'print-identifier' = '{r['query']}'")
        s.write_text(text)
        fc.run_weir(args.weir_path, s, args.parallelism, work / r["query"] / "weir.out")
    fc.run_flink(scripts, args.parallelism, work / "flink.out", work)
    flink_lines = {}
    for line in open(work / "flink.out", errors="replace"):
        parsed = fc.parse_line(line)
        if parsed:
            flink_lines.setdefault(parsed[0], []).append(line)
    for r in runnable:
        out = work / r["query"] / "flink.out"
        out.write_text("".join(flink_lines.get(r["query"], [])))
        if r["query"] in NONDETERMINISTIC:
            r["check"] = {"skipped": NONDETERMINISTIC[r["query"]]}
        else:
            key = UPSERT_KEYS.get(r["query"])
            r["check"] = fc.compare(fc.FinalTable(work / r["query"] / "weir.out", key),
                                    fc.FinalTable(out, key))
        log(f"  {r['query']}: {check_text(r)}")
        for key in ("examples_only_weir", "examples_only_flink"):
            for line in r["check"].get(key, [])[:3]:
                log(f"    {key[9:]}: {line}")


# ---------------------------------------------------------------------------------------
# The table


def fmt_rate(x):
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k"


def fmt_mb(b):
    return f"{b / 1e6:,.0f} MB"


def ratio(a, b):
    return f"**{a / b:.1f}**" if b else "-"


def check_text(rec):
    c = rec.get("check")
    if c is None:
        return "not checked"
    if "skipped" in c:
        return "not compared: " + c["skipped"]
    return fc.describe(c)


def table(records, suite_order):
    by = {r["query"]: r for r in records}
    head = ("| query | events | Weir events/s | Flink events/s | Weir/Flink | "
            "Weir CPU s/M events | Flink CPU s/M events | events per CPU-s Weir/Flink | "
            "Weir peak | Flink peak | memory Weir/Flink | results |")
    lines = [head, "|" + " --- |" * 12]
    for name, reason in suite_order:
        r = by.get(name)
        if r is None and reason is None:
            continue
        label = name + (f" ({NOTES[name]})" if name in NOTES else "")
        if reason:
            lines.append(f"| {label} | | | | | | | | | | | out: {reason} |")
            continue
        if "weir_error" in r:
            lines.append(f"| {label} | | | | | | | | | | | Weir refuses it: {r['weir_error']} |")
            continue
        w, f, n = r["weir"], r.get("flink"), r["events"]
        w_rate, w_cpu = n / w["seconds"], w["cpu_seconds"] / n * 1e6
        cells = [label, f"{n:,}", fmt_rate(w_rate)]
        if f:
            f_rate, f_cpu = n / f["net_runtime_seconds"], f["cpu_seconds"] / n * 1e6
            cells += [fmt_rate(f_rate), ratio(w_rate, f_rate), f"{w_cpu:.2f}", f"{f_cpu:.2f}",
                      ratio(f_cpu, w_cpu), fmt_mb(w["peak_bytes"]), fmt_mb(f["peak_bytes"]),
                      f"{w['peak_bytes'] / f['peak_bytes']:.2f}", check_text(r)]
        else:
            why = r.get("flink_error", "Flink not run")
            cells += ["-", "-", f"{w_cpu:.2f}", "-", "-", fmt_mb(w["peak_bytes"]), "-", "-",
                      why]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_docs(text):
    path = REPO / "docs" / "benchmarks.md"
    doc = path.read_text()
    begin, end = "<!-- nexmark-flink:begin -->", "<!-- nexmark-flink:end -->"
    if begin in doc and end in doc:
        doc = doc[: doc.index(begin) + len(begin)] + "\n" + text + "\n" + doc[doc.index(end):]
    else:
        doc += f"\n{begin}\n{text}\n{end}\n"
    path.write_text(doc)
    log(f"wrote the table into {path}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=SIZES, default="default")
    p.add_argument("--events", type=int, help="number of Nexmark events (overrides --size)")
    p.add_argument("--queries", help="comma-separated query names (default: all)")
    p.add_argument("--parallelism", type=int, default=1)
    p.add_argument("--no-flink", action="store_true", help="run Weir only")
    p.add_argument("--no-check", action="store_true", help="skip the result comparison")
    p.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    p.add_argument("--smoke", action="store_true", help="the test command's quick run")
    p.add_argument("--keep", action="store_true", help="keep the work folder (data, outputs)")
    p.add_argument("--weir", help="weir binary (default: build it)")
    args = p.parse_args()
    if args.smoke:
        args.size = "small"
    events = args.events or SIZES[args.size]
    wanted = set(args.queries.split(",")) if args.queries else None
    suite = [(n, r) for n, r in SUITE if wanted is None or n in wanted]

    if args.weir:
        weir = Path(args.weir)
    else:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "weir-cli"], cwd=REPO,
                       check=True)
        weir = fc.weir_binary()
    args.weir_path = weir

    flink_ok = not args.no_flink
    if args.smoke:
        _, python = fc.venv_python()
        flink_ok = flink_ok and python.exists()
        if not flink_ok:
            log("smoke: no cached Flink venv (run scripts/bench/nexmark/run.py once to create "
                "it); running the Weir side only")
    elif flink_ok:
        fc.ensure_flink()

    load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="weir-nexmark-"))
    try:
        data = work / "data"
        gen = work / "generate.sql"
        gen.write_text(substitute((HERE / "generate.sql").read_text(), EVENTS=events, DATA=data))
        log(f"generating {events:,} Nexmark events as JSON lines in {data} ...")
        t0 = time.perf_counter()
        # One subtask and no rolling, so one file per kind, in event-time order: both
        # engines then read the rows in the same order (see generate.sql).
        subprocess.run([str(weir), "run", "--quiet", "--set", "parallelism.default=1", str(gen)],
                       check=True)
        for t in ("person", "auction", "bid"):
            one_file(data / t)
        args.rows = {t: count_rows(data / t) for t in ("person", "auction", "bid")}
        log(f"  {args.rows} in {time.perf_counter() - t0:.1f} s")

        records = []
        for name, reason in suite:
            if reason:
                continue
            log(f"{name} ...")
            rec = run_query(name, HERE / "queries" / f"{name}.sql", args, weir, data, work,
                            flink_ok and not args.smoke)
            records.append(rec)
            if "weir" in rec:
                w = rec["weir"]
                msg = f"  Weir {rec['events'] / w['seconds']:,.0f} events/s"
                if "flink" in rec:
                    msg += f", Flink {rec['events'] / rec['flink']['net_runtime_seconds']:,.0f}"
                if "check" in rec:
                    msg += f"; {check_text(rec)}"
                log(msg)
            else:
                log(f"  {rec.get('weir_error') or rec.get('flink_error')}")
        if args.smoke and flink_ok:
            log("smoke: comparing every query's results with Flink (one JVM) ...")
            run_smoke_flink(records, args, work)
        if args.smoke:
            log("smoke: the event-time window queries against reference.py ...")
            for query, engine, r in reference.check(work):
                log("  " + "\n    ".join(reference.describe(query, engine, r)))
                if not r["match"]:
                    by_name = {rec["query"]: rec for rec in records}
                    by_name[query]["reference_mismatch"] = engine

        flink_v = fc.flink_version() if flink_ok else "not run"
        header = (
            f"Measured {datetime.date.today()} by `scripts/bench/nexmark/run.py"
            f"{' --events ' + str(events) if args.events else ' --size ' + args.size}"
            f"{' --parallelism ' + str(args.parallelism) if args.parallelism != 1 else ''}`: "
            f"{events:,} events ({args.rows['bid']:,} bids, {args.rows['auction']:,} auctions, "
            f"{args.rows['person']:,} persons), parallelism {args.parallelism}, on {machine()}; "
            f"load average {load[0]:.1f} at the start and {os.getloadavg()[0]:.1f} at the "
            f"end (the run itself adds about 1; more means that other processes, such as "
            f"compiles, shared the machine and the figures are noisy). Weir {git_commit()}; Apache Flink {flink_v} (PyFlink "
            f"local mini-cluster, default configuration); {java_version()}."
        )
        text = header + "\n\n" + table(records, suite)
        print(text)
        (work / "results.json").write_text(json.dumps(records, indent=1))
        if args.write_docs:
            write_docs(text)
        failed = [r["query"] for r in records
                  if "weir_error" in r and not r["weir_error"].startswith("SQL error")
                  or "flink_error" in r
                  or "check" in r and not r["check"].get("match", True)
                  or "reference_mismatch" in r]
        if args.smoke and failed:
            log(f"smoke: failed: {', '.join(failed)}")
            return 1
        return 0
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
