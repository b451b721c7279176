-- An unbounded GROUP BY (an updating aggregation) is not supported yet: refused at the statement.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

SELECT name, COUNT(*) FROM people GROUP BY name;
