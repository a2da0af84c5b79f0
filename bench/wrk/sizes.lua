-- sizes.lua - a stream of distinct keys of mixed sizes, for bench/membudget.sh.
--
-- Each request is a new key /mb/PREFIX-T-N?size=S&cc=max-age%3D86400 (T the
-- thread, N its count), S drawn log-uniformly from MIN..MAX bytes: as many
-- 1-2 KiB objects as 2-4 MiB ones, so that the bytes are mostly large
-- bodies and the objects mostly small ones. Every response is a miss that
-- is stored, so the cache keeps evicting. The generator is seeded with
-- SEED * 1000 + the thread's number: the same arguments give the same
-- stream every time.
--
-- Arguments (after `--`): MIN, MAX (bytes), PREFIX, SEED (default 1).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
end

local lmin, lmax, prefix, count = 0, 0, "s", 0

function init(args)
	lmin = math.log(tonumber(args[1] or "1024"))
	lmax = math.log(tonumber(args[2] or "4194304"))
	prefix = args[3] or "s"
	local seed = tonumber(args[4] or "1")
	math.randomseed(seed * 1000 + (tid or 0))
end

function request()
	count = count + 1
	local size = math.floor(math.exp(lmin + (lmax - lmin) * math.random()))
	return wrk.format("GET", string.format("/mb/%s-%d-%d?size=%d&cc=max-age%%3D86400",
		prefix, tid or 0, count, size))
end
