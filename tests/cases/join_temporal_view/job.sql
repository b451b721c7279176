-- Flink's versioned view: the last rate per currency by event time (a deduplication
-- keeping the last row, ORDER BY the event-time attribute DESC) has the inferred primary
-- key currency and the event time ts, and is read FOR SYSTEM_TIME AS OF the orders'
-- time. As in Flink, the deduplication runs first: the EUR rate of 10:00:10 arrives
-- after the one of 10:00:20 and is dropped (it is older than the key's current row), so
-- it never becomes a version; the GBP rate -1.0 is filtered out before the
-- deduplication. Order 5 is at exactly the time of a GBP version; orders 4 and 6 have
-- no version (LEFT pads them). The second query's condition on the view's rate applies
-- to the version valid at the order's time (order 3's EUR 1.3 fails it).
CREATE TABLE orders (id INT, currency STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '30' SECOND)
WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

CREATE TABLE rates_history (currency STRING, rate DOUBLE, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '30' SECOND)
WITH ('connector' = 'filesystem', 'path' = 'rates_history.json', 'format' = 'json');

CREATE VIEW rates AS
SELECT currency, rate, ts FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY currency ORDER BY ts DESC) AS rn
    FROM rates_history WHERE rate > 0)
WHERE rn = 1;

SELECT o.id, o.currency, r.rate, r.ts, o.ts FROM orders AS o
LEFT JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.currency = r.currency;

SELECT o.id, r.rate FROM orders AS o
JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.currency = r.currency AND r.rate < 1.2;
