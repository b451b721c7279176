-- The window part of Nexmark q5: bids per auction in 10 s windows every 2 s (slices of 2 s).
CREATE TABLE discard_sink (auction BIGINT, num BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3))
WITH ('connector' = 'blackhole');
INSERT INTO discard_sink
SELECT auction, COUNT(*) AS num, window_start, window_end
FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
