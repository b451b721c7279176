-- 'csv.ignore-parse-errors' = 'true': the non-numeric INT field becomes NULL and its record
-- is kept, as Flink documents; every other record of the folder's files is read as usual.
CREATE TABLE scores (id INT, name STRING)
WITH (
  'connector' = 'filesystem', 'path' = 'in', 'format' = 'csv',
  'csv.ignore-parse-errors' = 'true'
);

SELECT id, name FROM scores;
