-- A GET of wrk's URL with no per-request Lua (GET /api/health); only the report.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
setup = common.setup
done = common.done
