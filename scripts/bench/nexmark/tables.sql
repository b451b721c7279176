-- The three Nexmark tables read from JSON-lines folders written by generate.sql
-- (${DATA} is replaced by the data folder). Columns and watermarks are nexmark-flink's
-- (its `datagen` table and `person`/`auction`/`bid` views, flattened into one table per
-- event kind): `WATERMARK ... - INTERVAL '4' SECOND` on every table.
-- `dateTime` is quoted everywhere: DATETIME is a reserved word of Flink 2.
CREATE TABLE person (
    id BIGINT, name STRING, emailAddress STRING, creditCard STRING, city STRING,
    state STRING, `dateTime` TIMESTAMP(3), extra STRING,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH ('connector' = 'filesystem', 'path' = '${DATA}/person', 'format' = 'json');

CREATE TABLE auction (
    id BIGINT, itemName STRING, description STRING, initialBid BIGINT, reserve BIGINT,
    `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT,
    extra STRING,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH ('connector' = 'filesystem', 'path' = '${DATA}/auction', 'format' = 'json');

CREATE TABLE bid (
    auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
    `dateTime` TIMESTAMP(3), extra STRING,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH ('connector' = 'filesystem', 'path' = '${DATA}/bid', 'format' = 'json');
