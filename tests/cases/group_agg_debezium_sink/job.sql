-- An updating result written as a Debezium changelog: -U rows become deletes ("op":"d")
-- and +U rows creates ("op":"c"), as Flink's debezium-json format writes them.
CREATE TABLE orders (id INT, region STRING, amount INT)
WITH ('connector' = 'filesystem', 'path' = 'orders', 'format' = 'json');

CREATE TABLE totals (region STRING, total BIGINT)
WITH ('connector' = 'filesystem', 'path' = 'totals', 'format' = 'debezium-json');

INSERT INTO totals SELECT region, SUM(amount) FROM orders GROUP BY region;
