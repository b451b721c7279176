-- INSERT converts TIMESTAMP to TIMESTAMP_LTZ and back without a CAST, as Flink does,
-- in the session time zone: window bounds (TIMESTAMP, wall-clock time of Shanghai) into
-- TIMESTAMP_LTZ columns, and window_time (TIMESTAMP_LTZ) into a TIMESTAMP column.
SET 'table.local-time-zone' = 'Asia/Shanghai';
CREATE TABLE e (id BIGINT, ts AS TO_TIMESTAMP_LTZ(id * 1000, 3), WATERMARK FOR ts AS ts)
WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence',
      'fields.id.start' = '1', 'fields.id.end' = '3');
CREATE TABLE o (ws TIMESTAMP_LTZ(3), we TIMESTAMP_LTZ(3), wt TIMESTAMP(3), n BIGINT)
WITH ('connector' = 'print');
INSERT INTO o
SELECT window_start, window_end, window_time, COUNT(*)
FROM TABLE(TUMBLE(TABLE e, DESCRIPTOR(ts), INTERVAL '2' SECOND))
GROUP BY window_start, window_end, window_time;
