-- Window joins over files read at any parallelism: rows are out of order by less than
-- the 3 s watermark delay, so none is late and the results are the batch query's over
-- each row's windows (expected.py computes them with SQLite, and writes the input files).
-- Window table functions of TUMBLE, HOP and CUMULATE windows, window aggregations joined
-- per window (as Nexmark q8), and a semi join (EXISTS).
CREATE TABLE orders (
    cid INT, amount INT, ots TIMESTAMP(3),
    WATERMARK FOR ots AS ots - INTERVAL '3' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

CREATE TABLE payments (
    cid INT, paid INT, pts TIMESTAMP(3),
    WATERMARK FOR pts AS pts - INTERVAL '3' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'payments.json', 'format' = 'json');

SELECT o.cid, o.amount, p.paid, o.window_start, o.window_end
FROM (SELECT * FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ots), INTERVAL '10' SECOND))) o
JOIN (SELECT * FROM TABLE(TUMBLE(TABLE payments, DESCRIPTOR(pts), INTERVAL '10' SECOND))) p
ON o.cid = p.cid AND o.window_start = p.window_start AND o.window_end = p.window_end;

SELECT o.cid, o.amount, p.paid, o.window_start, o.window_end, o.window_time
FROM (SELECT * FROM TABLE(HOP(TABLE orders, DESCRIPTOR(ots), INTERVAL '5' SECOND, INTERVAL '15' SECOND))) o
LEFT JOIN (SELECT * FROM TABLE(HOP(TABLE payments, DESCRIPTOR(pts), INTERVAL '5' SECOND, INTERVAL '15' SECOND))) p
ON o.cid = p.cid AND o.window_start = p.window_start AND o.window_end = p.window_end;

SELECT o.cid, o.amount, p.cid, p.paid,
       COALESCE(o.window_start, p.window_start), COALESCE(o.window_end, p.window_end)
FROM (SELECT * FROM TABLE(CUMULATE(TABLE orders, DESCRIPTOR(ots), INTERVAL '5' SECOND, INTERVAL '20' SECOND))) o
FULL JOIN (SELECT * FROM TABLE(CUMULATE(TABLE payments, DESCRIPTOR(pts), INTERVAL '5' SECOND, INTERVAL '20' SECOND))) p
ON o.cid = p.cid AND o.window_start = p.window_start AND o.window_end = p.window_end AND o.amount > p.paid;

SELECT o.cid, o.total, p.n, o.window_start
FROM (
  SELECT cid, SUM(amount) AS total, window_start, window_end
  FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ots), INTERVAL '10' SECOND))
  GROUP BY cid, window_start, window_end
) o
LEFT JOIN (
  SELECT cid, COUNT(*) AS n, window_start, window_end
  FROM TABLE(TUMBLE(TABLE payments, DESCRIPTOR(pts), INTERVAL '10' SECOND))
  GROUP BY cid, window_start, window_end
) p
ON o.cid = p.cid AND o.window_start = p.window_start AND o.window_end = p.window_end;

SELECT o.cid, o.amount, o.window_end
FROM (SELECT * FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ots), INTERVAL '10' SECOND))) o
WHERE EXISTS (
  SELECT * FROM (SELECT * FROM TABLE(TUMBLE(TABLE payments, DESCRIPTOR(pts), INTERVAL '10' SECOND))) p
  WHERE o.cid = p.cid AND o.window_start = p.window_start AND o.window_end = p.window_end);
