-- zipf.lua - keys drawn from a Zipf distribution, for bench/cluster.sh.
--
-- Key i (1..N) is /d/PREFIX-i?size=S&cc=max-age%3D86400, with the sizes of
-- bench/wrk/keys.lua (S = MIN + ((i * 7919) % STEPS) * 1024, STEPS =
-- (MAX - MIN) / 1024 + 1; keys_urls in bench/disklib.sh asks for the same).
-- Key i is drawn with probability proportional to 1 / i^S (S = 0: uniform),
-- by a binary search of the cumulative distribution built once per thread.
-- The generator is seeded with SEED * 1000 + the thread's number, nothing
-- else: the same arguments give the same key sequence every time.
--
-- Arguments (after `--`): N, MIN, MAX (bytes), PREFIX, S (default 0.95),
-- SEED (default 1).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
end

local n, min, steps, prefix = 1000, 4096, 1, "k"
local cdf = {}

function init(args)
	n = tonumber(args[1] or "1000")
	min = tonumber(args[2] or "4096")
	local max = tonumber(args[3] or tostring(min))
	steps = math.floor((max - min) / 1024) + 1
	prefix = args[4] or "k"
	local s = tonumber(args[5] or "0.95")
	local seed = tonumber(args[6] or "1")
	local total = 0
	for i = 1, n do
		total = total + i ^ -s
		cdf[i] = total
	end
	for i = 1, n do cdf[i] = cdf[i] / total end
	cdf[n] = 1
	math.randomseed(seed * 1000 + (tid or 0))
end

local function draw()
	local u = math.random()
	local lo, hi = 1, n
	while lo < hi do
		local mid = math.floor((lo + hi) / 2)
		if cdf[mid] < u then lo = mid + 1 else hi = mid end
	end
	return lo
end

function request()
	local i = draw()
	local size = min + ((i * 7919) % steps) * 1024
	return wrk.format("GET", string.format("/d/%s-%d?size=%d&cc=max-age%%3D86400", prefix, i, size))
end
