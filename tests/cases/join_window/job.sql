-- Window joins of page views and purchases per user in 10-second windows of event time.
-- Rows come out of order and some late (see job.tests/): a window's rows wait until the
-- watermark (the smaller of the two inputs') passes its end, then are joined and
-- emitted at once; rows of a window that already fired are dropped. Output is
-- append-only; outer joins pad unmatched rows with NULLs.
CREATE TABLE views (
    uid INT, page STRING, vts TIMESTAMP(3),
    WATERMARK FOR vts AS vts - INTERVAL '2' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'views.json', 'format' = 'json');

CREATE TABLE buys (
    uid INT, item STRING, bts TIMESTAMP(3),
    WATERMARK FOR bts AS bts - INTERVAL '2' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'buys.json', 'format' = 'json');

SELECT v.uid, v.page, b.item, v.window_start, v.window_end
FROM (SELECT * FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(vts), INTERVAL '10' SECOND))) v
JOIN (SELECT * FROM TABLE(TUMBLE(TABLE buys, DESCRIPTOR(bts), INTERVAL '10' SECOND))) b
ON v.uid = b.uid AND v.window_start = b.window_start AND v.window_end = b.window_end;

SELECT v.uid, v.page, b.item, v.window_start, b.window_end
FROM (SELECT * FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(vts), INTERVAL '10' SECOND))) v
LEFT JOIN (SELECT * FROM TABLE(TUMBLE(TABLE buys, DESCRIPTOR(bts), INTERVAL '10' SECOND))) b
ON v.uid = b.uid AND v.window_start = b.window_start AND v.window_end = b.window_end;

SELECT v.uid, v.page, b.uid, b.item,
       COALESCE(v.window_start, b.window_start) AS window_start,
       COALESCE(v.window_end, b.window_end) AS window_end
FROM (SELECT * FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(vts), INTERVAL '10' SECOND))) v
FULL JOIN (SELECT * FROM TABLE(TUMBLE(TABLE buys, DESCRIPTOR(bts), INTERVAL '10' SECOND))) b
ON v.uid = b.uid AND v.window_start = b.window_start AND v.window_end = b.window_end;

-- HOP windows (10 s, every 5 s): a row joins in each window it belongs to, and is late
-- only for the windows that already fired.
SELECT v.uid, v.page, b.item, v.window_start, v.window_end
FROM (SELECT * FROM TABLE(HOP(TABLE views, DESCRIPTOR(vts), INTERVAL '5' SECOND, INTERVAL '10' SECOND))) v
JOIN (SELECT * FROM TABLE(HOP(TABLE buys, DESCRIPTOR(bts), INTERVAL '5' SECOND, INTERVAL '10' SECOND))) b
ON v.uid = b.uid AND v.window_start = b.window_start AND v.window_end = b.window_end;
