-- Weir quickstart: Nexmark bids, generated in-process (no external services).
--
--   cargo run --release -p weir-cli -- run examples/quickstart.sql
--
-- One job with two sinks: bids per channel in 10-second event-time windows are
-- printed as each window closes (the watermark passes its end), and every bid converted
-- to euros (Nexmark q1) goes to a blackhole.

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

CREATE TABLE bids_per_channel (
    window_start TIMESTAMP(3),
    window_end   TIMESTAMP(3),
    channel      STRING,
    bids         BIGINT,
    top_price    BIGINT
) WITH ('connector' = 'print', 'print-identifier' = 'window');

-- The four big channels by name, the long tail as 'other'.
CREATE VIEW channel_bids AS
SELECT dateTime, price,
       CASE WHEN channel IN ('Apple', 'Google', 'Facebook', 'Baidu') THEN channel ELSE 'other' END AS channel
FROM bids;

EXECUTE STATEMENT SET BEGIN
    INSERT INTO euro_bids
    SELECT auction, bidder, CAST(0.908 * price AS DECIMAL(23, 3)), dateTime FROM bids;

    INSERT INTO bids_per_channel
    SELECT window_start, window_end, channel, COUNT(*), MAX(price)
    FROM TABLE(TUMBLE(TABLE channel_bids, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
    GROUP BY window_start, window_end, channel;
END;
