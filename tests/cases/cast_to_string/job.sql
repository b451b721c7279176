-- CAST(... AS STRING) of BOOLEAN (TRUE/FALSE), DOUBLE (Java's Double.toString: 2.5, 1.0E10),
-- DECIMAL (keeps its scale), DATE and TIMESTAMP(3) (space separator, 3 fraction digits).
CREATE TABLE t (b BOOLEAN, dbl DOUBLE, m DECIMAL(4, 2), d DATE, ts TIMESTAMP(3))
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

SELECT CAST(b AS STRING), CAST(dbl AS STRING), CAST(m AS STRING), CAST(d AS STRING),
       CAST(ts AS STRING)
FROM t;
