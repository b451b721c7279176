-- An unknown connector is reported at its CREATE TABLE, with the connectors there are.
CREATE TABLE src (id INT) WITH ('connector' = 'kafkaa');

SELECT id FROM src;
