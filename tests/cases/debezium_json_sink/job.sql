-- An append-only stream written with the debezium-json format: every row is a create
-- envelope {"before":null,"after":{...},"op":"c"}.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

CREATE TABLE changes (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'changes', 'format' = 'debezium-json');

INSERT INTO changes SELECT id, UPPER(name) FROM people;
