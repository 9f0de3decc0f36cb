-- The dashboard's commonest question: page views per hour over a week,
-- then top pages (TSAGG_BENCH_KEY: the query key).
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TSAGG_BENCH_KEY")
local bodies = {
  '{"site_id": 2, "metrics": ["count", "users"], "date_range": "7d", "interval": "hour", "filters": [["is", "event", ["page_view"]]]}',
  '{"site_id": 2, "metrics": ["count"], "date_range": "7d", "dimensions": ["page"], "limit": 10}',
}
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[n % 2 + 1])
end
