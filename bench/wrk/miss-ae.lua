-- bench/wrk/miss-ae.lua: every request is a miss for a new URL of SIZE bytes
-- of text (words=1: compresses about 3:1), from a client that accepts br and
-- gzip, so the proxy fetches it, stores it and compresses it.
-- Usage: wrk -s miss-ae.lua URL -- SIZE RUNID [AE] [DELAY_MS]
-- AE is the Accept-Encoding value, default "br, gzip"; "none" sends no
-- Accept-Encoding (the same misses, not compressed). DELAY_MS: each
-- connection waits this long between requests, so the miss rate is fixed
-- (the same load whether or not the proxy compresses).
local size, runid, n, headers = "1048576", "0", 0, {["Accept-Encoding"] = "br, gzip"}
local pause = 0

function init(args)
	size = args[1] or size
	runid = args[2] or runid
	pause = tonumber(args[4] or "0") or 0
	if args[3] == "none" then
		headers = {}
	elseif args[3] then
		headers = {["Accept-Encoding"] = args[3]}
	end
	math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
	runid = runid .. "-" .. tostring(math.random(1, 1000000000))
end

function request()
	n = n + 1
	return wrk.format("GET", "/miss?id=" .. runid .. "-" .. n .. "&size=" .. size ..
		"&words=1&cc=max-age%3D3600", headers)
end

function delay()
	return pause
end
