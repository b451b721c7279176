-- Interval joins over files read at any parallelism: rows are out of order by less than
-- the 5 s watermark delay, so none is late and the results are the batch query's
-- (expected.py computes them with SQLite, and writes the input files).
CREATE TABLE impressions (
    ad INT, its TIMESTAMP(3),
    WATERMARK FOR its AS its - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'impressions.json', 'format' = 'json');

CREATE TABLE clicks (
    ad INT, cts TIMESTAMP(3),
    WATERMARK FOR cts AS cts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'clicks.json', 'format' = 'json');

SELECT i.ad, i.its, c.cts
FROM impressions i JOIN clicks c
ON i.ad = c.ad AND c.cts BETWEEN i.its - INTERVAL '2' SECOND AND i.its + INTERVAL '6' SECOND;

SELECT i.ad, i.its, c.ad, c.cts
FROM impressions i FULL JOIN clicks c
ON i.ad = c.ad AND i.its - INTERVAL '2' SECOND <= c.cts AND c.cts <= i.its + INTERVAL '6' SECOND;
