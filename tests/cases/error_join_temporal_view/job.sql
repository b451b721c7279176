-- A view keeping the *first* row per key (ORDER BY ts ASC) is not a versioned view (which
-- keeps the last row per key by event time): refused, saying why and what one looks like.
CREATE TABLE orders (id INT, currency STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

CREATE TABLE rates_history (currency STRING, rate DOUBLE, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

CREATE VIEW rates AS
SELECT currency, rate, ts FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY currency ORDER BY ts ASC) AS rn
    FROM rates_history)
WHERE rn = 1;

SELECT o.id, r.rate FROM orders AS o
JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.currency = r.currency;
