-- Window aggregations over the output of a window aggregation of the same window
-- (Flink's cascading, "window-attached" aggregation): window_start and window_end of a
-- window aggregation, renamed or not, are still its window, so GROUP BY both over them is
-- a window aggregation (append-only, fired when the watermark passes window_end) and a
-- join equating both bounds of two such inputs is a window join (Nexmark q5's shape).
-- Rows come out of order; after 10:00:12 (watermark 10:00:11) the row at 10:00:08 is late
-- for the windows ending at 10:00:10 (it still counts in HOP windows that end later).
SET 'pipeline.auto-watermark-interval' = '0';

CREATE TABLE bids (
    ts TIMESTAMP(3),
    auction INT,
    bidder STRING,
    WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'bids.json', 'format' = 'json');

-- TUMBLE: bids per auction and bidder, then per auction the number of bidders and the
-- most bids by one bidder.
SELECT window_start, window_end, auction, COUNT(*) AS bidders, MAX(cnt) AS top
FROM (
  SELECT auction, bidder, COUNT(*) AS cnt, window_start, window_end
  FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
  GROUP BY auction, bidder, window_start, window_end
)
GROUP BY window_start, window_end, auction;

-- HOP (10 s every 5 s), with the window columns renamed: the most bids on one auction,
-- the auctions and the bids per window.
SELECT starttime, endtime, MAX(num) AS maxn, COUNT(*) AS auctions, SUM(num) AS bids
FROM (
  SELECT auction, COUNT(*) AS num, window_start AS starttime, window_end AS endtime
  FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND))
  GROUP BY auction, window_start, window_end
) AS c
GROUP BY starttime, endtime;

-- Nexmark q5's shape: the auctions with the most bids of each window.
SELECT a.auction, a.num, a.starttime, a.endtime
FROM (
  SELECT auction, COUNT(*) AS num, window_start AS starttime, window_end AS endtime
  FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND))
  GROUP BY auction, window_start, window_end
) AS a
JOIN (
  SELECT MAX(c.num) AS maxn, c.starttime, c.endtime
  FROM (
    SELECT COUNT(*) AS num, window_start AS starttime, window_end AS endtime
    FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND))
    GROUP BY auction, window_start, window_end
  ) AS c
  GROUP BY c.starttime, c.endtime
) AS m
ON a.starttime = m.starttime AND a.endtime = m.endtime AND a.num >= m.maxn;

-- Flink's documented cascading: GROUP BY window_time too, and window the first
-- aggregation's window_time (its rowtime, window_end - 1 ms) again. 5 s windows per
-- auction (the row at 10:00:08 is late for [10:00:05, 10:00:10)), then 10 s windows.
CREATE VIEW window1 AS
SELECT window_start AS ws, window_end AS we, window_time AS rowtime, auction, COUNT(*) AS n
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '5' SECOND))
GROUP BY auction, window_start, window_end, window_time;

SELECT ws, we, rowtime, auction, n FROM window1;

SELECT window_start, window_end, SUM(n) AS total, COUNT(*) AS parts
FROM TABLE(TUMBLE(TABLE window1, DESCRIPTOR(rowtime), INTERVAL '10' SECOND))
GROUP BY window_start, window_end;

-- Window Top-N and deduplication keep the window too: a GROUP BY window_start,
-- window_end over their rows is a window aggregation (one final row per window).
SELECT window_start, window_end, SUM(cnt) AS top_bids, COUNT(*) AS n
FROM (
  SELECT * FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY cnt DESC) AS rn
    FROM (
      SELECT auction, COUNT(*) AS cnt, window_start, window_end
      FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
      GROUP BY auction, window_start, window_end))
  WHERE rn <= 1)
GROUP BY window_start, window_end;

SELECT window_start, window_end, COUNT(*) AS firsts, MIN(auction) AS a
FROM (
  SELECT * FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, auction ORDER BY ts) AS rn
    FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND)))
  WHERE rn = 1)
GROUP BY window_start, window_end;

-- A window deduplication joined with a window aggregation of the same window: a window
-- join (the first bid of each auction per window, with the auction's bids there).
SELECT f.auction, f.bidder, c.n, f.window_start
FROM (SELECT * FROM (
        SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, auction ORDER BY ts) AS rn
        FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND)))
      WHERE rn = 1) f
JOIN (SELECT auction, COUNT(*) AS n, window_start, window_end
      FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
      GROUP BY auction, window_start, window_end) c
ON f.auction = c.auction AND f.window_start = c.window_start AND f.window_end = c.window_end;
