# Writes products.json (Debezium envelopes, one malformed) and products_payload.json (the
# same changes under "payload"), and prints the expected final tables: the changes
# applied to a dict by key, independently of Weir.
import json

changes = [
    ("r", None, (1, "pen", 1.5)),
    ("r", None, (2, "ink", 0.5)),
    ("c", None, (3, "pad", 2.25)),
    ("u", (1, "pen", 1.5), (1, "pen", 1.75)),
    ("d", (2, "ink", 0.5), None),
    ("c", None, (4, "cap", 3.0)),
    ("u", (3, "pad", 2.25), (3, "notepad", 2.5)),
    ("u", (4, "cap", 3.0), (4, "cap", 0.75)),
    ("d", (1, "pen", 1.75), None),
    ("c", None, (5, "box", 4.0)),
]
def image(row):
    return None if row is None else {"id": row[0], "name": row[1], "price": row[2]}
with open("products.json", "w") as f:
    for i, (op, before, after) in enumerate(changes):
        f.write(json.dumps({"before": image(before), "after": image(after), "op": op,
                            "ts_ms": 1700000000000 + i, "source": {"table": "products"}}) + "\n")
        if i == 4:
            f.write('{"before":null,"after":{"id":9},"op":"x"}\n')
with open("products_payload.json", "w") as f:
    for op, before, after in changes:
        f.write(json.dumps({"schema": {"type": "struct", "optional": False},
                            "payload": {"before": image(before), "after": image(after), "op": op}}) + "\n")
table = {}
for op, before, after in changes:
    if before is not None:
        del table[before[0]]
    if after is not None:
        table[after[0]] = after
print("# ../job.sql on its real input files (declared sources), checked by crates/weir-cli/tests/e2e/cases.rs.")
print("# Final tables from ../expected.py (the changes applied in Python).")
print("parallelism = [1, 2]\n")
for s in ["products", "products_payload"]:
    print('[sources.%s]\nconnector = "declared"\n' % s)
print("[sinks.select_1]\nfinal = [")
for k in sorted(table):
    print('  "[%d, %s, %r]",' % table[k])
print("]\n\n[sinks.select_2]\nfinal = [")
for k in sorted(table):
    i, n, p = table[k]
    if p > 1:
        print('  "[%d, %s]",' % (i, n.upper()))
print("]")
# The copy written back: creates for +I/+U, deletes for -U/-D (Flink's encoder).
def env(before, after, op):
    img = lambda r: "null" if r is None else '{"id":%d,"name":"%s","price":%r}' % r
    return '{"before":%s,"after":%s,"op":"%s"}' % (img(before), img(after), op)
lines = []
for op, before, after in changes:
    if before is not None:
        lines.append(env(before, None, "d"))
    if after is not None:
        lines.append(env(None, after, "c"))
print('\n[sinks.copy]\nconnector = "declared"\noutput = [')
for l in sorted(lines):
    print("  '%s'," % l)
print("]")
