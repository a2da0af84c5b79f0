#!/usr/bin/python3
"""`ringcache --health URL`, the image's HEALTHCHECK, against peers that
answer what each case needs: exit 0 on a 2xx status line and 1 on anything
else (other statuses, garbage, a close, silence past the 2 s budget, a
refused connection, a URL it does not take), with one line saying why.

usage: check_health.py RINGCACHE_BINARY
"""
import socket
import subprocess
import sys
import threading
import time

# What the peer sends for each path, in pieces (a status line may arrive split).
ANSWERS = {
    "/ok": [b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"],
    "/nocontent": [b"HTTP/1.1 204 No Content\r\n\r\n"],
    "/299": [b"HTTP/1.1 299 Whatever\r\n\r\n"],
    "/split": [b"HTTP/1.1 2", b"00 OK\r\n\r\n"],
    "/http10": [b"HTTP/1.0 200 OK\r\n\r\n"],
    "/noreason": [b"HTTP/1.1 200\r\n\r\n"],
    "/redirect": [b"HTTP/1.1 301 Moved Permanently\r\nLocation: /ok\r\n\r\n"],
    "/down": [b"HTTP/1.1 503 Service Unavailable\r\n\r\n"],
    "/garbage": [b"SSH-2.0-OpenSSH_9.2\r\n"],
    "/short": [b"HTTP/1.1 20"],
    "/close": [],
    "/silent": None,
}


def serve(sock, seen):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=answer, args=(conn, seen), daemon=True).start()


def answer(conn, seen):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(4096)
        if not chunk:
            return
        head += chunk
    path = head.split(b" ")[1].decode()
    seen.append(head)
    parts = ANSWERS.get(path, [b"HTTP/1.1 404 Not Found\r\n\r\n"])
    if parts is None:
        time.sleep(5)  # past the client's budget
    else:
        for p in parts:
            conn.sendall(p)
            time.sleep(0.05)
    conn.close()


def listener(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((addr, 0))
    s.listen(16)
    return s


def main(binary):
    failures = []
    seen = []
    v4 = listener(socket.AF_INET, "127.0.0.1")
    port = v4.getsockname()[1]
    threading.Thread(target=serve, args=(v4, seen), daemon=True).start()
    try:
        v6 = listener(socket.AF_INET6, "::1")
        threading.Thread(target=serve, args=(v6, seen), daemon=True).start()
        port6 = v6.getsockname()[1]
    except OSError:
        port6 = None  # no IPv6 loopback here
    closed = listener(socket.AF_INET, "127.0.0.1")
    closed_port = closed.getsockname()[1]
    closed.close()

    base = f"http://127.0.0.1:{port}"
    cases = [(f"{base}/ok", 0, ""), (f"{base}/nocontent", 0, ""), (f"{base}/299", 0, ""),
             (f"{base}/split", 0, ""), (f"{base}/http10", 0, ""), (f"{base}/noreason", 0, ""),
             (f"{base}/ok?x=1", 1, "404"), (f"{base}/redirect", 1, "301 Moved"),
             (f"{base}/down", 1, "503 Service Unavailable"),
             (f"{base}/garbage", 1, "not an HTTP response"),
             (f"{base}/short", 1, "not an HTTP response"),
             (f"{base}/close", 1, "closed without a response"),
             (f"{base}/silent", 1, "no answer within 2 s"),
             (f"http://127.0.0.1:{closed_port}/ok", 1, "Connection refused"),
             (f"http://localhost:{port}/ok", 1, "not an IPv4 address"),
             (f"https://127.0.0.1:{port}/ok", 1, "not an http://"),
             (f"http://127.0.0.1/ok", 1, "not an http://"),
             (f"http://127.0.0.1:0/ok", 1, "bad port"),
             (f"http://127.0.0.1:70000/ok", 1, "bad port"),
             (f"http://127.0.0.1:{port}/o k", 1, "a space or a control byte"),
             (f"http://127.0.0.1:{port}/ok\r\nX-Injected: 1", 1, "a space or a control byte")]
    if port6:
        cases.append((f"http://[::1]:{port6}/ok", 0, ""))
    for url, want, why in cases:
        t = time.monotonic()
        r = subprocess.run([binary, "--health", url], capture_output=True, text=True, timeout=10)
        took = time.monotonic() - t
        out = r.stdout + r.stderr
        if r.returncode != want or why not in out or (want == 0 and out):
            failures.append(f"--health {url!r}: exit {r.returncode}, {out.strip()!r};"
                            f" expected {want} and {why!r}")
        if took > 2.5:
            failures.append(f"--health {url!r} took {took:.1f} s, past its 2 s budget")
    # What it sends: one GET naming the host it asks, and no keep-alive.
    first = next((h for h in seen if h.startswith(b"GET /ok HTTP/1.1\r\n")), b"")
    if f"Host: 127.0.0.1:{port}\r\n".encode() not in first or b"Connection: close\r\n" not in first:
        failures.append(f"the request was {first!r}")
    return failures


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    failures = main(sys.argv[1])
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    if not failures:
        print("health: ringcache --health passes 2xx only, fails the rest within its budget")
    sys.exit(1 if failures else 0)
