-- Windows over a TIMESTAMP_LTZ time attribute are aligned to the local time of the
-- session time zone (as in Flink): in Asia/Shanghai (UTC+8) a 1-day window is a local
-- day, [00:00, 24:00) Shanghai time, which is [16:00Z, 16:00Z) of the days before.
-- window_start and window_end are TIMESTAMP(3) (local times: they print without a zone),
-- window_time keeps the attribute's type, TIMESTAMP_LTZ(3): the instant of window_end
-- minus 1 ms. The rows, in UTC: 2023-12-31 15:59:59, 16:00:00, 2024-01-01 10:00, 16:30,
-- 15:00 (late: the local day 2024-01-01 fired when the watermark passed 16:00Z), 23:00.
SET 'pipeline.auto-watermark-interval' = '0';
SET 'table.local-time-zone' = 'Asia/Shanghai';

CREATE TABLE orders (
  user_name STRING,
  ms BIGINT,
  ts AS TO_TIMESTAMP_LTZ(ms, 3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

SELECT window_start, window_end, COUNT(*) AS orders
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' DAY))
GROUP BY window_start, window_end;

SELECT user_name, window_start, window_end, window_time
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' DAY))
WHERE ms <= 1704038400000;

-- A window aggregation over the daily counts per user keeps the local days.
SELECT window_start, window_end, MAX(n) AS top
FROM (
  SELECT user_name, COUNT(*) AS n, window_start, window_end
  FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' DAY))
  GROUP BY user_name, window_start, window_end
)
GROUP BY window_start, window_end;

-- window_time of a window aggregation (grouped with the window): the instant of the
-- local window_end minus 1 ms, a TIMESTAMP_LTZ(3).
SELECT window_start, window_time, COUNT(*) AS orders
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' DAY))
GROUP BY window_start, window_end, window_time;
