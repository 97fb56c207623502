-- POST /api/auth/login with the bench user's correct password (a login flood; rate limiting is
-- off on the bench server). Counts 200s as `ok`.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
setup = common.setup
done = common.done

ok = 0
wrk.method = "POST"
wrk.path = "/api/auth/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_LOGIN_BODY")

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  end
end
