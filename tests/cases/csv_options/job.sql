-- CSV source over a folder of two files with 'csv.field-delimiter' = ';' and
-- 'csv.null-literal' = 'N/A' (a quoted field may hold the delimiter); CSV sink with '|' and
-- 'NULL' as null literal.
CREATE TABLE scores (id INT, name STRING, score DOUBLE)
WITH (
  'connector' = 'filesystem', 'path' = 'in', 'format' = 'csv',
  'csv.field-delimiter' = ';', 'csv.null-literal' = 'N/A'
);

CREATE TABLE out (id INT, name STRING, score DOUBLE)
WITH (
  'connector' = 'filesystem', 'path' = 'out', 'format' = 'csv',
  'csv.field-delimiter' = '|', 'csv.null-literal' = 'NULL'
);

INSERT INTO out SELECT id, name, score FROM scores;
