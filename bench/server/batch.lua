-- Universal Analytics batches of 20 page views.
wrk.method = "POST"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
local hits = {}
for i = 1, 20 do
  hits[i] = "v=1&tid=UA-1-1&cid=" .. i .. "&t=pageview&dp=%2Fp%2F" .. i
end
wrk.body = table.concat(hits, "\n")
