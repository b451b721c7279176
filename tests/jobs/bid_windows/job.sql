-- Bids arrive from two channels, web (JSON) and shop (CSV); each auction's bids are
-- counted and summed per 10-second window of bid time. The test cases beside this file
-- (job.tests/) script the arrival order of the two sources and their watermarks.
CREATE TABLE web_bids (
    auction BIGINT,
    price INT,
    bidtime TIMESTAMP(3),
    WATERMARK FOR bidtime AS bidtime - INTERVAL '2' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'data/web_bids.json', 'format' = 'json');

CREATE TABLE shop_bids (
    auction BIGINT,
    cents INT,
    bidtime TIMESTAMP(3),
    price AS cents / 100,
    WATERMARK FOR bidtime AS bidtime - INTERVAL '2' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'data/shop_bids.csv', 'format' = 'csv');

CREATE TABLE auction_totals (
    auction BIGINT,
    window_start TIMESTAMP(3),
    window_end TIMESTAMP(3),
    bids BIGINT,
    total BIGINT
) WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'json');

CREATE VIEW all_bids AS
SELECT auction, price, bidtime FROM web_bids
UNION ALL
SELECT auction, price, bidtime FROM shop_bids;

INSERT INTO auction_totals
SELECT auction, window_start, window_end, COUNT(*), SUM(price)
FROM TABLE(TUMBLE(TABLE all_bids, DESCRIPTOR(bidtime), INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
