-- SELECT from an inline VALUES table with column aliases, with a filter and arithmetic.
SELECT name, n * 2 AS doubled
FROM (VALUES ('a', 1), ('b', 2), ('c', 3)) AS t(name, n)
WHERE n <> 2;
