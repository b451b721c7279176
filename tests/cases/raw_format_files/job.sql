-- 'format' = 'raw' in files: each line is one value of the table's single column, taken as
-- is (no parsing: a line that is not JSON is fine); an empty line is NULL. Written back,
-- each value is one line.
CREATE TABLE access_log (line STRING)
WITH ('connector' = 'filesystem', 'path' = 'access.log', 'format' = 'raw');

CREATE TABLE errors (line STRING)
WITH ('connector' = 'filesystem', 'path' = 'errors', 'format' = 'raw');

SELECT line FROM access_log;

INSERT INTO errors SELECT UPPER(line) FROM access_log WHERE line LIKE '% 500 %';
