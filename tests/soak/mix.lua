-- mix.lua - the soak's mixed load for wrk (tests/soak/run.sh).
--
-- Each request is drawn at random (weights out of 100):
--   40  hit:        one of 50 hot cacheable 4 KiB text objects, identity
--   15  compressed: the same hot objects with Accept-Encoding br/zstd/gzip
--   20  rotating:   8-32 KiB objects from a key space of 8000 keys (about
--                   160 MiB, five times the soak's 32 MiB cache, so they
--                   mostly miss and keep the cache evicting); half of them
--                   ask for gzip
--   10  pass:       POST /echo with a 1..16 KiB body, never cached
--    5  not found:  404 answers from the origin (100 keys)
--    5  slow:       the origin waits 100..400 ms before answering
--    3  big:        128 KiB text objects, cached 20 s, half with br
--    2  drip:       chunked bodies the origin drips out 20 ms per chunk
--
-- Statuses are counted per thread and summed in done(), which prints one
-- line "SOAKJSON {...}" with wrk's own socket error counters next to them.
-- (wrk itself counts any status >= 400 as an error, 404s included, which
-- is why the 5xx are counted here.)
-- Argument (after `--`): RUNID, which makes this run's keys its own.

local threads = {}
local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
	table.insert(threads, thread)
end

local runid, n = "soak", 0
local codings = {"br", "zstd", "gzip", "br, gzip"}
local body = string.rep("0123456789abcdefghijklmnopqrstuvwxyz\n", 443) -- 16391 bytes

s2xx, s3xx, s404, s4xx, s5xx, other = 0, 0, 0, 0, 0, 0

function init(args)
	runid = args[1] or runid
	math.randomseed((tid or 1) * 7919 + os.time())
end

local function hot(ae)
	local path = string.format("/hot/%s/%d?size=4096&words=1&cc=max-age%%3D3600", runid,
		math.random(50))
	if ae then
		return wrk.format("GET", path, {["Accept-Encoding"] = codings[math.random(#codings)]})
	end
	return wrk.format("GET", path)
end

function request()
	n = n + 1
	local r = math.random(100)
	if r <= 40 then
		return hot(false)
	elseif r <= 55 then
		return hot(true)
	elseif r <= 75 then
		local key = (n * 7 + (tid or 1) * 1009) % 8000
		local path = string.format("/rot/%s/%d?size=%d&words=1&cc=max-age%%3D60", runid, key,
			8192 * (1 + key % 4))
		if key % 2 == 0 then
			return wrk.format("GET", path, {["Accept-Encoding"] = "gzip"})
		end
		return wrk.format("GET", path)
	elseif r <= 85 then
		local len = math.random(1024, 16384)
		return wrk.format("POST", "/echo?n=" .. n, {["Content-Type"] = "text/plain"},
			body:sub(1, len))
	elseif r <= 90 then
		return wrk.format("GET", string.format("/nope/%d?status=404", math.random(100)))
	elseif r <= 95 then
		return wrk.format("GET", string.format("/slow/%d?delay=%d&size=1024", n,
			100 + math.random(0, 300)))
	elseif r <= 98 then
		local path = string.format("/big/%s/%d?size=131072&words=1&cc=max-age%%3D20", runid,
			math.random(40))
		if r == 98 then
			return wrk.format("GET", path, {["Accept-Encoding"] = "br"})
		end
		return wrk.format("GET", path)
	else
		return wrk.format("GET", string.format(
			"/drip/%d?chunked=1&chunk=1024&size=8192&drip=20", n))
	end
end

function response(status, headers, body)
	if status == 404 then
		s404 = s404 + 1
	elseif status >= 500 then
		s5xx = s5xx + 1
	elseif status >= 400 then
		s4xx = s4xx + 1
	elseif status >= 300 then
		s3xx = s3xx + 1
	elseif status >= 200 then
		s2xx = s2xx + 1
	else
		other = other + 1
	end
end

function done(summary, latency, requests)
	local t = {s2xx = 0, s3xx = 0, s404 = 0, s4xx = 0, s5xx = 0, other = 0}
	for _, thread in ipairs(threads) do
		for k, _ in pairs(t) do
			t[k] = t[k] + (thread:get(k) or 0)
		end
	end
	local e = summary.errors
	io.write(string.format(
		'SOAKJSON {"requests":%d,"duration_us":%d,"s2xx":%d,"s3xx":%d,"s404":%d,' ..
		'"s4xx":%d,"s5xx":%d,"other":%d,"err_connect":%d,"err_read":%d,' ..
		'"err_write":%d,"err_timeout":%d,"lat_p50_us":%d,"lat_p99_us":%d,' ..
		'"lat_max_us":%d}\n',
		summary.requests, summary.duration, t.s2xx, t.s3xx, t.s404, t.s4xx, t.s5xx,
		t.other, e.connect, e.read, e.write, e.timeout, latency:percentile(50),
		latency:percentile(99), latency.max))
end
