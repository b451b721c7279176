-- A bare SELECT (no INSERT) prints its rows like the print connector: +I[...].
CREATE TABLE people (id INT, name STRING, age INT)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

SELECT id, name, age + 1 AS next_age FROM people WHERE age > 30;
