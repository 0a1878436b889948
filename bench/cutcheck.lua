-- wrk script for bench/ingest: every 200 response's body must belong to the
-- cut its X-PREP-Cut header names ("corte" in the JSON = the cut label).
-- Counts failed (non-200) and mixed-cut responses per thread, sums them at
-- the end, and prints "cutcheck checked=N failed=N mixed=N".
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   checked, failed, mixed = 0, 0, 0
end

function response(status, headers, body)
   if status ~= 200 then
      failed = failed + 1
      return
   end
   checked = checked + 1
   local cut = headers["X-PREP-Cut"] or headers["x-prep-cut"] or ""
   local label = cut:match("label=([%w_.-]+)")
   local corte = body:match('"corte":"([%w_.-]+)"')
   if label == nil or corte == nil or label ~= corte then
      mixed = mixed + 1
   end
end

function done(summary, latency, requests)
   local c, f, m = 0, 0, 0
   for _, t in ipairs(threads) do
      c = c + t:get("checked")
      f = f + t:get("failed")
      m = m + t:get("mixed")
   end
   io.write(string.format("cutcheck checked=%d failed=%d mixed=%d\n", c, f, m))
end
