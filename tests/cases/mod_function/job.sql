-- MOD(numeric1, numeric2): the remainder, with the sign of the dividend.
CREATE TABLE t (a INT, b INT)
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

SELECT a, b, MOD(a, b) FROM t;
