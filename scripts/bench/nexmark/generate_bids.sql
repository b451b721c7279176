-- Writes Nexmark bids as JSON lines into ${WEIR_BENCH_DIR}/bids (one part file per subtask).
CREATE TABLE gen_bids (
    auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
    `dateTime` TIMESTAMP(3), extra STRING
) WITH (
    'connector' = 'nexmark',
    'weir.event-type' = 'bid',
    'events.num' = '${EVENTS}',
    'weir.base-time' = '2026-01-01 00:00:00'
);

CREATE TABLE bids_json (
    auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
    `dateTime` TIMESTAMP(3), extra STRING
) WITH ('connector' = 'filesystem', 'path' = 'data/bids', 'format' = 'json');

INSERT INTO bids_json SELECT * FROM gen_bids;
