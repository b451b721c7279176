-- SET 'table.local-time-zone' (quoted key and value) applies to the statements after it:
-- the same FROM_UNIXTIME is rendered in Asia/Shanghai, then in America/New_York (with DST).
SET 'table.local-time-zone' = 'Asia/Shanghai';

CREATE TABLE events (id INT, secs BIGINT)
WITH ('connector' = 'filesystem', 'path' = 'events.json', 'format' = 'json');

CREATE TABLE out (zone STRING, id INT, local_time STRING) WITH ('connector' = 'print');

INSERT INTO out SELECT 'shanghai', id, FROM_UNIXTIME(secs) FROM events;

SET 'table.local-time-zone' = 'America/New_York';

INSERT INTO out SELECT 'new_york', id, FROM_UNIXTIME(secs) FROM events;
