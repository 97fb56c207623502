-- POST /api/auth/refresh, always presenting the session's CURRENT refresh token, so every
-- request is a real rotation (never a grace-window reissue, never a replay).
--
-- BENCH_TOKENS names a file with one body-delivery refresh token per line: one session per
-- connection. wrk runs the connections of a thread on one Lua state, so each thread keeps a pool
-- holding exactly one token per idle connection: a request takes a token out, its response puts
-- the rotated successor back. A connection never has two requests in flight (no pipelining), so
-- no token is ever presented twice.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
setup = common.setup
done = common.done

ok = 0
local pool = {}

function init(args)
  local threads = tonumber(os.getenv("BENCH_THREADS"))
  local i = 0
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if line ~= "" then
      if i % threads == tid - 1 then
        table.insert(pool, line)
      end
      i = i + 1
    end
  end
end

local headers = { ["Content-Type"] = "application/json" }

-- wrk (4.x) calls request() once on the first thread before any connection exists, only to
-- count pipelined requests; that call must not take a token out of the pool.
local probed = false

function request()
  if tid == 1 and not probed then
    probed = true
    return wrk.format("POST", "/api/auth/refresh", headers, '{"refresh_token":"probe"}')
  end
  -- An empty pool only happens after a failed refresh lost its token; the placeholder gets a 401
  -- that wrk reports as a status error.
  local token = table.remove(pool) or "lost"
  return wrk.format("POST", "/api/auth/refresh", headers, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if token then
      ok = ok + 1
      table.insert(pool, token)
    end
  end
end
