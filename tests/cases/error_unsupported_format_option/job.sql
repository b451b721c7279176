-- A misspelt format option ('json.ignore-parse-error') is refused at its CREATE TABLE,
-- listing the options of the format.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json',
      'json.ignore-parse-error' = 'true');

SELECT id FROM people;
