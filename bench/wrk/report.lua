-- report.lua - wrk's done() hook: one machine-readable line for
-- bench/compare.sh, "WRKJSON {...}". Latencies are in microseconds, as wrk
-- records them; errors are wrk's own counters (status = responses that were
-- not 2xx or 3xx).
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'WRKJSON {"requests":%d,"bytes":%d,"duration_us":%d,' ..
		'"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
		'"lat_p50_us":%d,"lat_p75_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,' ..
		'"lat_max_us":%d,"lat_mean_us":%.1f}\n',
		summary.requests, summary.bytes, summary.duration,
		e.connect, e.read, e.write, e.status, e.timeout,
		latency:percentile(50), latency:percentile(75), latency:percentile(90),
		latency:percentile(99), latency.max, latency.mean))
end
