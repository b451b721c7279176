-- TO_TIMESTAMP with the default and a Java pattern (unparsable text gives NULL), and
-- UNIX_TIMESTAMP(string[, pattern]) reading wall-clock text in the session zone
-- (Europe/Berlin: +01:00 in winter and in 1970, +02:00 in summer).
SET 'table.local-time-zone' = 'Europe/Berlin';

CREATE TABLE events (id INT, text STRING, custom STRING, wall STRING, day STRING)
WITH ('connector' = 'filesystem', 'path' = 'events.json', 'format' = 'json');

SELECT id,
       TO_TIMESTAMP(text),
       TO_TIMESTAMP(custom, 'dd/MM/yyyy HH:mm'),
       UNIX_TIMESTAMP(wall),
       UNIX_TIMESTAMP(day, 'yyyy/MM/dd')
FROM events;
