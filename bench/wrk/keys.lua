-- keys.lua - a random key of N per request, for bench/disk.sh and
-- bench/restart.sh.
--
-- Key i (1..N) is /d/PREFIX-i?size=S&cc=max-age%3D86400, where S is
-- MIN + ((i * 7919) % STEPS) * 1024 and STEPS = (MAX - MIN) / 1024 + 1: the
-- same sizes bench/disk.sh's warm-up asks for (keys_urls in bench/disklib.sh
-- computes them with the same formula). Keys are drawn uniformly at random.
--
-- Arguments (after `--`): N, MIN, MAX (bytes), PREFIX.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
end

local n, min, steps, prefix = 1000, 4096, 1, "k"

function init(args)
	n = tonumber(args[1] or "1000")
	min = tonumber(args[2] or "4096")
	local max = tonumber(args[3] or tostring(min))
	steps = math.floor((max - min) / 1024) + 1
	prefix = args[4] or "k"
	math.randomseed((tid or 0) * 7919 + os.time())
end

function request()
	local i = math.random(n)
	local size = min + ((i * 7919) % steps) * 1024
	return wrk.format("GET", string.format("/d/%s-%d?size=%d&cc=max-age%%3D86400", prefix, i, size))
end
