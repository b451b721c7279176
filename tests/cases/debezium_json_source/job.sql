-- A Debezium changelog read from a file ('format' = 'debezium-json'): an updating source
-- (c/r -> +I, u -> -U and +U, d -> -D). Its final table is checked as printed, and the
-- changelog is written back as Debezium envelopes. A malformed envelope is skipped with
-- 'debezium-json.ignore-parse-errors'; Kafka Connect's "schema"/"payload" envelopes are
-- read with 'debezium-json.schema-include'. expected.py applies the changes in Python.
CREATE TABLE products (
    id INT, name STRING, price DOUBLE,
    PRIMARY KEY (id) NOT ENFORCED
) WITH ('connector' = 'filesystem', 'path' = 'products.json', 'format' = 'debezium-json',
        'debezium-json.ignore-parse-errors' = 'true');

CREATE TABLE products_payload (
    id INT, name STRING, price DOUBLE
) WITH ('connector' = 'filesystem', 'path' = 'products_payload.json',
        'format' = 'debezium-json', 'debezium-json.schema-include' = 'true');

CREATE TABLE copy (id INT, name STRING, price DOUBLE)
WITH ('connector' = 'filesystem', 'path' = 'copy', 'format' = 'debezium-json');

SELECT id, name, price FROM products;

SELECT id, UPPER(name) AS name FROM products_payload WHERE price > 1;

INSERT INTO copy SELECT * FROM products;
