#!/usr/bin/env python3
"""probe.py - process probes for bench/compare.sh: memory of a server process
tree, what idle keep-alive connections cost it, and how much CPU everything
else on the machine used during a run.

  probe.py mem ROOTPID...
      Print one JSON object: the server's memory, summed over each ROOTPID and
      all its descendants (nginx master + workers, varnishd manager + child):
      VmRSS, Pss (from smaps_rollup: shared pages split between the processes
      that map them, so they are not counted twice), VmHWM, process count.

  probe.py idle --port P --conns N --path PATH --pid ROOTPID [...]
      Measure the tree's memory, open N TCP connections to 127.0.0.1:P that
      each send one GET PATH and read the whole response, keep them all open
      and idle, wait --settle seconds, measure again, check how many are
      still open, close them and print one JSON object with the numbers.
      Connections come from --src-addrs source addresses 127.0.0.2,
      127.0.0.3, ... (each has its own ephemeral port range), at most
      --parallel of them being set up at a time.

  probe.py cpu-snap --exclude PID... > FILE
  probe.py cpu-diff FILE --exclude PID...
      CPU time (utime + stime + cutime + cstime, clock ticks) of every
      user-space process except the excluded ones and their descendants
      (the benchmark's own: compare.sh, the servers, the origin, wrk); the
      diff prints {"ticks": N, "top": [[comm, ticks], ...]}: what other
      processes used between the two calls. Counting the reaped children's
      time (cutime/cstime) of live parents catches short-lived processes
      (compilers, test binaries) that started and ended in between.
      Kernel threads are left out.
"""

import argparse
import errno
import json
import os
import selectors
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h


def tree_pids(roots):
    """ROOTS and all their live descendants."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [int(r) for r in roots]
    while todo:
        pid = todo.pop()
        if os.path.exists(f"/proc/{pid}"):
            out.append(pid)
            todo.extend(children.get(pid, []))
    return sorted(set(out))


def proc_table():
    """{pid: (ppid, comm, ticks incl. reaped children, is kernel thread)}."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        f = stat[stat.rindex(")") + 2:].split()
        flags = int(f[6])
        kthread = bool(flags & 0x00200000)  # PF_KTHREAD
        ticks = int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        out[int(name)] = (int(f[1]), comm, ticks, kthread)
    return out


