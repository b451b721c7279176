-- CAST between types: STRING to INT/DATE/TIMESTAMP(3)/BOOLEAN, INT to STRING/DECIMAL,
-- DECIMAL to INT (truncates toward zero) and to a smaller scale (rounds half up),
-- DOUBLE to BIGINT (truncates), DATE to TIMESTAMP(3).
CREATE TABLE t (
  s_int STRING, n INT, dec1 DECIMAL(3, 1), s_date STRING, dec2 DECIMAL(4, 2), dbl DOUBLE,
  s_ts STRING, d DATE, s_bool STRING
) WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

SELECT CAST(s_int AS INT),
       CAST(n AS STRING),
       CAST(dec1 AS INT),
       CAST(s_date AS DATE),
       CAST(dec2 AS DECIMAL(5, 1)),
       CAST(dbl AS BIGINT),
       CAST(n AS DECIMAL(4, 2)) AS n_dec,
       CAST(s_ts AS TIMESTAMP(3)),
       CAST(d AS TIMESTAMP(3)),
       CAST(s_bool AS BOOLEAN)
FROM t;
