-- 'csv.ignore-parse-errors' = 'true' skips the CSV record with a non-numeric INT field and
-- keeps every other record of the folder's files.
CREATE TABLE scores (id INT, name STRING)
WITH (
  'connector' = 'filesystem', 'path' = 'in', 'format' = 'csv',
  'csv.ignore-parse-errors' = 'true'
);

SELECT id, name FROM scores;
