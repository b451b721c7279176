-- Regular joins of two append-only tables: every kind, NULL keys (never equal), a key
-- matching two rows, extra non-equality conditions in ON and an expression as key.
-- Expected final tables: expected.py runs the same queries in SQLite.
CREATE TABLE customers (cid INT, name STRING, tier STRING)
WITH ('connector' = 'filesystem', 'path' = 'customers.json', 'format' = 'json');

CREATE TABLE orders (oid INT, cid INT, amount INT)
WITH ('connector' = 'filesystem', 'path' = 'orders.json', 'format' = 'json');

SELECT o.oid, o.amount, c.name FROM orders o JOIN customers c ON o.cid = c.cid;

SELECT o.oid, c.name FROM orders o LEFT JOIN customers c ON o.cid = c.cid;

SELECT o.oid, c.name FROM orders o RIGHT JOIN customers c ON o.cid = c.cid;

SELECT o.oid, o.cid, c.cid, c.name FROM orders o FULL OUTER JOIN customers c ON o.cid = c.cid;

SELECT o.oid, c.name FROM orders o LEFT JOIN customers c
ON o.cid = c.cid AND o.amount >= 10 AND c.tier = 'gold';

SELECT o.oid, c.name FROM orders o JOIN customers c ON o.oid - 100 = c.cid;

SELECT o.oid, c.name FROM orders o FULL JOIN customers c ON o.cid = c.cid AND o.amount > 9;