def foreign(table, exclude):
    """The entries of TABLE not under an excluded pid, nor kernel threads, nor
    this process and its ancestors."""
    skip = set()
    todo = [int(p) for p in exclude] + [os.getpid()]
    kids = {}
    for pid, (ppid, _, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    while todo:
        p = todo.pop()
        if p in skip:
            continue
        skip.add(p)
        todo.extend(kids.get(p, []))
    p = os.getpid()
    while p in table and p > 1:  # our ancestors reap our children
        skip.add(p)
        p = table[p][0]
    return {str(pid): [v[1], v[2]] for pid, v in table.items()
            if pid not in skip and not v[3] and pid != 1}


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(roots):
    pids = tree_pids(roots)
    return {
        "pids": pids,
        "rss_kb": sum(status_kb(p, "VmRSS") for p in pids),
        "pss_kb": sum(pss_kb(p) for p in pids),
        "hwm_kb": sum(status_kb(p, "VmHWM") for p in pids),
    }


class Conn:
    __slots__ = ("sock", "state", "buf", "need")

    def __init__(self, sock):
        self.sock = sock
        self.state = "connect"
        self.buf = b""
        self.need = None  # total bytes of head + body once the head is in


def response_complete(c):
    """True once C's buffer holds one whole response (Content-Length framed)."""
    if c.need is None:
        end = c.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        length = 0
        for line in c.buf[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        c.need = end + 4 + length
    return len(c.buf) >= c.need


def open_idle(port, n, path, src_addrs, parallel, deadline):
    """Open N connections, one request each; return (idle conns, error counts)."""
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               "User-Agent: idle_conns.py\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    idle, errors = [], {}
    started = inflight = 0

    def fail(c, why):
        nonlocal inflight
        errors[why] = errors.get(why, 0) + 1
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        inflight -= 1

    while (started < n or inflight) and time.monotonic() < deadline:
        while started < n and inflight < parallel:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((f"127.0.0.{2 + started % src_addrs}", 0))
            c = Conn(s)
            rc = s.connect_ex(("127.0.0.1", port))
            started += 1
            inflight += 1
            if rc not in (0, errno.EINPROGRESS):
                fail(c, f"connect:{errno.errorcode.get(rc, rc)}")
                continue
            sel.register(s, selectors.EVENT_WRITE, c)
        for key, _ in sel.select(timeout=0.5):
            c = key.data
            if c.state == "connect":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(c, f"connect:{errno.errorcode.get(err, err)}")
                    continue
                try:
                    c.sock.send(request)  # small: goes out whole on a fresh socket
                except OSError as e:
                    fail(c, f"send:{errno.errorcode.get(e.errno, e.errno)}")
                    continue
                c.state = "read"
                sel.modify(c.sock, selectors.EVENT_READ, c)
            else:
                try:
                    data = c.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    fail(c, f"recv:{errno.errorcode.get(e.errno, e.errno)}")
                    continue
                if not data:
                    fail(c, "closed-before-response")
                    continue
                c.buf += data
                if response_complete(c):
                    if not c.buf.startswith(b"HTTP/1.1 200"):
                        errors["non-200"] = errors.get("non-200", 0) + 1
                    sel.unregister(c.sock)
                    c.buf = b""
                    c.state = "idle"
                    idle.append(c)
                    inflight -= 1
    if started < n or inflight:
        errors["deadline"] = errors.get("deadline", 0) + (n - started) + inflight
    sel.close()
    return idle, errors


def count_open(idle):
    """How many of the idle connections the server has not closed."""
    sel = selectors.DefaultSelector()
    for c in idle:
        sel.register(c.sock, selectors.EVENT_READ, c)
    closed = 0
    for key, _ in sel.select(timeout=0):
        try:
            data = key.data.sock.recv(1, socket.MSG_PEEK)
        except OSError:
            data = b""
        if not data:
            closed += 1
    sel.close()
    return len(idle) - closed


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mem")
    m.add_argument("pids", nargs="+")
    cs = sub.add_parser("cpu-snap")
    cs.add_argument("--exclude", nargs="*", default=[])
    cd = sub.add_parser("cpu-diff")
    cd.add_argument("before")
    cd.add_argument("--exclude", nargs="*", default=[])
    i = sub.add_parser("idle")
    i.add_argument("--port", type=int, required=True)
    i.add_argument("--conns", type=int, default=10000)
    i.add_argument("--path", default="/obj1k?size=1024&cc=max-age%3D3600")
    i.add_argument("--pid", action="append", required=True, help="server root pid")
    i.add_argument("--src-addrs", type=int, default=8)
    i.add_argument("--parallel", type=int, default=256)
    i.add_argument("--settle", type=float, default=3.0)
    i.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()

    if a.cmd == "mem":
        print(json.dumps(memory(a.pids)))
        return 0
    if a.cmd == "cpu-snap":
        print(json.dumps(foreign(proc_table(), a.exclude)))
        return 0
    if a.cmd == "cpu-diff":
        with open(a.before) as f:
            before = json.load(f)
        after = foreign(proc_table(), a.exclude)
        per = {}
        for pid in set(before) | set(after):
            comm = (after.get(pid) or before.get(pid))[0]
            d = (after[pid][1] if pid in after else 0) - (before[pid][1] if pid in before else 0)
            per[comm] = per.get(comm, 0) + d
        top = sorted(((c, t) for c, t in per.items() if t > 0), key=lambda x: -x[1])[:5]
        print(json.dumps({"ticks": max(0, sum(per.values())), "top": top}))
        return 0

    before = memory(a.pid)
    t0 = time.monotonic()
    idle, errors = open_idle(a.port, a.conns, a.path, a.src_addrs, a.parallel,
                             t0 + a.timeout)
    setup_s = time.monotonic() - t0
    time.sleep(a.settle)
    after = memory(a.pid)
    still_open = count_open(idle)
    for c in idle:
        c.sock.close()
    ok = len(idle)
    out = {
        "conns_requested": a.conns,
        "conns_ok": ok,
        "conns_open_at_measure": still_open,
        "errors": errors,
        "setup_s": round(setup_s, 3),
        "settle_s": a.settle,
        "before": before,
        "after": after,
        "rss_delta_kb": after["rss_kb"] - before["rss_kb"],
        "pss_delta_kb": after["pss_kb"] - before["pss_kb"],
        "rss_bytes_per_conn": round((after["rss_kb"] - before["rss_kb"]) * 1024 / ok, 1) if ok else None,
        "pss_bytes_per_conn": round((after["pss_kb"] - before["pss_kb"]) * 1024 / ok, 1) if ok else None,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
