-- Nexmark q11: bids per bidder and session (10 s gap), a legacy SESSION group window.
-- nexmark-flink writes `FROM bid B` and `B.dateTime`; the alias is left out here because
-- Weir refuses a qualified time column in SESSION(...) (a gap of Weir's, to fix).
CREATE TABLE nexmark_q11 (
    bidder BIGINT, bid_count BIGINT, starttime TIMESTAMP(3), endtime TIMESTAMP(3)
) WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q11
SELECT bidder,
       count(*) AS bid_count,
       SESSION_START(`dateTime`, INTERVAL '10' SECOND) AS starttime,
       SESSION_END(`dateTime`, INTERVAL '10' SECOND) AS endtime
FROM bid
GROUP BY bidder, SESSION(`dateTime`, INTERVAL '10' SECOND);
