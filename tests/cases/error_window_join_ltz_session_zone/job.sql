-- Window joins (and window Top-N, deduplication and SESSION windows) over a TIMESTAMP_LTZ
-- attribute in a session time zone other than UTC are refused: their windows would have
-- to be aligned to the zone's local time, which only window aggregations do so far.
SET 'table.local-time-zone' = 'Asia/Shanghai';
CREATE TABLE l (k INT, ms BIGINT, ts AS TO_TIMESTAMP_LTZ(ms, 3), WATERMARK FOR ts AS ts)
WITH ('connector' = 'datagen', 'number-of-rows' = '5');
CREATE TABLE r (k INT, ms BIGINT, ts AS TO_TIMESTAMP_LTZ(ms, 3), WATERMARK FOR ts AS ts)
WITH ('connector' = 'datagen', 'number-of-rows' = '5');
SELECT L.k, L.window_start
FROM (SELECT * FROM TABLE(TUMBLE(TABLE l, DESCRIPTOR(ts), INTERVAL '1' DAY))) L
JOIN (SELECT * FROM TABLE(TUMBLE(TABLE r, DESCRIPTOR(ts), INTERVAL '1' DAY))) R
ON L.k = R.k AND L.window_start = R.window_start AND L.window_end = R.window_end;
