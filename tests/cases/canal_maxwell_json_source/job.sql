-- Changelogs of Canal and Maxwell read from files ('format' = 'canal-json' / 'maxwell-json'),
-- as Flink reads them: an UPDATE gives -U of "old" (its missing fields taken from "data")
-- and +U of "data"; Canal's DDL messages and, with 'canal-json.table.include', other
-- tables' messages give nothing.
CREATE TABLE canal_products (id BIGINT, name STRING, weight DECIMAL(10, 2))
WITH ('connector' = 'filesystem', 'path' = 'canal.json', 'format' = 'canal-json',
      'canal-json.table.include' = 'products');

CREATE TABLE maxwell_products (id BIGINT, name STRING, weight DECIMAL(10, 2))
WITH ('connector' = 'filesystem', 'path' = 'maxwell.json', 'format' = 'maxwell-json');

SELECT id, name, weight FROM canal_products;

SELECT id, name, weight FROM maxwell_products;
