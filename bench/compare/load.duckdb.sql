-- DuckDB: the CSV into one table sorted by (merchant, ts), client retries
-- (same merchant, ts, id) dropped on the way in, user and session hashed to
-- UBIGINT as libtsagg does; ts is TIMESTAMP (UTC, microseconds). sqlbench.mjs
-- fills in {csv} and times this statement plus the CHECKPOINT.
-- The ids are the upper 64 bits of their MD5: DuckDB's hash() is made for
-- hash tables, and gave two session ids of the 30-day data
-- (s-190-7958-55433 and s-190-7058-55438) one value, merging two visits.
CREATE TABLE events AS
SELECT DISTINCT ON (merchant, ts, id)
    ts, merchant, event, CAST(md5_number("user") >> 64 AS UBIGINT) AS "user",
    CAST(md5_number(session) >> 64 AS UBIGINT) AS session, id,
    page, referrer, country, device, browser, os, value
FROM read_csv('{csv}', header = true, auto_detect = false, columns = {
    'ts': 'TIMESTAMP', 'merchant': 'UINTEGER', 'event': 'VARCHAR',
    'user': 'VARCHAR', 'session': 'VARCHAR', 'id': 'UBIGINT',
    'page': 'VARCHAR', 'referrer': 'VARCHAR', 'country': 'VARCHAR',
    'device': 'VARCHAR', 'browser': 'VARCHAR', 'os': 'VARCHAR', 'value': 'DOUBLE'})
ORDER BY merchant, ts, id;
