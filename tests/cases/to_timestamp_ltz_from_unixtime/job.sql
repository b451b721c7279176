-- With 'table.local-time-zone' = 'Asia/Kolkata' (+05:30): FROM_UNIXTIME with the default and
-- a custom pattern is local; TO_TIMESTAMP_LTZ (precision 3 and 0) prints as a UTC instant;
-- DATE_FORMAT of a TIMESTAMP_LTZ is local.
SET 'table.local-time-zone' = 'Asia/Kolkata';

CREATE TABLE events (id INT, secs BIGINT, ms BIGINT)
WITH ('connector' = 'filesystem', 'path' = 'events.json', 'format' = 'json');

SELECT id,
       FROM_UNIXTIME(secs),
       FROM_UNIXTIME(secs, 'yyyy-MM-dd HH:mm'),
       TO_TIMESTAMP_LTZ(ms, 3),
       TO_TIMESTAMP_LTZ(secs, 0),
       DATE_FORMAT(TO_TIMESTAMP_LTZ(ms, 3), 'yyyy-MM-dd HH:mm:ss.SSS')
FROM events;
