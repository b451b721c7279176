# Computes the expected final tables of job.sql with SQLite over the same rows: with
# out-of-orderness under the 5 s watermark delays no row is late, so each order joins
# the rate version with the latest update_time at or before its order_time (none if that
# version is a delete). Writes orders.json, rates_cdc.json (Debezium envelopes) and
# rates.json (append-only versions).
import json, random, sqlite3

random.seed(11)
CURRENCIES = ["EUR", "GBP", "JPY", "CHF"]

def ts(ms):
    return "2024-01-01 10:%02d:%02d.%03d" % (ms // 60000, ms // 1000 % 60, ms % 1000)

def flink(ms):
    if ms is None:
        return "null"
    s = "2024-01-01T10:%02d" % (ms // 60000)
    if ms % 60000:
        s += ":%02d" % (ms // 1000 % 60)
        if ms % 1000:
            s += ".%03d" % (ms % 1000)
    return s

def shuffle_within(events, spread):
    # Out of order by less than `spread` ms: sort by time plus a random delay.
    return [e for _, e in sorted(((e[0] + random.randint(0, spread), i), e) for i, e in enumerate(events))]

# Rate changes: per currency, times strictly increasing; some deletes and re-creates.
changes = []  # (time, currency, rate or None for a delete, op)
for c in CURRENCIES:
    t = random.randint(0, 3000)
    live = None
    for _ in range(random.randint(3, 6)):
        if live is not None and random.random() < 0.2:
            changes.append((t, c, None, "d", live))
            live = None
        else:
            rate = round(random.uniform(0.5, 2.0), 2)
            changes.append((t, c, rate, "u" if live is not None else "c", live))
            live = rate
        t += random.randint(2000, 9000)
changes.sort()
# In the changelog file, a key's changes stay in order; keys interleave out of order.
def in_file_order(events):
    out, pending = [], shuffle_within(events, 3000)
    # Restore per-key order (a CDC log is ordered per key).
    by_key = {}
    for e in sorted(events):
        by_key.setdefault(e[1], []).append(e)
    for e in pending:
        out.append(by_key[e[1]].pop(0))
    return out

with open("rates_cdc.json", "w") as f:
    for t, c, rate, op, old in in_file_order(changes):
        row = lambda r, tm: {"currency": c, "rate": r, "update_time": ts(tm)}
        if op == "c":
            env = {"before": None, "after": row(rate, t), "op": "c"}
        elif op == "u":
            # The before image carries the old version's time, as Debezium writes it.
            env = {"before": row(old, max(0, t - 1000)), "after": row(rate, t), "op": "u"}
        else:
            # The delete carries the deletion time (see job.sql).
            env = {"before": row(old, t), "after": None, "op": "d"}
        f.write(json.dumps(env) + "\n")

versions = [(t, c, r) for t, c, r, op, _ in changes if op != "d"]
with open("rates.json", "w") as f:
    for t, c, r in in_file_order([(t, c, r) for t, c, r in versions]):
        f.write(json.dumps({"currency": c, "rate": r, "update_time": ts(t)}) + "\n")

orders = []
t = 0
for i in range(40):
    t += random.randint(0, 1500)
    c = random.choice(CURRENCIES + ["USD"]) if i != 17 else None
    orders.append((t, i, random.randint(1, 100), c))
with open("orders.json", "w") as f:
    for t, i, price, c in shuffle_within(orders, 4000):
        f.write(json.dumps({"order_id": i, "price": price, "currency": c, "order_time": ts(t)}) + "\n")

db = sqlite3.connect(":memory:")
db.execute("create table o(order_id int, price int, currency text, t int)")
db.execute("create table cdc(currency text, rate real, t int)")  # rate NULL: a delete
db.execute("create table app(currency text, rate real, t int)")
db.executemany("insert into o values(?,?,?,?)", [(i, p, c, t) for t, i, p, c in orders])
db.executemany("insert into cdc values(?,?,?)", [(c, r, t) for t, c, r, _, _ in changes])
db.executemany("insert into app values(?,?,?)", [(c, r, t) for t, c, r in versions])

def valid(v):
    return f"""left join {v} v on v.currency = o.currency and v.t = (
        select max(t) from {v} w where w.currency = o.currency and w.t <= o.t)"""

def show(name, q, kinds):
    def fmt(k, v):
        if v is None:
            return "null"
        if k == "t":
            return flink(v)
        if k == "d":
            return repr(float(v))
        return str(v)
    out = sorted("[%s]" % ", ".join(fmt(k, v) for k, v in zip(kinds, r)) for r in db.execute(q))
    print("[sinks.%s]\nexpected = [" % name)
    for r in out:
        print('  "+I%s",' % r)
    print("]\n")

print("# ../job.sql on its real input files (declared sources), checked by crates/weir-cli/tests/e2e/cases.rs.")
print("# Rows from ../expected.py (SQLite over the same rows).")
print("parallelism = [1, 4]\n")
for s in ["orders", "rates_cdc", "rates"]:
    print('[sources.%s]\nconnector = "declared"\n' % s)
show("select_1", f"select o.order_id, o.price, o.currency, v.rate, o.t from o {valid('cdc')} where v.rate is not null", "iisdt")
show("select_2", f"select o.order_id, o.price, o.currency, v.rate, o.t from o {valid('cdc')}", "iisdt")
show("select_3", f"select o.order_id, o.currency, v.rate, v.t from o {valid('app')} where v.rate is not null", "isdt")
show("select_4", f"""select o.order_id, case when v.rate > 1.0 then o.price * v.rate end, o.currency
    from o {valid('app')}""", "ids")
