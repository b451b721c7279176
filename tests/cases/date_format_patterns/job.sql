-- DATE_FORMAT with Java patterns (separators, milliseconds, quoted literal 'T', two-digit
-- year, day of year) on a TIMESTAMP(3), and on a string in the default format.
CREATE TABLE events (id INT, ts TIMESTAMP(3), text STRING)
WITH ('connector' = 'filesystem', 'path' = 'events.json', 'format' = 'json');

SELECT id,
       DATE_FORMAT(ts, 'yyyy/MM/dd'),
       DATE_FORMAT(ts, 'HH:mm:ss.SSS'),
       DATE_FORMAT(ts, 'yyyyMMdd'),
       DATE_FORMAT(ts, 'yyyy-MM-dd''T''HH:mm'),
       DATE_FORMAT(ts, 'dd.MM.yy'),
       DATE_FORMAT(ts, 'D'),
       DATE_FORMAT(text, 'MM/dd/yyyy')
FROM events;
