-- DuckDB: the CSV into one table sorted by (merchant, ts), client retries
-- (same merchant, ts, id) dropped on the way in, user and session hashed to
-- UBIGINT as libtsagg does; ts is TIMESTAMP (UTC, microseconds). sqlbench.mjs
-- fills in {csv} and times this statement plus the CHECKPOINT.
CREATE TABLE events AS
SELECT DISTINCT ON (merchant, ts, id)
    ts, merchant, event, hash("user") AS "user", hash(session) AS session, id,
    page, referrer, country, device, browser, os, value
FROM read_csv('{csv}', header = true, auto_detect = false, columns = {
    'ts': 'TIMESTAMP', 'merchant': 'UINTEGER', 'event': 'VARCHAR',
    'user': 'VARCHAR', 'session': 'VARCHAR', 'id': 'UBIGINT',
    'page': 'VARCHAR', 'referrer': 'VARCHAR', 'country': 'VARCHAR',
    'device': 'VARCHAR', 'browser': 'VARCHAR', 'os': 'VARCHAR', 'value': 'DOUBLE'})
ORDER BY merchant, ts, id;
