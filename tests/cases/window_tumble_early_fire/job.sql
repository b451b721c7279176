-- Early fire with delay 0: after every input batch, each window that got rows emits its
-- changes (+I first, then -U/+U); rows arrive in time order and each raises the
-- watermark, so each row is its own batch (interval 0). Computed by hand:
-- - 10:00:01 a: +I a (1, 1); 10:00:02 b: +I b (1, 2);
-- - 10:00:04 a: -U a (1, 1), +U a (2, 4);
-- - 10:00:11 a: +I [10:00:10] a (1, 5); the watermark then fires [10:00, 10:00:10),
--   whose final result equals the last early one: nothing more;
-- - 10:00:12 a (price 0): the count changes: -U (1, 5), +U (2, 5); 10:00:13: -U (2, 5),
--   +U (3, 5); the end of input fires [10:00:10, 10:00:20): unchanged, nothing.
SET 'pipeline.auto-watermark-interval' = '0';
SET 'table.exec.emit.early-fire.enabled' = 'true';
SET 'table.exec.emit.early-fire.delay' = '0';

CREATE TABLE bids (
    ts TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR ts AS ts
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

SELECT window_start, item, COUNT(*) AS cnt, SUM(price) AS total
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, item;
