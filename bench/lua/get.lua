-- wrk script for the download scenarios: the request is wrk's own static GET (no Lua per
-- request, so the client costs the same for our server and for nginx); at the end it prints
-- one machine-readable summary line for scripts/bench.sh.

function done(summary, latency, requests)
   local e = summary.errors
   -- wrk counts a timeout when a request is still unanswered after 2 s; the request goes on,
   -- so timeouts are reported apart from failures.
   io.write(string.format(
      "BENCH requests=%.0f duration_us=%.0f p50_us=%.0f p99_us=%.0f max_us=%.0f" ..
      " connect=%.0f read=%.0f write=%.0f status=%.0f timeout=%.0f\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
