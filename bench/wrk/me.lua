-- GET /api/me authenticated by the access cookie, exactly as a browser sends it. The request is
-- built once (no per-request Lua), so it costs wrk the same as plain.lua. BENCH_DELAY_MS > 0
-- paces each connection (for latency under a fixed, moderate load).
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
setup = common.setup
done = common.done

wrk.method = "GET"
wrk.path = "/api/me"
wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then
  function delay()
    return pause
  end
end
