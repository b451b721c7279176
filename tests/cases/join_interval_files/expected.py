# Computes the expected final tables of job.sql with SQLite over the same rows: with
# out-of-orderness under the 5 s watermark delay no row is late, so the interval joins
# give exactly the batch query's rows. Writes impressions.json and clicks.json.
import json, random, sqlite3

random.seed(6)
def rows(n, start):
    t, out = start, []
    for _ in range(n):
        t += random.randint(0, 4000)
        out.append((random.randint(1, 4), max(0, t - random.randint(0, 4000))))
    return out

imps = rows(16, 0)
clicks = rows(16, 3000)
def ts(ms):
    return "2024-01-01 10:%02d:%02d.%03d" % (ms // 60000, ms // 1000 % 60, ms % 1000)
with open("impressions.json", "w") as f:
    for ad, t in imps:
        f.write(json.dumps({"ad": ad, "its": ts(t)}) + "\n")
with open("clicks.json", "w") as f:
    for ad, t in clicks:
        f.write(json.dumps({"ad": ad, "cts": ts(t)}) + "\n")
db = sqlite3.connect(":memory:")
db.execute("create table i(ad int, its int)")
db.execute("create table c(ad int, cts int)")
db.executemany("insert into i values(?,?)", imps)
db.executemany("insert into c values(?,?)", clicks)
def flink(ms):
    if ms is None:
        return "null"
    s = "2024-01-01T10:%02d" % (ms // 60000)
    if ms % 60000:
        s += ":%02d" % (ms // 1000 % 60)
        if ms % 1000:
            s += ".%03d" % (ms % 1000)
    return s
def show(name, q):
    out = sorted("[%s]" % ", ".join("null" if v is None else (flink(v) if k else str(v)) for k, v in zip(kinds, r)) for r in db.execute(q))
    print("[sinks.%s]\nfinal = [" % name)
    for r in out:
        print('  "%s",' % r)
    print("]\n")
kinds = [False, True, True]
show("select_1", "select i.ad, i.its, c.cts from i join c on i.ad = c.ad and c.cts between i.its - 2000 and i.its + 6000")
kinds = [False, True, False, True]
show("select_2", "select i.ad, i.its, c.ad, c.cts from i full join c on i.ad = c.ad and c.cts between i.its - 2000 and i.its + 6000")
