-- wrk script for scripts/bench-container.sh: one static request (no Lua per request, so the
-- client costs the same against every registry) with the method, headers and path given as
-- arguments, and the machine-readable summary line of get.lua at the end.
--
-- Arguments (after `--`): METHOD PATH [AUTHORIZATION] [ACCEPT]
--   METHOD          HEAD or GET
--   PATH            e.g. /v2/bench/big/manifests/1
--   AUTHORIZATION   the whole header value ("Bearer abc", "Basic ..."), or "" for none
--   ACCEPT          an Accept header value, or "" for none

function init(args)
   wrk.method = args[1] or error("oci.lua needs METHOD PATH [AUTHORIZATION] [ACCEPT]")
   wrk.path = args[2] or error("oci.lua needs METHOD PATH [AUTHORIZATION] [ACCEPT]")
   if args[3] and args[3] ~= "" then
      wrk.headers["Authorization"] = args[3]
   end
   if args[4] and args[4] ~= "" then
      wrk.headers["Accept"] = args[4]
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%.0f duration_us=%.0f p50_us=%.0f p99_us=%.0f max_us=%.0f" ..
      " connect=%.0f read=%.0f write=%.0f status=%.0f timeout=%.0f\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
