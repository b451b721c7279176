-- A call of a function that does not exist is refused at the call, with its name.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

SELECT id, foo_bar(name) FROM people;
