"""Generates this case's input (events/) and its expected final table, computed here
independently of the engine. Run from this folder: python3 generate.py"""
import json
import os
import random
from collections import defaultdict

random.seed(11)
# A heavily skewed key: 90% of the rows are for 'hot'.
rows = []
for i in range(3000):
    k = 'hot' if random.random() < 0.9 else random.choice(['a', 'b', 'c', 'd'])
    rows.append({"id": i, "k": k, "v": random.randint(-50, 100), "u": "u%d" % random.randint(0, 40)})
os.makedirs('events', exist_ok=True)
for part in range(3):
    with open('events/part-%d.json' % part, 'w') as f:
        for r in rows[part::3]:
            f.write(json.dumps(r) + "\n")
groups = defaultdict(list)
for r in rows:
    groups[r['k']].append(r)
with open('expected_table', 'w') as f:
    for k in sorted(groups):
        rs = groups[k]
        vs = [r['v'] for r in rs]
        for phase in ['one', 'two']:
            f.write("+I[%s, %s, %d, %d, %d, %d, %d]\n" % (
                phase, k, len(rs), sum(vs), min(vs), max(vs), len(set(r['u'] for r in rs))))
