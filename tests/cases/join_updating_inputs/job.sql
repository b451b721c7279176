-- Regular joins of updating inputs: an aggregation (updates per key) joined with a
-- table, and the latest status of each order (keep-last deduplication, whose rows move
-- from one status to another) outer-joined with the status table: a status whose last
-- order moved away gets its padded row back. Expected final tables:
-- ../join_regular_kinds/expected.py (one SQLite script computes both cases and their inputs).
CREATE TABLE customers (cid INT, name STRING, tier STRING)
WITH ('connector' = 'filesystem', 'path' = 'customers.json', 'format' = 'json');

CREATE TABLE orders (oid INT, cid INT, amount INT)
WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

CREATE TABLE statuses (code STRING, label STRING)
WITH ('connector' = 'filesystem', 'path' = 'statuses.json', 'format' = 'json');

CREATE TABLE events (oid INT, status STRING, ts TIMESTAMP(3))
WITH ('connector' = 'filesystem', 'path' = 'events.json', 'format' = 'json');

CREATE VIEW latest AS
SELECT oid, status FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY oid ORDER BY ts DESC) AS rn FROM events
) WHERE rn = 1;

SELECT c.name, t.total
FROM (SELECT cid, SUM(amount) AS total FROM orders GROUP BY cid) t
JOIN customers c ON t.cid = c.cid;

SELECT c.name, t.total, t.n
FROM customers c
LEFT JOIN (SELECT cid, SUM(amount) AS total, COUNT(*) AS n FROM orders GROUP BY cid) t
ON c.cid = t.cid;

SELECT s.code, s.label, l.oid FROM statuses s LEFT JOIN latest l ON s.code = l.status;

SELECT s.code, l.status, l.oid FROM statuses s FULL JOIN latest l ON s.code = l.status;
