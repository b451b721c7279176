-- As in Flink, a SESSION aggregation groups by exactly the session's PARTITION BY columns.
CREATE TABLE Bid (
    bidtime TIMESTAMP(3),
    item STRING,
    price INT,
    WATERMARK FOR bidtime AS bidtime - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

SELECT window_start, window_end, item, SUM(price) AS total_price
FROM TABLE(SESSION(TABLE Bid, DESCRIPTOR(bidtime), INTERVAL '5' MINUTES))
GROUP BY item, window_start, window_end;
