-- ClickHouse 18.16 tables. LowCardinality is experimental in this version
-- (run.sh sets allow_experimental_low_cardinality_type = 1). Per-column
-- CODECs do not exist yet: the server's <compression> section (zstd, in
-- run.sh) applies to every part.
--
-- The CSV goes into a Null table; a materialized view converts each block
-- into the stored form: ts as Int64 microseconds (DateTime has whole seconds
-- only), user and session hashed to UInt64 as libtsagg does, value 0 where
-- there is none (only purchases carry one). ReplacingMergeTree with id in
-- the sorting key drops client retries (same merchant, ts, id) when parts
-- merge; OPTIMIZE TABLE ... FINAL after the load merges everything.

CREATE TABLE events (
    ts Int64,
    merchant UInt32,
    event LowCardinality(String),
    user UInt64,
    session UInt64,
    id UInt64,
    page LowCardinality(String),
    referrer LowCardinality(String),
    country LowCardinality(String),
    device LowCardinality(String),
    browser LowCardinality(String),
    os LowCardinality(String),
    value Float64
) ENGINE = ReplacingMergeTree()
ORDER BY (merchant, ts, id);

CREATE TABLE events_in (
    ts String, merchant UInt32, event String, user String, session String, id UInt64,
    page String, referrer String, country String, device String, browser String, os String,
    value String
) ENGINE = Null;

CREATE MATERIALIZED VIEW events_mv TO events AS
SELECT
    toInt64(toUInt32(toDateTime(concat(substring(ts, 1, 10), ' ', substring(ts, 12, 8)), 'UTC'))) * 1000000
        + toInt64(substring(ts, 21, 6)) AS ts,
    merchant,
    toLowCardinality(event) AS event,
    cityHash64(user) AS user,
    cityHash64(session) AS session,
    id,
    toLowCardinality(page) AS page,
    toLowCardinality(referrer) AS referrer,
    toLowCardinality(country) AS country,
    toLowCardinality(device) AS device,
    toLowCardinality(browser) AS browser,
    toLowCardinality(os) AS os,
    toFloat64OrZero(value) AS value
FROM events_in;
