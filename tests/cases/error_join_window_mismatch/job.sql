-- A window join needs the same window on both inputs: refused, naming both windows.
CREATE TABLE views (uid INT, vts TIMESTAMP(3), WATERMARK FOR vts AS vts - INTERVAL '2' SECOND)
WITH ('connector' = 'filesystem', 'path' = 'views.json', 'format' = 'json');

CREATE TABLE buys (uid INT, bts TIMESTAMP(3), WATERMARK FOR bts AS bts - INTERVAL '2' SECOND)
WITH ('connector' = 'filesystem', 'path' = 'buys.json', 'format' = 'json');

SELECT v.uid, v.window_start
FROM (SELECT * FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(vts), INTERVAL '10' SECOND))) v
JOIN (SELECT * FROM TABLE(HOP(TABLE buys, DESCRIPTOR(bts), INTERVAL '5' SECOND, INTERVAL '10' SECOND))) b
ON v.uid = b.uid AND v.window_start = b.window_start AND v.window_end = b.window_end;
