-- One Plausible pageview per request, each with its own page.
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil,
    '{"n":"pageview","u":"https://bench.example/p/' .. (n % 1000) .. '","d":"bench.example","r":"https://news.example/"}')
end
