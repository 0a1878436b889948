-- wrk script for bench/stats: 20,000 visitors in turn, each request from
-- one of them (X-Forwarded-For; bench/stats trusts 127.0.0.1), with one of
-- 3 user agents and 5 referring portals, over a page, a single-page route
-- (the index.html fallback), the JSON poll and the bundle.
local paths = { "/", "/entidad/jalisco", "/assets/json/nacional.json",
                "/main.0123456789abcdef.js" }
local agents = {
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
}
local referers = { "https://portal1.example.mx/", "https://portal2.example.mx/elecciones",
                   "https://noticias.example.com/", "https://radio.example.org/prep",
                   "https://tv.example.net/" }
local n = 0

request = function()
  n = n + 1
  local v = n % 20000
  local ip = string.format("10.%d.%d.%d", math.floor(v / 65536), math.floor(v / 256) % 256, v % 256)
  local h = {
    ["X-Forwarded-For"] = ip,
    ["User-Agent"] = agents[v % #agents + 1],
    ["Referer"] = referers[v % #referers + 1],
  }
  return wrk.format("GET", paths[n % #paths + 1], h)
end
