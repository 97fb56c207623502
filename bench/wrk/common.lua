-- Shared by the wrk scripts: `done` prints one machine-readable line that bench/run.py parses.
-- Threads may record an `ok` counter (responses with the expected status); it is summed here.
local M = {}
M.threads = {}

function M.setup(thread)
  table.insert(M.threads, thread)
  thread:set("tid", #M.threads)
end

function M.done(summary, latency, requests)
  local ok = 0
  for _, thread in ipairs(M.threads) do
    ok = ok + (tonumber(thread:get("ok")) or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"ok":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"lat_mean_us":%.1f,"lat_p50_us":%d,' ..
    '"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d}\n',
    summary.requests, summary.duration, ok, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

return M
