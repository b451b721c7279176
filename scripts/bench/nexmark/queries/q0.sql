-- Nexmark q0: pass-through.
CREATE TABLE discard_sink (
    auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
    `dateTime` TIMESTAMP(3), extra STRING
) WITH ('connector' = 'blackhole');
INSERT INTO discard_sink SELECT auction, bidder, price, channel, url, `dateTime`, extra FROM bid;
