-- Weir quickstart: Nexmark bids, generated in-process (no external services).
--
--   cargo run --release -p weir-cli -- run examples/quickstart.sql
--
-- One job with two sinks: every bid converted to euros (Nexmark q1) goes to a
-- blackhole, and the rare big bids are printed.

SET 'parallelism.default' = '2';

CREATE TABLE bids (
    auction  BIGINT,
    bidder   BIGINT,
    price    BIGINT,
    channel  STRING,
    url      STRING,
    dateTime TIMESTAMP(3),
    extra    STRING,
    WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH (
    'connector' = 'nexmark',
    'weir.event-type' = 'bid',
    'events.num' = '2000000',
    'weir.base-time' = '2026-01-01 00:00:00'
);

CREATE TABLE euro_bids (
    auction BIGINT,
    bidder  BIGINT,
    price   DECIMAL(23, 3),
    dateTime TIMESTAMP(3)
) WITH ('connector' = 'blackhole');

CREATE TABLE big_bids (
    auction BIGINT,
    bidder  BIGINT,
    price   BIGINT,
    channel STRING,
    bid_time STRING
) WITH ('connector' = 'print', 'print-identifier' = 'big');

EXECUTE STATEMENT SET BEGIN
    INSERT INTO euro_bids
    SELECT auction, bidder, CAST(0.908 * price AS DECIMAL(23, 3)), dateTime FROM bids;

    INSERT INTO big_bids
    SELECT auction, bidder, price, channel, DATE_FORMAT(dateTime, 'yyyy-MM-dd HH:mm:ss.SSS')
    FROM bids
    WHERE price > 99990000;
END;
