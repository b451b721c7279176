#!/usr/bin/env python3
"""Runs a FlinkSQL job in Apache Flink and in Weir and compares their results.

    scripts/bench/flink_compare.py JOB.sql [--parallelism N] [--weir PATH] [--flink-only]
                                           [--show] [--upsert-key I,J] [--set KEY=VALUE ...]

Every sink of the job (any connector: print, blackhole, filesystem, ...) is turned into a
`print` sink, and bare `SELECT`s print their rows too; relative `path` options are made
absolute against the script's folder. The job then runs in Flink (PyFlink's local
mini-cluster, all INSERTs as one job, as a statement set) and, unless --flink-only, in
Weir (`weir run`). Both outputs are changelogs of print lines (`+I[...]`, `-U[...]`,
`+U[...]`, `-D[...]`); each is folded into its final table (a multiset of rows per sink:
`+I`/`+U` add a row, `-U`/`-D` remove one) and the two tables are compared. Exit status:
0 when they agree, 1 when they differ, 2 when a run fails.

--show prints Flink's output lines (without the `N> ` subtask prefix), so the tool also
answers "what does Flink print for this job?" for any SQL case in tests/cases/<name>/.

Apache Flink comes from PyPI (`apache-flink==2.3.*`, needs Java 17) in a virtual
environment cached in ~/.cache/weir-bench/flink-venv (or $WEIR_FLINK_VENV); it is
created on first use. Weir is $CARGO_TARGET_DIR/release/weir (default target/), built
by the caller (`cargo build --release -p weir-cli`), or --weir.

The same file is the Flink worker (`--worker`, run by the venv's Python): it runs
scripts one after the other in one JVM and reports, per script, Flink's net job runtime
(from the JobExecutionResult: without JVM and cluster start-up), the JVM's CPU time from
the job's submission (after planning) to its end, and its peak resident memory (VmHWM).
scripts/bench/nexmark/run.py uses it to time the Nexmark queries.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FLINK_REQUIREMENT = "apache-flink==2.3.*"
DEFAULT_VENV = Path.home() / ".cache" / "weir-bench" / "flink-venv"


# ---------------------------------------------------------------------------------------
# SQL scripts: statements, sinks, options


def split_statements(sql):
    """Splits a script into statements at top-level semicolons, skipping comments and
    keeping quoted text whole. `EXECUTE STATEMENT SET BEGIN ... END;` stays one
    statement."""
    statements, current, i, n = [], [], 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
            current.append("\n")
            continue
        if sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
            current.append(" ")
            continue
        if c in "'`\"":
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:  # doubled quote
                        j += 2
                        continue
                    break
                j += 1
            current.append(sql[i : j + 1])
            i = j + 1
            continue
        if c == ";":
            statements.append("".join(current).strip())
            current = []
        else:
            current.append(c)
        i += 1
    statements.append("".join(current).strip())
    statements = [s for s in statements if s]
    merged, in_set = [], False
    for s in statements:
        words = s.upper().split()
        if words[:4] == ["EXECUTE", "STATEMENT", "SET", "BEGIN"] or words[:3] == [
            "BEGIN",
            "STATEMENT",
            "SET",
        ]:
            merged.append(s)
            in_set = True
        elif in_set:
            merged[-1] += ";\n" + s
            in_set = words != ["END"]
        else:
            merged.append(s)
    return merged


def statement_set_inserts(statement):
    """The INSERT statements of `EXECUTE STATEMENT SET BEGIN ...; ...; END`."""
    body = re.sub(r"^\s*(EXECUTE\s+STATEMENT\s+SET\s+BEGIN|BEGIN\s+STATEMENT\s+SET)", "",
                  statement, flags=re.I)
    parts = [p.strip() for p in body.split(";\n")]
    return [p for p in parts if p and p.upper() != "END"]


def kind_of(statement):
    """`set`, `insert`, `statement_set`, `query` or `ddl` (anything else)."""
    words = statement.upper().split()
    if not words:
        return "ddl"
    if words[0] == "SET":
        return "set"
    if words[0] == "INSERT":
        return "insert"
    if words[:3] == ["EXECUTE", "STATEMENT", "SET"] or words[:3] == ["BEGIN", "STATEMENT", "SET"]:
        return "statement_set"
    if words[0] in ("SELECT", "WITH", "VALUES") or statement.lstrip().startswith("("):
        return "query"
    return "ddl"


def parse_set(statement):
    """(key, value) of `SET 'key' = 'value'` (quotes optional)."""
    m = re.match(r"\s*SET\s+'?([^'=]+?)'?\s*=\s*'?(.*?)'?\s*$", statement, re.I | re.S)
    if not m:
        raise ValueError(f"cannot read SET statement: {statement}")
    return m.group(1).strip(), m.group(2).strip()


def unquote(name):
    return name.strip("`").split(".")[-1]


def insert_targets(statements):
    targets = []
    for s in statements:
        inserts = statement_set_inserts(s) if kind_of(s) == "statement_set" else [s]
        for i in inserts:
            m = re.match(r"\s*INSERT\s+(?:INTO|OVERWRITE)\s+([`\w.]+)", i, re.I)
            if m:
                targets.append(unquote(m.group(1)))
    return targets


def with_clause(statement):
    """(start, end) of the `(...)` after the last top-level WITH of a CREATE TABLE."""
    m = None
    for m in re.finditer(r"\bWITH\s*\(", statement, re.I):
        pass
    if m is None:
        return None
    start = m.end() - 1
    depth, i, quote = 0, start, None
    while i < len(statement):
        c = statement[i]
        if quote:
            if c == quote:
                quote = None
        elif c in "'`":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return start, i + 1
        i += 1
    return None


def options_of(clause):
    return dict(re.findall(r"'((?:[^']|'')*)'\s*=\s*'((?:[^']|'')*)'", clause))


def print_script(sql, folder):
    """The script with every INSERT target turned into a `print` sink (identified by the
    table's name when there are several) and relative `path` options made absolute
    against `folder`. Returns the new script text."""
    statements = split_statements(sql)
    targets = set(insert_targets(statements))
    out = []
    for s in statements:
        m = re.match(r"\s*CREATE\s+(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([`\w.]+)",
                     s, re.I)
        span = with_clause(s) if m else None
        if span:
            name = unquote(m.group(1))
            options = options_of(s[span[0] : span[1]])
            if name in targets and options.get("connector") != "print":
                new = {"connector": "print"}
                if len(targets) > 1:
                    new["print-identifier"] = name
                s = s[: span[0]] + "(" + ", ".join(f"'{k}' = '{v}'" for k, v in new.items()) + ")" + s[span[1] :]
            elif "path" in options and not re.match(r"^(/|\w+://)", options["path"]):
                absolute = str((folder / options["path"]).resolve())
                head, clause, tail = s[: span[0]], s[span[0] : span[1]], s[span[1] :]
                clause = re.sub(r"('path'\s*=\s*)'(?:[^']|'')*'",
                                lambda _: f"'path' = '{absolute}'", clause)
                s = head + clause + tail
        out.append(s)
    return ";\n\n".join(out) + ";\n"


# ---------------------------------------------------------------------------------------
# Print output: changelog lines folded into final tables

LINE = re.compile(r"^(?:(?P<prefix>[^\s\[]*?)> )?(?P<kind>[+-][IUD])\[(?P<row>.*)\]\s*$")


def parse_line(line):
    """(sink identifier or '', row kind, row text) of a print line, or None."""
    m = LINE.match(line)
    if not m:
        return None
    prefix = m.group("prefix") or ""
    prefix = re.sub(r"(^|:)\d+$", "", prefix)  # subtask number
    return prefix, m.group("kind"), m.group("row")


class FinalTable:
    """The final table of a changelog: signed counts of rows, keyed by a hash of
    (sink, row) so that millions of rows fit; rows are looked up again in the output
    file only to show differences.

    With `upsert_key` (column indices), the changelog is folded as an upsert stream on
    those columns: `+I`/`+U` replace the key's row, `-U`/`-D` remove it. Flink sends a
    query with a unique key (a Top-1 per partition, say) to a print sink that way, as
    `+U` rows without their `-U`. Columns are cut at ", ", so key columns must not
    contain that text."""

    def __init__(self, path, upsert_key=None):
        self.path = path
        self.counts = collections.Counter()
        self.lines = 0
        self.negative = 0
        latest = {}
        with open(path, errors="replace") as f:
            for line in f:
                parsed = parse_line(line)
                if parsed is None:
                    continue
                sink, kind, row = parsed
                self.lines += 1
                if upsert_key is not None:
                    columns = row.split(", ")
                    key = (sink, tuple(columns[i] for i in upsert_key if i < len(columns)))
                    if kind in ("+I", "+U"):
                        latest[key] = row
                    else:
                        latest.pop(key, None)
                    continue
                sign = 1 if kind in ("+I", "+U") else -1
                key = hash((sink, row))
                c = self.counts[key] + sign
                if c:
                    self.counts[key] = c
                else:
                    del self.counts[key]
        for (sink, _), row in latest.items():
            self.counts[hash((sink, row))] += 1
        self.negative = sum(1 for c in self.counts.values() if c < 0)

    def rows(self):
        return sum(c for c in self.counts.values() if c > 0)

    def text_of(self, keys, limit):
        """Up to `limit` print lines for hashed keys."""
        found = {}
        with open(self.path, errors="replace") as f:
            for line in f:
                parsed = parse_line(line)
                if parsed and hash((parsed[0], parsed[2])) in keys:
                    k = hash((parsed[0], parsed[2]))
                    if k not in found:
                        found[k] = (f"{parsed[0]}> " if parsed[0] else "") + "+I[" + parsed[2] + "]"
                        if len(found) >= limit:
                            break
        return found


def compare(weir_table, flink_table, limit=10):
    """A comparison of two final tables: a dict with `match` and, when they differ, up to
    `limit` rows only Weir has and only Flink has."""
    diff = weir_table.counts.copy()
    diff.subtract(flink_table.counts)
    only_weir = {k: c for k, c in diff.items() if c > 0}
    only_flink = {k: -c for k, c in diff.items() if c < 0}
    result = {
        "match": not only_weir and not only_flink and weir_table.negative == 0
        and flink_table.negative == 0,
        "weir_rows": weir_table.rows(),
        "flink_rows": flink_table.rows(),
        "weir_lines": weir_table.lines,
        "flink_lines": flink_table.lines,
        "only_weir": sum(only_weir.values()),
        "only_flink": sum(only_flink.values()),
        "retractions_of_missing_rows": {"weir": weir_table.negative, "flink": flink_table.negative},
    }
    if not result["match"]:
        result["examples_only_weir"] = sorted(weir_table.text_of(set(only_weir), limit).values())
        result["examples_only_flink"] = sorted(flink_table.text_of(set(only_flink), limit).values())
    return result


def describe(result):
    if result["match"]:
        return f"match ({result['weir_rows']} rows)"
    text = (f"MISMATCH: Weir {result['weir_rows']} rows, Flink {result['flink_rows']}; "
            f"{result['only_weir']} only in Weir, {result['only_flink']} only in Flink")
    neg = result["retractions_of_missing_rows"]
    if neg["weir"] or neg["flink"]:
        text += f"; retractions of missing rows: Weir {neg['weir']}, Flink {neg['flink']}"
    return text


# ---------------------------------------------------------------------------------------
# Running the engines


def venv_python():
    venv = Path(os.environ.get("WEIR_FLINK_VENV", DEFAULT_VENV))
    return venv, venv / "bin" / "python"


def ensure_flink(quiet=False):
    """The venv's Python with PyFlink importable; creates the venv on first use."""
    venv, python = venv_python()
    check = [str(python), "-c", "import pyflink.version as v; print(v.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    if not quiet:
        print(f"installing {FLINK_REQUIREMENT} into {venv} (once)...", file=sys.stderr)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", FLINK_REQUIREMENT], check=True)
    subprocess.run(check, check=True, capture_output=True)
    return python


def flink_version():
    _, python = venv_python()
    r = subprocess.run([str(python), "-c", "import pyflink.version as v; print(v.__version__)"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "unknown"


def run_flink(scripts, parallelism, stdout_path, workdir, settings=(), warmup=False):
    """Runs `scripts` (paths) one after the other in one Flink JVM; their print output
    goes to `stdout_path`. Returns the list of per-script metrics (see `worker`)."""
    python = ensure_flink()
    metrics = Path(workdir) / "flink-metrics.json"
    stderr_path = Path(workdir) / "flink-stderr.log"
    cmd = [str(python), str(Path(__file__).resolve()), "--worker", "--metrics", str(metrics),
           "--parallelism", str(parallelism)]
    for s in settings:
        cmd += ["--set", s]
    if warmup:
        cmd.append("--warmup")
    cmd += [str(s) for s in scripts]
    # Flink's own log (split assignments, warnings) goes into the work folder rather than
    # the venv's shared pyflink/log, which every JVM start rolls over.
    env = dict(os.environ, FLINK_LOG_DIR=str(Path(workdir).resolve()))
    with open(stdout_path, "w") as out, open(stderr_path, "w") as err:
        rc = subprocess.run(cmd, stdout=out, stderr=err, cwd=workdir, env=env).returncode
    if rc != 0 or not metrics.exists():
        tail = stderr_path.read_text(errors="replace").strip().splitlines()[-25:]
        raise RuntimeError("Flink failed:\n" + "\n".join(tail))
    return json.loads(metrics.read_text())


def weir_binary():
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "weir"


# Runs a command and reports its wall time and resource usage as JSON (argv[1]: the
# report's path). It runs in a fresh, small Python process because on Linux a child's
# peak RSS (ru_maxrss) starts at its parent's peak: fork copies the address space's
# high-water mark and exec keeps it. A child forked straight from this process, which
# holds earlier queries' outputs, reported this process's hundreds of MB as its own.
MEASURE = r"""
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
report = {"seconds": time.perf_counter() - start, "exit": os.waitstatus_to_exitcode(status),
          "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_bytes": usage.ru_maxrss * 1024}
with open(sys.argv[1], "w") as f:
    json.dump(report, f)
"""


def run_weir(weir, script, parallelism, stdout_path, settings=()):
    """Runs `weir run` on `script`; stdout to `stdout_path`. Returns wall seconds, CPU
    seconds (user + system) and peak resident memory in bytes (of Weir alone)."""
    cmd = [str(weir), "run", "--quiet", "--set", f"parallelism.default={parallelism}"]
    for s in settings:
        cmd += ["--set", s]
    cmd.append(str(script))
    with open(stdout_path, "w") as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "usage.json"
        measured = subprocess.run([sys.executable, "-c", MEASURE, str(report_path)] + cmd,
                                  stdout=out, stderr=err)
        report = json.loads(report_path.read_text()) if report_path.exists() else None
        if report is None or report["exit"] != 0:
            err.seek(0)
            code = report["exit"] if report else measured.returncode
            raise RuntimeError(f"Weir failed (exit status {code}):\n"
                               + err.read().decode(errors="replace")[-3000:])
    return {"seconds": report["seconds"], "cpu_seconds": report["cpu_seconds"],
            "peak_bytes": report["peak_bytes"]}


# ---------------------------------------------------------------------------------------
# The Flink worker (runs inside the venv's Python)


def jvm_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def jvm_peak_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def worker(args):
    from pyflink.java_gateway import get_gateway
    from pyflink.table import EnvironmentSettings, TableDescriptor, TableEnvironment

    pid = get_gateway().jvm.ProcessHandle.current().pid()

    def run(sql):
        """Runs one script as one job, in a table environment of its own (its own
        catalog); returns its metrics."""
        env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
        config = env.get_config()
        config.set("parallelism.default", str(args.parallelism))
        for s in args.set:
            config.set(*s.split("=", 1))
        statements = split_statements(sql)
        inserts, queries = [], []
        for s in statements:
            kind = kind_of(s)
            if kind == "set":
                config.set(*parse_set(s))
            elif kind == "insert":
                inserts.append(s)
            elif kind == "statement_set":
                inserts.extend(statement_set_inserts(s))
            elif kind == "query":
                queries.append(s)
            else:
                env.execute_sql(s)
        job = env.create_statement_set()
        for s in inserts:
            job.add_insert_sql(s)
        for q in queries:
            job.add_insert(TableDescriptor.for_connector("print").build(), env.sql_query(q))
        # execute() plans the job and submits it; the CPU time counts from there (the
        # planning of the SQL is left out, as the start-up is).
        wall0 = time.perf_counter()
        submitted = job.execute()
        cpu0, wall1 = jvm_cpu_seconds(pid), time.perf_counter()
        result = submitted.get_job_client().get_job_execution_result().result()
        return {
            "net_runtime_seconds": result.get_net_runtime() / 1000.0,
            "planning_seconds": wall1 - wall0,
            "submit_to_end_seconds": time.perf_counter() - wall1,
            "cpu_seconds": jvm_cpu_seconds(pid) - cpu0,
            "peak_bytes": jvm_peak_bytes(pid),
        }

    results = {"jvm_pid": pid}
    if args.warmup:
        # A tiny job first: class loading and the first job deployment happen here, not
        # in the measured job.
        results["warmup"] = run(
            "CREATE TEMPORARY TABLE weir_warmup_sink (n INT) WITH ('connector' = 'blackhole');"
            "INSERT INTO weir_warmup_sink SELECT n FROM (VALUES (1), (2), (3)) AS t(n);")
    results["jobs"] = []
    for path in args.scripts:
        results["jobs"].append(run(Path(path).read_text()))
        sys.stdout.flush()
    Path(args.metrics).write_text(json.dumps(results, indent=1))


# ---------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scripts", nargs="+", help="FlinkSQL script (job.sql)")
    p.add_argument("--parallelism", type=int, default=1)
    p.add_argument("--weir", help="weir binary (default $CARGO_TARGET_DIR/release/weir)")
    p.add_argument("--flink-only", action="store_true", help="only run Flink; print its output")
    p.add_argument("--show", action="store_true", help="print Flink's output lines")
    p.add_argument("--upsert-key", metavar="I,J",
                   help="fold both changelogs as upserts on these column indices (0-based)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="an option for both engines (Flink configuration, weir --set)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--warmup", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--metrics", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return 0

    if len(args.scripts) != 1:
        p.error("give one script")
    job = Path(args.scripts[0]).resolve()
    with tempfile.TemporaryDirectory(prefix="flink-compare-") as tmp:
        tmp = Path(tmp)
        script = tmp / "job.sql"
        script.write_text(print_script(job.read_text(), job.parent))
        flink_out = tmp / "flink.out"
        try:
            run_flink([script], args.parallelism, flink_out, tmp, args.set)
        except RuntimeError as e:
            print(e, file=sys.stderr)
            return 2
        if args.show or args.flink_only:
            for line in flink_out.read_text(errors="replace").splitlines():
                parsed = parse_line(line)
                if parsed:
                    sink, kind, row = parsed
                    print((f"{sink}> " if sink else "") + f"{kind}[{row}]")
        if args.flink_only:
            return 0
        weir_out = tmp / "weir.out"
        try:
            run_weir(args.weir or weir_binary(), script, args.parallelism, weir_out, args.set)
        except RuntimeError as e:
            print(e, file=sys.stderr)
            return 2
        key = [int(i) for i in args.upsert_key.split(",")] if args.upsert_key else None
        result = compare(FinalTable(weir_out, key), FinalTable(flink_out, key))
        print(f"{job}: {describe(result)}")
        for key, label in (("examples_only_weir", "only in Weir"),
                           ("examples_only_flink", "only in Flink")):
            for line in result.get(key, []):
                print(f"  {label}: {line}")
        return 0 if result["match"] else 1


if __name__ == "__main__":
    sys.exit(main())
