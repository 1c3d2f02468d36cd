-- wrk script for the small-upload scenario: every request PUTs a new 1 KiB file with its own
-- content to its own version, so the server really stores a new file each time instead of
-- answering 409 or deduplicating.
--
-- Arguments (after `--`): the path prefix, e.g. /api/packages/bench/generic/p4/r1 or
-- /dav/p4/r1, and optionally a token sent as `Authorization: token <T>`.
-- Request paths are <prefix>-<thread>-<counter>/f.bin. wrk gives every thread its own Lua
-- state, so the counter is per thread and the thread number makes it unique across threads;
-- all connections of a thread draw from the same counter, so no two requests share a path.

local next_thread = 0

function setup(thread)
   thread:set("tid", next_thread)
   next_thread = next_thread + 1
end

local prefix
local headers = {}
local counter = 0
local filler = string.rep("0123456789abcdef", 64)

function init(args)
   prefix = args[1] or error("put.lua needs the path prefix as its first argument")
   if args[2] and args[2] ~= "" then
      headers["Authorization"] = "token " .. args[2]
   end
end

function request()
   counter = counter + 1
   local id = tid .. "-" .. counter
   local body = string.sub(id .. "\n" .. filler, 1, 1024)
   return wrk.format("PUT", prefix .. "-" .. id .. "/f.bin", headers, body)
end

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
