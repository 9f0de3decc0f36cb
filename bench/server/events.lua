-- /api/v1/events with 1000 NDJSON events per request (TSAGG_BENCH_KEY: the
-- ingest key).
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TSAGG_BENCH_KEY")
local lines = {}
for i = 1, 1000 do
  lines[i] = '{"ts":"2026-11-20T13:45:01.123Z","merchant":1,"event":"page_view","user":"u' .. i ..
    '","session":"s' .. (i % 100) .. '","page":"/p/' .. (i % 50) .. '","country":"DE","device":"mobile"}'
end
wrk.body = table.concat(lines, "\n")
