-- wrk script: every request POSTs a new run, so every request stores one (nothing is a duplicate).
--
-- Environment: BENCH_PATH (the route), BENCH_TOKEN (bearer token, may be empty), BENCH_BODY (the JSON
-- body with @RUN_ID@ where the run_id goes). Argument: a prefix unique to this load run.
-- Each wrk thread has its own Lua state and counter, so each gets its own number in the run_id.
-- done() prints one WRK_RESULT line of JSON for bench/benchlib.py to read.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

local counter = 0
local prefix, before, after, path, headers

function init(args)
  prefix = (args[1] or "wrk") .. "-t" .. thread_number .. "-"
  before, after = string.match(os.getenv("BENCH_BODY"), "^(.-)@RUN_ID@(.*)$")
  path = os.getenv("BENCH_PATH")
  headers = { ["Content-Type"] = "application/json" }
  local token = os.getenv("BENCH_TOKEN")
  if token ~= nil and token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
end

function request()
  counter = counter + 1
  return wrk.format("POST", path, headers, before .. prefix .. counter .. after)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %.0f, "p99_us": %.0f, '
      .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
