-- Bids counted per auction in 10-second windows with 5 seconds of allowed lateness;
-- bids later than that go to a late-data table. The cases beside this file script the
-- arrival order and watermarks.
SET 'table.exec.emit.allow-lateness' = '5 s';
SET 'weir.late-data.table' = 'late_bids';

CREATE TABLE bids (
    auction BIGINT,
    price INT,
    bidtime TIMESTAMP(3),
    WATERMARK FOR bidtime AS bidtime
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

CREATE TABLE late_bids (
    operator STRING,
    event_time TIMESTAMP(3),
    current_watermark TIMESTAMP(3),
    `row` STRING
) WITH ('connector' = 'filesystem', 'path' = 'late', 'format' = 'json');

SELECT auction, window_start, COUNT(*) AS bids, SUM(price) AS total
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(bidtime), INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
