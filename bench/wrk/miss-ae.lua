-- bench/wrk/miss-ae.lua: every request is a miss for a new URL of SIZE bytes
-- (text/plain, compressible) from a client that accepts br and gzip, so the
-- proxy fetches it, stores it and compresses it.
-- Usage: wrk -s miss-ae.lua URL -- SIZE RUNID
local size, runid, n = "1048576", "0", 0

function init(args)
	size = args[1] or size
	runid = args[2] or runid
	math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
	runid = runid .. "-" .. tostring(math.random(1, 1000000000))
end

function request()
	n = n + 1
	return wrk.format("GET", "/miss?id=" .. runid .. "-" .. n .. "&size=" .. size ..
		"&words=1&cc=max-age%3D3600", {["Accept-Encoding"] = "br, gzip"})
end
