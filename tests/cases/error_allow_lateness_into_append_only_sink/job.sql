SET 'table.exec.emit.allow-lateness' = '1 min';
CREATE TABLE bids (ts TIMESTAMP(3), item STRING, price INT, WATERMARK FOR ts AS ts)
WITH ('connector' = 'filesystem', 'path' = 'bids', 'format' = 'json');
CREATE TABLE totals (window_start TIMESTAMP(3), item STRING, total BIGINT)
WITH ('connector' = 'filesystem', 'path' = 'totals', 'format' = 'json');
INSERT INTO totals
SELECT window_start, item, SUM(price)
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, item;
