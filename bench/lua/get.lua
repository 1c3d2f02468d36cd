-- wrk script for the download scenarios: the request is wrk's own static GET (no Lua per
-- request, so the client costs the same for our server and for nginx); at the end it prints
-- one machine-readable summary line for scripts/bench.sh.

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%.0f duration_us=%.0f p50_us=%.0f p99_us=%.0f errors=%.0f status_errors=%.0f\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      e.connect + e.read + e.write + e.timeout + e.status, e.status))
end
