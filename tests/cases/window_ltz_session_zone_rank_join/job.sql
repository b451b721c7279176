-- Window Top-N, window deduplication, window joins and SESSION windows over a
-- TIMESTAMP_LTZ attribute follow the local time of the session time zone, as window
-- aggregations do (and as in Flink): in Asia/Shanghai (UTC+8) a 1-day window is a local
-- day, [16:00Z, 16:00Z) of the day before, and window_start / window_end are local
-- TIMESTAMP(3) values. The orders, in UTC and (local time):
--   ann 10  2023-12-31 15:59:59 (2023-12-31 23:59:59)
--   bob 20  2023-12-31 16:00:00 (2024-01-01 00:00:00)
--   ann 30  2024-01-01 04:00:00 (2024-01-01 12:00:00)
--   bob  5  2024-01-01 10:00:00 (2024-01-01 18:00:00)
--   cid 50  2024-01-01 16:30:00 (2024-01-02 00:30:00)
--   ann  7  2024-01-01 15:00:00 (2024-01-01 23:00:00): late for the local day
--           2024-01-01, which fired when the watermark (16:29:59Z, 00:29:59 local)
--           passed its end (with UTC days it would not be late)
--   dan  1  2024-01-02 00:00:00 (2024-01-02 08:00:00)
SET 'pipeline.auto-watermark-interval' = '0';
SET 'table.local-time-zone' = 'Asia/Shanghai';

CREATE TABLE orders (
  user_name STRING,
  amount INT,
  ms BIGINT,
  ts AS TO_TIMESTAMP_LTZ(ms, 3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

-- The two largest orders of each local day (ann's 7 is late and dropped).
SELECT window_start, window_end, user_name, amount, rn FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY amount DESC) AS rn
  FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' DAY))
) WHERE rn <= 2;

-- The first order of each local day.
SELECT window_start, window_end, user_name, amount FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY ts) AS rn
  FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' DAY))
) WHERE rn = 1;

-- Each user's orders joined with the same user's orders of at least 20 on the same
-- local day (the late order is left out on both sides: with two sources, whether it is
-- late would depend on how far the other source has read).
SELECT L.user_name, L.amount, R.amount AS big, L.window_start
FROM (SELECT * FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' DAY))
      WHERE amount <> 7) L
JOIN (SELECT * FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' DAY))
      WHERE amount >= 20) R
ON L.user_name = R.user_name AND L.window_start = R.window_start
   AND L.window_end = R.window_end;

-- Sessions of each user with an 8-hour gap, bounds in local time.
SELECT user_name, window_start, window_end, COUNT(*) AS orders, SUM(amount) AS total
FROM TABLE(SESSION(TABLE orders PARTITION BY user_name, DESCRIPTOR(ts), INTERVAL '8' HOUR))
GROUP BY user_name, window_start, window_end;
