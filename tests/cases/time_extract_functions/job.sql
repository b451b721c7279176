-- HOUR, MINUTE, SECOND, DAYOFMONTH, MONTH and YEAR of a TIMESTAMP(3), and DAYOFMONTH / MONTH
-- of a DATE (leap day and year end).
CREATE TABLE t (id INT, ts TIMESTAMP(3), d DATE)
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

SELECT id, HOUR(ts), MINUTE(ts), SECOND(ts), DAYOFMONTH(ts), MONTH(ts), YEAR(ts),
       DAYOFMONTH(d), MONTH(d)
FROM t;
