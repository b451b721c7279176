-- SUM and AVG keep Flink's result types: SUM(INT) is INT (so it goes into an INT sink
-- column), AVG(INT) is INT divided as integers (truncated toward zero), AVG(DECIMAL(10, 2))
-- is DECIMAL(38, 6) rounded half up, SUM(DECIMAL(10, 2)) is DECIMAL(38, 2). SUM(INT) wraps
-- around past the INT range; AVG(INT) sums in BIGINT (Flink's IntAvgAggFunction), so it does not.
CREATE TABLE readings (
    ts TIMESTAMP(3),
    sensor STRING,
    v INT,
    amount DECIMAL(10, 2),
    WATERMARK FOR ts AS ts
) WITH ('connector' = 'filesystem', 'path' = 'readings.json', 'format' = 'json');

CREATE TABLE per_window (
    sensor STRING,
    window_start TIMESTAMP(3),
    total INT,
    mean INT,
    mean_amount DECIMAL(38, 6),
    total_amount DECIMAL(38, 2)
) WITH ('connector' = 'print');

INSERT INTO per_window
SELECT sensor, window_start, SUM(v), AVG(v), AVG(amount), SUM(amount)
FROM TABLE(TUMBLE(TABLE readings, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY sensor, window_start, window_end;
