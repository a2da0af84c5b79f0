#!/usr/bin/env python3
"""summarize.py - turn bench/compare.sh's raw results (one JSON object a line)
into OUT/latest.json, OUT/latest.tsv, OUT/latest.md and the sweep plots
OUT/sweep-rps.svg and OUT/sweep-p99.svg (gnuplot). Called by compare.sh;
can be re-run by hand on the runs kept in latest.json:

  bench/summarize.py --from-json bench/results/latest.json --out bench/results
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys

ORDER = ["varnish", "nginx", "ringcache", "rcepoll", "noop"]
TITLE = {"varnish": "Varnish", "nginx": "nginx", "ringcache": "ringcache",
         "rcepoll": "ringcache (epoll)", "noop": "do-nothing"}
KIND_TITLE = {"1k": "1 KiB hit", "64k": "64 KiB hit", "1m": "1 MiB hit",
              "mix": "90/10 hit/miss mix (1 KiB)", "miss": "1 KiB miss (every request a new key)"}


def sh(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (p.stdout + p.stderr).strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def read_file(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def machine(args):
    cpuinfo = read_file("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    mhz = re.search(r"^cpu MHz\s*:\s*(.*)$", cpuinfo, re.M)
    flags = re.search(r"^flags\s*:\s*(.*)$", cpuinfo, re.M)
    mem = re.search(r"^MemTotal:\s*(\d+)", read_file("/proc/meminfo"), re.M)
    varnish = re.search(r"varnish-[\w.]+", sh(["varnishd", "-V"]))
    nginx = re.search(r"nginx/[\w.]+", sh(["nginx", "-v"]))
    wrk = re.search(r"wrk \S+", sh(["wrk", "-v"]))
    src = ""
    cache = read_file(os.path.join(args.build_dir, "CMakeCache.txt"))
    m = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", cache, re.M)
    if m:
        src = m.group(1)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model.group(1) if model else "?",
        "cpu_mhz": mhz.group(1) if mhz else "?",
        "hypervisor": bool(flags and " hypervisor" in " " + flags.group(1)),
        "kernel": platform.release(),
        "meltdown": read_file("/sys/devices/system/cpu/vulnerabilities/meltdown").strip(),
        "mem_total_mib": int(mem.group(1)) // 1024 if mem else None,
        "debian": read_file("/etc/debian_version").strip(),
        "varnish": varnish.group(0) if varnish else "?",
        "nginx": nginx.group(0) if nginx else "?",
        "wrk": wrk.group(0) if wrk else "?",
        "ringcache": sh([args.ringcache_bin, "--version"]) if args.ringcache_bin else "?",
        "ringcache_build_dir": args.build_dir,
        "ringcache_build_type": args.build_type,
        "ringcache_source_dir": src,
        "repo_head": args.repo_head,
        "repo_src_modified": bool(args.repo_dirty),
        "ulimit_nofile": args.nofile,
    }


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def run_metrics(r):
    w = r.get("wrk")
    if not w:
        return None
    dur = w["duration_us"] / 1e6
    req = w["requests"]
    ncpu = os.cpu_count() or 1
    return {
        "rps": req / dur if dur else 0.0,
        "p50_ms": w["lat_p50_us"] / 1000,
        "p99_ms": w["lat_p99_us"] / 1000,
        "mean_ms": w["lat_mean_us"] / 1000,
        "cpu_us_per_req": r["server_ticks"] * 1e6 / r["clk_tck"] / req if req else None,
        "server_cpu_pct": r["server_ticks"] / r["clk_tck"] / dur * 100 if dur else None,
        "wrk_cpu_pct": r["wrk_ticks"] / r["clk_tck"] / dur * 100 if dur else None,
        "other_cpu_pct": max(0, r["other_pct"]) if "other_pct" in r else
        max(0, r["other_ticks"]) / r["clk_tck"] / dur / ncpu * 100 if dur else None,
        "errors": w["err_connect"] + w["err_read"] + w["err_write"] + w["err_timeout"],
        "err_detail": {k: w[k] for k in ("err_connect", "err_read", "err_write", "err_timeout") if w[k]},
        "non2xx": w["err_status"],
        "requests": req,
        "origin_requests": r["origin_requests"],
    }


def summarize(runs, servers):
    tests, out = [], {}
    for r in runs:
        if r["test"] not in tests:
            tests.append(r["test"])
    for t in tests:
        out[t] = {}
        for s in servers:
            rs = [r for r in runs if r["test"] == t and r["server"] == s]
            ms = [run_metrics(r) for r in rs]
            good = [m for m in ms if m]
            if not rs:
                continue
            rps = [m["rps"] for m in good]
            out[t][s] = {
                "runs": len(rs),
                "failed_runs": len(ms) - len(good),
                "wrk_rc": sorted({r["wrk_rc"] for r in rs}),
                "rps": med(rps),
                "rps_min": min(rps) if rps else None,
                "rps_max": max(rps) if rps else None,
                "p50_ms": med([m["p50_ms"] for m in good]),
                "p99_ms": med([m["p99_ms"] for m in good]),
                "cpu_us_per_req": med([m["cpu_us_per_req"] for m in good]),
                "server_cpu_pct": med([m["server_cpu_pct"] for m in good]),
                "wrk_cpu_pct": med([m["wrk_cpu_pct"] for m in good]),
                "other_cpu_pct_max": max([m["other_cpu_pct"] for m in good], default=None),
                "errors": sum(m["errors"] for m in good),
                "err_detail": {k: sum(m["err_detail"].get(k, 0) for m in good)
                               for k in ("err_connect", "err_read", "err_write", "err_timeout")},
                "non2xx": sum(m["non2xx"] for m in good),
                "requests": sum(m["requests"] for m in good),
                "origin_requests": sum(m["origin_requests"] for m in good),
            }
    return tests, out


def fmt_int(x):
    return "–" if x is None else f"{x:,.0f}"


def fmt_ms(x):
    if x is None:
        return "–"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def fmt_us(x):
    return "–" if x is None else f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def spread(s):
    if not s or s["rps"] in (None, 0) or s["runs"] < 2:
        return ""
    return f" ±{(s['rps_max'] - s['rps_min']) / 2 / s['rps'] * 100:.0f}%"


def test_label(t):
    kind, conns = t.split("@")
    return f"{KIND_TITLE.get(kind, kind)}, {int(conns):,} conns"


def metric_table(lines, tests, summ, servers, key, fmt, with_spread=False):
    cols = [TITLE[s] for s in servers]
    ratios = [s for s in ("varnish", "nginx", "rcepoll", "noop") if s in servers and "ringcache" in servers]
    hdr = ["test"] + cols + [f"ringcache/{TITLE[s]}" for s in ratios]
    lines.append("| " + " | ".join(hdr) + " |")
    lines.append("| --- | " + " | ".join("---:" for _ in hdr[1:]) + " |")
    for t in tests:
        row = [test_label(t)]
        for s in servers:
            v = summ[t].get(s)
            row.append(fmt(v[key]) + (spread(v) if with_spread else "") if v else "–")
        for s in ratios:
            a, b = summ[t].get("ringcache"), summ[t].get(s)
            row.append(fmt_ratio(a and a[key], b and b[key]))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")


def plots(out, tests, summ, servers):
    sweep = [t for t in tests if t.startswith("1k@")]
    if len(sweep) < 2:
        return []
    dat = os.path.join(out, "latest-sweep.dat")
    with open(dat, "w") as f:
        f.write("# conns " + " ".join(f"{s}_rps {s}_p99_ms" for s in servers) + "\n")
        for t in sorted(sweep, key=lambda t: int(t.split("@")[1])):
            row = [t.split("@")[1]]
            for s in servers:
                v = summ[t].get(s)
                row += [f"{v['rps']:.1f}" if v and v["rps"] is not None else "NaN",
                        f"{v['p99_ms']:.3f}" if v and v["p99_ms"] is not None else "NaN"]
            f.write(" ".join(row) + "\n")
    if not shutil.which("gnuplot"):
        print("summarize.py: gnuplot not found; no plots", file=sys.stderr)
        return []
    made = []
    for name, col_off, ylabel, title, logy in (
            ("sweep-rps.svg", 0, "requests/s (median)", "1 KiB cache hits: throughput vs connections", False),
            ("sweep-p99.svg", 1, "p99 latency, ms (median)", "1 KiB cache hits: p99 latency vs connections", True)):
        svg = os.path.join(out, name)
        plot = ", ".join(
            f"'{dat}' using 1:{2 + 2 * i + col_off} with linespoints lw 2 pt 7 ps 0.8 title '{TITLE[s]}'"
            for i, s in enumerate(servers))
        gp = "\n".join([
            "set terminal svg size 760,460 dynamic enhanced font 'sans,12' background rgb 'white'",
            f"set output '{svg}'",
            f"set title '{title}'",
            "set logscale x",
            "set xrange [7:14000]",
            "set logscale y" if logy else "set yrange [0:*]",
            "set xlabel 'concurrent connections (wrk -c, log scale)'",
            f"set ylabel '{ylabel}{' (log scale)' if logy else ''}'",
            "set grid",
            "set key top right" if not logy else "set key top left",
            "set xtics (10, 100, 1000, 5000, 10000)",
            f"plot {plot}",
        ])
        p = subprocess.run(["gnuplot"], input=gp, text=True, capture_output=True)
        if p.returncode != 0:
            print(f"summarize.py: gnuplot failed: {p.stderr}", file=sys.stderr)
            continue
        made.append(name)
    return made


def targets(L, summ, idle, servers):
    """Issue 20's targets against this run, each with its verdict."""
    def get(t, s, k):
        v = summ.get(t, {}).get(s)
        return v and v[k]

    rows = []

    def row(what, value, ok):
        rows.append((what, value, "–" if ok is None else "met" if ok else "**not met**"))

    for t, vf, nf in (("1m@50", 1.2, 1.4), ("64k@100", 1.2, 1.4), ("64k@1000", 1.2, 1.4)):
        rc, va, ng = (get(t, s, "rps") for s in ("ringcache", "varnish", "nginx"))
        if rc and va and ng:
            row(f"{test_label(t)}: req/s ≥ {vf}× Varnish and ≥ {nf}× nginx",
                f"{rc / va:.2f}× / {rc / ng:.2f}×", rc >= vf * va and rc >= nf * ng)
        rc, va, ng = (get(t, s, "cpu_us_per_req") for s in ("ringcache", "varnish", "nginx"))
        if rc and va and ng:
            row(f"{test_label(t)}: server CPU per request below both",
                f"{rc:.1f} against {va:.1f} / {ng:.1f} µs", rc < va and rc < ng)
    for t in ("1k@100", "1k@1000"):
        rc, nop = get(t, "ringcache", "cpu_us_per_req"), get(t, "noop", "cpu_us_per_req")
        if rc:
            row(f"{test_label(t)}: server CPU per hit ≤ 7.0 µs", f"{rc:.1f} µs", rc <= 7.0)
        if rc and nop:
            row(f"{test_label(t)}: within 10 % of the do-nothing responder",
                f"{rc:.1f} against {nop:.1f} µs ({rc / nop:.2f}×)", rc <= 1.1 * nop)
    sweep = sorted((t for t in summ if t.startswith("1k@")), key=lambda t: int(t.split("@")[1]))
    for t in sweep:
        rc, ng = get(t, "ringcache", "p99_ms"), get(t, "nginx", "p99_ms")
        if rc is not None and ng is not None:
            row(f"{test_label(t)}: p99 ≤ nginx's", f"{fmt_ms(rc)} against {fmt_ms(ng)} ms", rc <= ng)
    for v in idle:
        if v["server"] == "ringcache" and v["result"]["rss_bytes_per_conn"] is not None:
            per = v["result"]["rss_bytes_per_conn"]
            row(f"RSS per idle connection at {v['result']['conns_requested']:,} ≤ 0.5 KiB",
                f"{per / 1024:.2f} KiB", per <= 512)
    rc, ng = get("miss@100", "ringcache", "rps"), get("miss@100", "nginx", "rps")
    if rc and ng:
        row("1 KiB misses: req/s ≥ 1.5× nginx", f"{rc / ng:.2f}×", rc >= 1.5 * ng)
    if not rows:
        return
    L.append("## Issue 20's targets in this run")
    L.append("")
    L.append("Computed from the tables above. The memory budget under a streaming working set "
             "is measured by `bench/membudget.sh` (`membudget-latest.md`), and 50,000 idle "
             "connections need a hard `ulimit -n` above 51,000.")
    L.append("")
    L.append("| target | this run | verdict |")
    L.append("| --- | ---: | --- |")
    for r in rows:
        L.append(f"| {r[0]} | {r[1]} | {r[2]} |")
    L.append("")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", help="compare.sh's raw results, one JSON object a line")
    ap.add_argument("--from-json", help="a latest.json written before: its runs and meta")
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="bench/compare.sh")
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--duration", type=int, default=0)
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--servers", default="varnish nginx ringcache")
    ap.add_argument("--ringcache-bin", default="")
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--build-type", default="?")
    ap.add_argument("--nofile", type=int, default=0)
    ap.add_argument("--elapsed", type=int, default=0)
    ap.add_argument("--repo-head", default="?")
    ap.add_argument("--repo-dirty", type=int, default=0)
    args = ap.parse_args()

    old_meta = None
    if args.from_json:
        with open(args.from_json) as f:
            old = json.load(f)
        old_meta = old["meta"]
        old_idle = old["idle"] if isinstance(old["idle"], list) else list(old["idle"].values())
        recs = old["runs"] + old_idle + list(old["memory"].values())
        args.command, args.rounds = old_meta["command"], old_meta["rounds"]
        args.duration, args.quick = old_meta["duration_s"], int(old_meta["quick"])
        args.servers, args.elapsed = " ".join(old_meta["servers"]), old_meta["elapsed_s"]
        args.build_dir, args.build_type = old_meta["ringcache_build_dir"], old_meta["ringcache_build_type"]
        args.nofile = old_meta["ulimit_nofile"]
    elif args.results:
        recs = [json.loads(line) for line in read_file(args.results).splitlines() if line.strip()]
    else:
        ap.error("--results or --from-json")
    all_runs = [r for r in recs if r["type"] == "run"]
    runs = [r for r in all_runs if not r.get("superseded")]
    superseded = [r for r in all_runs if r.get("superseded")]
    idle = [r for r in recs if r["type"] == "idle"]
    mem = {r["server"]: r for r in recs if r["type"] == "mem"}
    servers = [s for s in ORDER if s in args.servers.split()]
    tests, summ = summarize(runs, servers)
    meta = machine(args)
    if old_meta:  # what was measured then, not what is installed now
        meta.update({k: old_meta[k] for k in ("varnish", "nginx", "wrk", "ringcache", "repo_head",
                                              "repo_src_modified", "ringcache_source_dir", "date")
                     if k in old_meta})
    meta.update({"command": args.command, "rounds": args.rounds, "duration_s": args.duration,
                 "quick": bool(args.quick), "servers": servers, "elapsed_s": args.elapsed,
                 "date": meta.get("date") or sh(["date", "-u", "+%Y-%m-%d %H:%M UTC"])})
    os.makedirs(args.out, exist_ok=True)
    svgs = plots(args.out, tests, summ, servers)

    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump({"meta": meta, "summary": summ, "idle": idle, "memory": mem, "runs": all_runs},
                  f, indent=1)
    with open(os.path.join(args.out, "latest.tsv"), "w") as f:
        cols = ["rps", "rps_min", "rps_max", "p50_ms", "p99_ms", "cpu_us_per_req",
                "server_cpu_pct", "wrk_cpu_pct", "other_cpu_pct_max", "errors", "non2xx",
                "requests", "origin_requests", "runs", "failed_runs"]
        f.write("test\tserver\t" + "\t".join(cols) + "\n")
        for t in tests:
            for s in servers:
                v = summ[t].get(s)
                if v:
                    f.write(f"{t}\t{s}\t" + "\t".join(
                        "" if v[c] is None else f"{v[c]:.3f}" if isinstance(v[c], float) else str(v[c])
                        for c in cols) + "\n")

    L = []
    L.append("# Side-by-side benchmark: ringcache vs Varnish vs nginx")
    L.append("")
    L.append(f"Generated by `bench/compare.sh` on {meta['date']}"
             f"{' (**--quick smoke test**, not a measurement)' if args.quick else ''}; "
             f"the whole run took {args.elapsed // 60} min {args.elapsed % 60} s.")
    L.append("")
    L.append("## Machine and versions")
    L.append("")
    L.append(f"- `nproc` = {meta['nproc']}, CPU \"{meta['cpu_model']}\" at {meta['cpu_mhz']} MHz"
             f"{', a VM (hypervisor flag set)' if meta['hypervisor'] else ''}, "
             f"{meta['mem_total_mib']:,} MiB RAM; kernel `{meta['kernel']}`"
             f" (meltdown: {meta['meltdown'] or '?'}); Debian {meta['debian']}.")
    L.append(f"- {meta['varnish']}, {meta['nginx']}, {meta['wrk']}, {meta['ringcache']} "
             f"(build type {meta['ringcache_build_type']}, from `{meta['ringcache_build_dir']}`"
             f"{', source ' + meta['ringcache_source_dir'] if meta['ringcache_source_dir'] else ''}; "
             f"repository HEAD {meta['repo_head']} when the run started"
             f"{', src/ modified in the work tree' if meta['repo_src_modified'] else ''}).")
    L.append(f"- `ulimit -n` {meta['ulimit_nofile']} (the hard limit) for every server and for wrk.")
    L.append("- **The load generator (wrk, 2 threads) and the server under test share the same "
             f"{meta['nproc']} vCPUs**, and so does the origin (1 thread, busy only on misses). "
             "Nothing is pinned. Throughput is therefore bounded by what wrk leaves to the server; "
             "the CPU-per-request column is the fairer efficiency figure.")
    L.append("")
    L.append("## Command")
    L.append("")
    L.append(f"    {args.command}")
    L.append("")
    L.append(f"{args.rounds} round(s); each wrk run {args.duration} s, `wrk -t2 -c N --latency "
             "--timeout 10s` (`-t1` for fewer than 2 connections); in each round every test "
             "runs on each server back to back, the first server rotating from round to round. "
             "Numbers are medians over the rounds; ± is half the min–max spread of req/s.")
    L.append("")
    L.append("## Requests per second (median)")
    L.append("")
    metric_table(L, tests, summ, servers, "rps", fmt_int, with_spread=True)
    L.append("## p50 latency, ms (median over rounds of wrk's p50)")
    L.append("")
    metric_table(L, tests, summ, servers, "p50_ms", fmt_ms)
    L.append("## p99 latency, ms (median over rounds of wrk's p99)")
    L.append("")
    metric_table(L, tests, summ, servers, "p99_ms", fmt_ms)
    L.append("## Server CPU time per request, µs")
    L.append("")
    L.append("utime + stime of all the server's processes and threads (from `/proc/PID/stat`), "
             "after minus before the run, divided by the requests wrk completed; 10 ms "
             "clock ticks. It includes the kernel work done in the server's context (system "
             "calls, and on loopback whatever network softirq work runs on its time); "
             "softirq work done on an otherwise idle CPU is charged to no process.")
    L.append("")
    metric_table(L, tests, summ, servers, "cpu_us_per_req", fmt_us)
    L.append("## Connection sweep (1 KiB hits)")
    L.append("")
    for s in svgs:
        L.append(f"![{s}]({s})")
        L.append("")
    L.append("## Memory")
    L.append("")
    L.append("After all the runs (sum over the server's processes; Pss splits shared pages "
             "between the processes that map them, so nginx's shared zone and the master/worker "
             "copy-on-write pages are counted once):")
    L.append("")
    L.append("| server | RSS, MiB | PSS, MiB | peak RSS (sum of VmHWM), MiB | processes | notes |")
    L.append("| --- | ---: | ---: | ---: | ---: | --- |")
    for s in servers:
        m = mem.get(s)
        if not m:
            continue
        mm = m["mem"]
        note = ""
        if m.get("tmpfs_cache_kb") is not None:
            note = (f"+ {m['tmpfs_cache_kb'] / 1024:,.1f} MiB of cache files on tmpfs "
                    "(page cache, not in its RSS)")
        L.append(f"| {TITLE[s]} | {mm['rss_kb'] / 1024:,.1f} | {mm['pss_kb'] / 1024:,.1f} | "
                 f"{mm['hwm_kb'] / 1024:,.1f} | {len(mm['pids'])} | {note} |")
    L.append("")
    if idle:
        counts = sorted({v["result"]["conns_requested"] for v in idle})
        L.append(f"Idle keep-alive connections: {' and '.join(f'{n:,}' for n in counts)} "
                 "connections to a freshly started server (after one "
                 "request per URL, before any load), each sends one GET for the 1 KiB object, "
                 "reads the response and stays open; memory measured 3 s after the last one is "
                 "set up (`bench/probe.py idle`). Kernel socket memory is in no process's RSS.")
        L.append("")
        L.append("| server | connections ok / open at measurement | errors | RSS before → with them, MiB "
                 "| RSS per connection | PSS per connection | RSS 3 s after closing, MiB |")
        L.append("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
        for v in sorted(idle, key=lambda v: (ORDER.index(v["server"]), v["result"]["conns_requested"])):
            s = v["server"]
            r = v["result"]
            errs = ", ".join(f"{k}: {c}" for k, c in r["errors"].items()) or "none"
            per = r["rss_bytes_per_conn"]
            pper = r["pss_bytes_per_conn"]
            L.append(f"| {TITLE[s]} | {r['conns_ok']:,} / {r['conns_open_at_measure']:,} | {errs} | "
                     f"{r['before']['rss_kb'] / 1024:,.1f} → {r['after']['rss_kb'] / 1024:,.1f} | "
                     f"{'–' if per is None else f'{per / 1024:,.1f} KiB'} | "
                     f"{'–' if pper is None else f'{pper / 1024:,.1f} KiB'} | "
                     f"{v['after_close']['rss_kb'] / 1024:,.1f} |")
        L.append("")
    targets(L, summ, idle, servers)
    L.append("## Errors and checks")
    L.append("")
    L.append("Summed over the rounds. Errors are wrk's connect/read/write/timeout counts; "
             "non-2xx are responses wrk counted as neither 2xx nor 3xx; origin requests are "
             "the requests the origin saw during the runs (its own counter): 0 for the hit "
             "tests means every request was a cache hit, the mix should show ~10%. "
             "\"Other CPU\" is, for the busiest of the counted runs, the CPU time that other "
             "user-space processes on the machine (not the servers, origin, wrk or the "
             "script) took during it, in % of all CPUs (`bench/probe.py cpu-diff`): "
             "a noise indicator.")
    L.append("")
    L.append("| test | server | requests | errors | non-2xx | origin requests | wrk CPU % | server CPU % | other CPU % (max) |")
    L.append("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    problems = []
    for t in tests:
        for s in servers:
            v = summ[t].get(s)
            if not v:
                continue
            det = ", ".join(f"{k[4:]} {c:,}" for k, c in v["err_detail"].items() if c)
            err = f"{v['errors']:,}" + (f" ({det})" if det else "")
            if v["failed_runs"]:
                err += f"; {v['failed_runs']} run(s) without a wrk result"
            if v["errors"] or v["non2xx"] or v["failed_runs"]:
                problems.append(f"{test_label(t)} on {TITLE[s]}: {err} errors, {v['non2xx']:,} non-2xx")
            L.append(f"| {test_label(t)} | {TITLE[s]} | {v['requests']:,} | {err} | {v['non2xx']:,} | "
                     f"{v['origin_requests']:,} | {fmt_ms(v['wrk_cpu_pct'])} | "
                     f"{fmt_ms(v['server_cpu_pct'])} | {fmt_ms(v['other_cpu_pct_max'])} |")
    L.append("")
    if problems:
        L.append("Runs with errors:")
        L.append("")
        for p in problems:
            L.append(f"- {p}")
        L.append("")
    else:
        L.append("No wrk errors and no non-2xx responses in any run.")
        L.append("")
    vstat = read_file(os.path.join(args.out, "latest-varnishstat.txt"))
    if "varnish" in servers and vstat:
        v = {m.group(1): int(m.group(2)) for m in re.finditer(r"^MAIN\.(\w+)\s+(\d+)", vstat, re.M)}
        L.append(f"Varnish's own counters at the end (`varnishstat -1`, `latest-varnishstat.txt`): "
                 f"{v.get('threads', '?')} worker threads ({v.get('threads_created', '?')} created, "
                 f"limit reached {v.get('threads_limited', '?')} times), "
                 f"{v.get('sess_queued', '?')} sessions queued for a thread, "
                 f"{v.get('sess_dropped', '?')} dropped, {v.get('sess_fail', '?')} accept failures; "
                 f"{v.get('cache_hit', '?')} hits, {v.get('cache_miss', '?')} misses.")
        L.append("")
    if superseded:
        L.append(f"{len(superseded)} attempt(s) were not counted: other processes took more than "
                 "15% of the CPUs during them, the run was repeated (up to 3 attempts) and the "
                 "quietest attempt counted; all are in `latest.json`. Not counted: " + ", ".join(
                     f"{r['test']} {TITLE[r['server']]} round {r['round']} ({r['other_pct']}%"
                     + (": " + r["other_top"].replace(",", ", ") if r.get("other_top") not in (None, "none") else "")
                     + ")"
                     for r in superseded) + ".")
        L.append("")
    L.append("Raw data: `latest.json` (every run), `latest.tsv` (the medians), `latest-wrk.log` "
             "(every wrk output), `configs/` (the generated server configurations), server logs "
             "`latest-*.log` when not empty.")
    L.append("")
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write("\n".join(L))
    return 0


if __name__ == "__main__":
    sys.exit(main())
