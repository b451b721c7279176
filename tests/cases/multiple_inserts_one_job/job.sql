-- Several INSERT statements in one script run as one job reading the same table: a JSON
-- folder, a CSV folder and a print sink each get their rows.
CREATE TABLE orders (id INT, amount INT, customer STRING)
WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

CREATE TABLE big (id INT, customer STRING)
WITH ('connector' = 'filesystem', 'path' = 'big', 'format' = 'json');

CREATE TABLE small (id INT, amount INT)
WITH ('connector' = 'filesystem', 'path' = 'small', 'format' = 'csv');

CREATE TABLE everything (id INT, amount INT, customer STRING) WITH ('connector' = 'print');

INSERT INTO big SELECT id, customer FROM orders WHERE amount >= 100;

INSERT INTO small SELECT id, amount FROM orders WHERE amount < 100;

INSERT INTO everything SELECT * FROM orders;
