-- Revenue per channel per 10 s tumbling window (a typical metric aggregation).
CREATE TABLE discard_sink (channel STRING, revenue BIGINT, bids BIGINT, window_start TIMESTAMP(3))
WITH ('connector' = 'blackhole');
INSERT INTO discard_sink
SELECT channel, SUM(price), COUNT(*), window_start
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
GROUP BY channel, window_start, window_end;
