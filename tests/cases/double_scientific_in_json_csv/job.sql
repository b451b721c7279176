-- DOUBLE values written by the json and csv formats use Java's Double.toString (Jackson):
-- 1.0E10 and 1.0E-5 in scientific notation, 123.5 plain.
CREATE TABLE t (d DOUBLE)
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

CREATE TABLE j (d DOUBLE) WITH ('connector' = 'filesystem', 'path' = 'j', 'format' = 'json');

CREATE TABLE c (d DOUBLE) WITH ('connector' = 'filesystem', 'path' = 'c', 'format' = 'csv');

INSERT INTO j SELECT d FROM t;

INSERT INTO c SELECT d FROM t;
