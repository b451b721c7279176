SET 'execution.checkpointing.interval' = '10 s';
CREATE TABLE readings (sensor STRING, reading DOUBLE, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
WITH ('connector' = 'filesystem', 'path' = 'readings', 'format' = 'json');
CREATE TABLE spread (window_start TIMESTAMP(3), sensor STRING, deviation DOUBLE)
WITH ('connector' = 'print');
INSERT INTO spread
SELECT window_start, sensor, STDDEV_POP(reading)
FROM TABLE(TUMBLE(TABLE readings, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, sensor;
