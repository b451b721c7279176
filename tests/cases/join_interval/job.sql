-- Interval joins on event time: clicks within 10 seconds after an impression of the
-- same ad. Out-of-order and late rows (see job.tests/): a row joins what is still in
-- state, state is cleaned as the watermark passes (Flink's cleanup timers), outer joins
-- emit a row padded once it can no longer match. Output is append-only.
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
ON i.ad = c.ad AND c.cts BETWEEN i.its AND i.its + INTERVAL '10' SECOND;

SELECT i.ad, i.its, c.cts
FROM impressions i LEFT JOIN clicks c
ON i.ad = c.ad AND c.cts >= i.its AND c.cts <= i.its + INTERVAL '10' SECOND;

SELECT i.ad, i.its, c.ad, c.cts
FROM impressions i FULL JOIN clicks c
ON i.ad = c.ad AND c.cts BETWEEN i.its AND i.its + INTERVAL '10' SECOND;
