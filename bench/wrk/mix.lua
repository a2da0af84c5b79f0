-- mix.lua - the 90/10 hit/miss mix for bench/compare.sh.
--
-- Every 10th request of each wrk thread goes to a URL never asked before
-- (/miss?id=NONCE-THREAD-N...), which misses and is fetched from the origin;
-- the other 9 go to one of HOT cacheable URLs (/hot1 .. /hotHOT), which
-- compare.sh fetches once before measuring, so they hit. All bodies are
-- 1 KiB and cacheable for an hour.
--
-- Arguments (after `--` on the wrk command line): NONCE (makes the miss URLs
-- of this run unique across runs and servers), HOT (default 100), EVERY
-- (default 10: every EVERY-th request misses; 1 makes every request a miss,
-- compare.sh's miss test).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
end

local nonce, hot, every, n = "run", 100, 10, 0

function init(args)
	nonce = args[1] or tostring(os.time())
	hot = tonumber(args[2] or "100")
	every = tonumber(args[3] or "10")
	math.randomseed((tid or 0) * 7919 + os.time())
end

function request()
	n = n + 1
	local path
	if n % every == 0 then
		path = string.format("/miss?id=%s-%d-%d&size=1024&cc=max-age%%3D3600",
			nonce, tid or 0, n)
	else
		path = string.format("/hot%d?size=1024&cc=max-age%%3D3600", math.random(hot))
	end
	return wrk.format("GET", path)
end
