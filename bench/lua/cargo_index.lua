-- wrk script for scripts/bench-cargo.sh: GETs of Cargo sparse-index files, rotating over a
-- list of paths, with the headers cargo's sparse client sends. Every request is formatted
-- once in init(); request() only hands out the next one, so the client costs the same for
-- every server.
--
-- Arguments (after `--`): LIST MODE
--   LIST   a file with one index file per line: its path, a tab, and that server's ETag for it
--   MODE   "full": no validators (a first fetch, answered 200 with the file);
--          "revalidate": `If-None-Match: <ETag>` (cargo's check of a cached file, answered 304)
-- At the end it prints one machine-readable summary line, as bench/lua/get.lua does, with the
-- bytes read (status line, headers and bodies) so the caller can tell 200s from 304s.

local next_thread = 0

function setup(thread)
   thread:set("tid", next_thread)
   next_thread = next_thread + 1
end

local prepared = {}
local count = 0
local position = 0

function init(args)
   local list = args[1] or error("cargo_index.lua needs LIST MODE")
   local mode = args[2] or error("cargo_index.lua needs LIST MODE")
   if mode ~= "full" and mode ~= "revalidate" then
      error("cargo_index.lua: MODE is full or revalidate, not " .. mode)
   end
   for line in io.lines(list) do
      local path, etag = line:match("^([^\t]+)\t(.*)$")
      if path then
         local headers = {
            ["Host"] = wrk.headers["Host"],
            ["Accept"] = "text/plain",
            ["cargo-protocol"] = "version=1",
         }
         if mode == "revalidate" then
            headers["If-None-Match"] = etag
         end
         count = count + 1
         prepared[count] = wrk.format("GET", path, headers)
      end
   end
   if count == 0 then
      error("cargo_index.lua: no paths in " .. list)
   end
   -- The threads start at different places in the list.
   position = ((tid or 0) * 7) % count
end

function request()
   position = position % count + 1
   return prepared[position]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%.0f duration_us=%.0f bytes=%.0f p50_us=%.0f p99_us=%.0f max_us=%.0f" ..
      " connect=%.0f read=%.0f write=%.0f status=%.0f timeout=%.0f\n",
      summary.requests, summary.duration, summary.bytes, latency:percentile(50),
      latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
