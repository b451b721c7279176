# Computes the expected final tables of job.sql with SQLite over the same rows, and
# writes orders.json and payments.json. Out-of-orderness stays under the 3 s watermark
# delay, so no row is late and each window join gives the batch join of the rows'
# windows (assigned here: TUMBLE 10 s, HOP 15 s every 5 s, CUMULATE by 5 s up to 20 s).
# Run: python3 expected.py > job.tests/join_window_files.toml
import json, random, sqlite3

random.seed(11)
S = 1000
BASE = 60 * S  # times are offsets from 10:01:00


def rows(n, value_range):
    t, out = 0, []
    for _ in range(n):
        t += random.randint(0, 2500)
        cid = random.randint(1, 5) if random.random() > 0.08 else None
        out.append((cid, random.randint(*value_range), max(0, t - random.randint(0, 2900))))
    return out


orders = rows(40, (1, 100))
payments = rows(40, (1, 100))


def ts(ms):
    ms += BASE
    return "2024-01-01 10:%02d:%02d.%03d" % (ms // 60000, ms // 1000 % 60, ms % 1000)


def write(name, data, value, time):
    with open(name, "w") as f:
        for cid, v, t in data:
            f.write(json.dumps({"cid": cid, value: v, time: ts(t)}) + "\n")


write("orders.json", orders, "amount", "ots")
write("payments.json", payments, "paid", "pts")


def windows(t, kind):
    if kind == "tumble":
        s = t - t % (10 * S)
        return [(s, s + 10 * S)]
    if kind == "hop":
        starts = range(t - t % (5 * S) - 10 * S, t + 1, 5 * S)
        return [(s, s + 15 * S) for s in starts if s <= t < s + 15 * S]
    start = t - t % (20 * S)
    return [(start, e) for e in range(start + 5 * S, start + 20 * S + 1, 5 * S) if t < e]


db = sqlite3.connect(":memory:")
for kind in ("tumble", "hop", "cumulate"):
    for table, data in (("o", orders), ("p", payments)):
        db.execute("create table %s_%s(cid int, v int, t int, ws int, we int)" % (table, kind))
        for cid, v, t in data:
            for ws, we in windows(t, kind):
                db.execute("insert into %s_%s values(?,?,?,?,?)" % (table, kind), (cid, v, t, ws, we))


def flink(ms):
    ms += BASE
    s = "2024-01-01T10:%02d" % (ms // 60000)
    if ms % 60000:
        s += ":%02d" % (ms // 1000 % 60)
        if ms % 1000:
            s += ".%03d" % (ms % 1000)
    return s


def show(name, q, times):
    out = sorted("[%s]" % ", ".join("null" if v is None else (flink(v) if k else str(v))
                                    for k, v in zip(times, r)) for r in db.execute(q))
    print("[sinks.%s]\nfinal = [" % name)
    for r in out:
        print('  "%s",' % r)
    print("]\n")


ON = " on o.cid = p.cid and o.ws = p.ws and o.we = p.we"
print("# ../job.sql on its real input files (declared sources), checked by "
      "crates/weir-cli/tests/e2e/cases.rs.")
print("# Final tables from ../expected.py (SQLite over the same rows and their windows).")
print("parallelism = [1, 4]\n")
print('[sources.orders]\nconnector = "declared"\n')
print('[sources.payments]\nconnector = "declared"\n')
show("select_1", "select o.cid, o.v, p.v, o.ws, o.we from o_tumble o join p_tumble p" + ON,
     [0, 0, 0, 1, 1])
show("select_2", "select o.cid, o.v, p.v, o.ws, o.we, o.we - 1 from o_hop o left join p_hop p" + ON,
     [0, 0, 0, 1, 1, 1])
show("select_3", "select o.cid, o.v, p.cid, p.v, coalesce(o.ws, p.ws), coalesce(o.we, p.we) "
     "from o_cumulate o full join p_cumulate p" + ON + " and o.v > p.v", [0, 0, 0, 0, 1, 1])
show("select_4", "select o.cid, o.total, p.n, o.ws from "
     "(select cid, sum(v) total, ws, we from o_tumble group by cid, ws, we) o left join "
     "(select cid, count(*) n, ws, we from p_tumble group by cid, ws, we) p"
     "" + ON, [0, 0, 0, 1])
show("select_5", "select o.cid, o.v, o.we from o_tumble o where exists "
     "(select 1 from p_tumble p where o.cid = p.cid and o.ws = p.ws and o.we = p.we)", [0, 0, 1])
