-- A CSV record with a non-numeric INT field, in the second file of a source folder, fails the
-- job; the error names that file (path inside the folder) and its line (2).
CREATE TABLE scores (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'in', 'format' = 'csv');

SELECT id, name FROM scores;
