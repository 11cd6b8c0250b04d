-- wrk script of bench/throughput.py: each request is a random line of a file of paths
-- (wrk ... -s throughput.lua -- PATHS_FILE [COOKIE]); at the end it prints one JSON line.
local paths = {}
local cookie = nil

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  if args[2] and #args[2] > 0 then cookie = args[2] end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
  local headers = {}
  if cookie then headers["Cookie"] = cookie end
  return wrk.format("GET", paths[math.random(#paths)], headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_ms": %.1f, "p95_ms": %.1f, "p99_ms": %.1f, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
