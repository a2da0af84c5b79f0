#!/usr/bin/python3
"""The seccomp profiles under docker/, checked, flattened and applied.

docker/seccomp.json must be Docker's default profile (the pristine copy
docker/seccomp-moby-default.json, whose source and SHA-256 docker/README.md
names) plus io_uring_setup, io_uring_enter and io_uring_register, and nothing
else; docker/compose.yaml must use it for every service; docker/k8s/seccomp.json
must be it flattened for Kubernetes (see flatten()).

  check_seccomp.py check [ROOT]
      the checks above, and the profiles applied: io_uring_setup refused
      under Docker's default, allowed under ours (needs python3-seccomp)
  check_seccomp.py flatten [ROOT]
      print docker/k8s/seccomp.json as it must be
  check_seccomp.py exec PROFILE NEWROOT UID:GID PROGRAM ARG...
      chroot to NEWROOT, become UID:GID, load PROFILE as runc loads it,
      exec PROGRAM: a container without a container engine
      (tests/docker/run.sh)

Exit 0 when every check passes, 1 with one line per failure otherwise.
"""
import hashlib
import json
import os
import platform
import re
import sys

IO_URING = ["io_uring_enter", "io_uring_register", "io_uring_setup"]
# Go's names for the machines Kubernetes nodes run on; docker/k8s/seccomp.json
# holds the rules of both, as runc skips the names its machine lacks.
K8S_ARCHES = ["amd64", "arm64"]
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}
NATIVE_SCMP = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def pristine_sha256(root):
    """The SHA-256 that docker/README.md records for the pristine copy."""
    with open(os.path.join(root, "docker/README.md"), encoding="utf-8") as f:
        m = re.search(r"SHA-256 `([0-9a-f]{64})`", f.read())
    return m.group(1) if m else None


def check_profile(root, fail):
    moby_path = os.path.join(root, "docker/seccomp-moby-default.json")
    with open(moby_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    want = pristine_sha256(root)
    if digest != want:
        fail(f"docker/seccomp-moby-default.json: SHA-256 {digest}, docker/README.md says {want}:"
             " the pristine copy was edited (or README not updated with a new upstream copy)")
    moby, ours = load(moby_path), load(os.path.join(root, "docker/seccomp.json"))
    for r in moby["syscalls"]:
        if set(r["names"]) & set(IO_URING):
            fail("docker/seccomp-moby-default.json already allows io_uring: not the current default")
    if {k: v for k, v in moby.items() if k != "syscalls"} != \
            {k: v for k, v in ours.items() if k != "syscalls"}:
        fail("docker/seccomp.json: top-level fields differ from Docker's default")
    if len(moby["syscalls"]) != len(ours["syscalls"]):
        fail(f"docker/seccomp.json: {len(ours['syscalls'])} rules, Docker's default has"
             f" {len(moby['syscalls'])}")
        return
    added = []
    for i, (m, o) in enumerate(zip(moby["syscalls"], ours["syscalls"])):
        if {k: v for k, v in m.items() if k != "names"} != \
                {k: v for k, v in o.items() if k != "names"}:
            fail(f"docker/seccomp.json: rule {i} ({o['names'][:3]}...) differs besides its names")
        extra = [n for n in o["names"] if n not in m["names"]]
        missing = [n for n in m["names"] if n not in o["names"]]
        if missing:
            fail(f"docker/seccomp.json: rule {i} lacks {missing}")
        if [n for n in o["names"] if n not in extra] != m["names"]:
            fail(f"docker/seccomp.json: rule {i} has Docker's names in another order or twice")
        if extra and (o["action"] != "SCMP_ACT_ALLOW" or set(o) != {"names", "action"}):
            fail(f"docker/seccomp.json: {extra} added to rule {i}, which is not unconditional")
        added += extra
    if sorted(added) != IO_URING:
        fail(f"docker/seccomp.json adds {sorted(added)} to Docker's default, not exactly {IO_URING}")


def check_compose(root, fail):
    import yaml  # python3-yaml

    compose = yaml.safe_load(open(os.path.join(root, "docker/compose.yaml"), encoding="utf-8"))
    text = open(os.path.join(root, "docker/compose.yaml"), encoding="utf-8").read()
    if "unconfined" in text:
        fail("docker/compose.yaml still mentions seccomp unconfined")
    for name, svc in compose["services"].items():
        opts = [o for o in svc.get("security_opt", []) if re.match(r"seccomp[=:]", o)]
        paths = [os.path.normpath(os.path.join(root, "docker", o[8:])) for o in opts]
        if paths != [os.path.join(root, "docker/seccomp.json")]:
            fail(f"docker/compose.yaml: service {name}: security_opt {opts}, not one"
                 " seccomp=./seccomp.json")
        test = svc.get("healthcheck", {}).get("test", [])
        if test[:3] != ["CMD", "/usr/sbin/ringcache", "--health"] or len(test) != 4:
            fail(f"docker/compose.yaml: service {name}: healthcheck {test} is not"
                 " [CMD, /usr/sbin/ringcache, --health, URL]")
    # The health checks ask the ports the services listen on.
    origin = compose["services"]["origin"]
    listen = origin["entrypoint"][origin["entrypoint"].index("-l") + 1]
    if not origin["healthcheck"]["test"][-1].startswith(f"http://127.0.0.1:{listen.split(':')[-1]}/"):
        fail(f"docker/compose.yaml: the origin listens on {listen}, its healthcheck asks"
             f" {origin['healthcheck']['test'][-1]}")
    cfg = yaml.safe_load(open(os.path.join(root, "docker/ringcache.yaml"), encoding="utf-8"))
    admin = f"http://{cfg['admin']['listen']}/health"
    if compose["services"]["ringcache"]["healthcheck"]["test"][-1] != admin:
        fail(f"docker/compose.yaml: ringcache's healthcheck is not {admin} (docker/ringcache.yaml)")
    dockerfile = open(os.path.join(root, "docker/Dockerfile"), encoding="utf-8").read()
    if f'CMD ["/usr/sbin/ringcache", "--health", "{admin}"]' not in dockerfile:
        fail(f"docker/Dockerfile: HEALTHCHECK is not ringcache --health {admin}")
    runtime = dockerfile.split("FROM debian:bookworm-slim AS root", 1)[-1]
    if [ln for ln in runtime.splitlines() if "curl" in ln and not ln.lstrip().startswith("#")]:
        fail("docker/Dockerfile: the run-time stages install or run curl")


def keep(rule, goarch, caps):
    """Whether Docker keeps RULE for a container on GOARCH with CAPS, as
    moby/profiles seccomp_linux.go decides (minKernel: io_uring needs 5.1,
    above every minKernel in the profile)."""
    exc, inc = rule.get("excludes", {}), rule.get("includes", {})
    if goarch in exc.get("arches", []) or set(exc.get("caps", [])) & set(caps):
        return False
    if inc.get("arches") and goarch not in inc["arches"]:
        return False
    return set(inc.get("caps", [])) <= set(caps)


def flatten(profile, goarches, caps=()):
    """PROFILE in the runtime-spec form (LinuxSeccomp): what Docker hands runc
    for a container on GOARCHES with CAPS. containerd reads a Kubernetes
    Localhost profile in this form only: it ignores archMap, includes and
    excludes, so Docker's form would allow every capability's syscalls
    (unshare, mount, bpf...) to every pod. For the Deployment's container,
    which drops every capability, CAPS is empty."""
    arches = []
    for a in profile["archMap"]:
        if a["architecture"] in [NATIVE_SCMP[g] for g in goarches]:
            arches += [a["architecture"]] + (a["subArchitectures"] or [])
    out = {"defaultAction": profile["defaultAction"],
           "defaultErrnoRet": profile["defaultErrnoRet"],
           "architectures": arches, "syscalls": []}
    for r in profile["syscalls"]:
        if any(keep(r, g, caps) for g in goarches):
            out["syscalls"].append({k: r[k] for k in ("names", "action", "errnoRet", "args")
                                    if k in r})
    return out


def flat_k8s(root):
    return json.dumps(flatten(load(os.path.join(root, "docker/seccomp.json")), K8S_ARCHES),
                      indent="\t") + "\n"


def check_k8s_profile(root, fail):
    path = os.path.join(root, "docker/k8s/seccomp.json")
    if open(path, encoding="utf-8").read() != flat_k8s(root):
        fail("docker/k8s/seccomp.json is not docker/seccomp.json flattened:"
             " run tests/docker/check_seccomp.py flatten > docker/k8s/seccomp.json")


def seccomp_filter(profile):
    """A libseccomp filter built from PROFILE the way runc builds it: rules
    for this machine, names it does not know skipped, rules whose action is
    the default one left out."""
    import seccomp  # python3-seccomp

    goarch = GOARCH[platform.machine()]
    flat = profile if "architectures" in profile else flatten(profile, [goarch])
    errno = flat.get("defaultErrnoRet", 1)
    actions = {"SCMP_ACT_ALLOW": lambda r: seccomp.ALLOW,
               "SCMP_ACT_ERRNO": lambda r: seccomp.ERRNO(r.get("errnoRet", errno))}
    ops = {"SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_LT": seccomp.LT,
           "SCMP_CMP_LE": seccomp.LE, "SCMP_CMP_GT": seccomp.GT, "SCMP_CMP_GE": seccomp.GE,
           "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ}
    assert flat["defaultAction"] == "SCMP_ACT_ERRNO"
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno))
    for a in flat["architectures"]:
        arch = getattr(seccomp.Arch, a[len("SCMP_ARCH_"):])
        if not f.exist_arch(arch):
            f.add_arch(arch)
    for r in flat["syscalls"]:
        if r["action"] == "SCMP_ACT_ERRNO" and r.get("errnoRet", errno) == errno:
            continue
        conds = [seccomp.Arg(a["index"], ops[a["op"]], a["value"], a.get("valueTwo", 0))
                 for a in r.get("args") or []]
        # runc: two conditions on one argument are two rules (OR), not one.
        same_arg = len({a["index"] for a in r.get("args") or []}) < len(conds)
        for name in r["names"]:
            for c in ([[c] for c in conds] if same_arg else [conds]):
                try:
                    f.add_rule(actions[r["action"]](r), name, *c)
                except (RuntimeError, ValueError):
                    pass  # not a syscall on this machine
    return f


# Syscall numbers (x86_64, aarch64): io_uring_setup is 425 on both.
PROBES = {"io_uring_setup": {"amd64": 425, "arm64": 425},
          "unshare": {"amd64": 272, "arm64": 97}}
CLONE_NEWUSER = 0x10000000


def errno_under(profile, call, *args):
    """0 when CALL(ARGS) succeeds under PROFILE, else its errno; run in a
    child, which the filter cannot leave."""
    import ctypes

    pid = os.fork()
    if pid == 0:
        st = 255
        try:
            seccomp_filter(profile).load()
            libc = ctypes.CDLL(None, use_errno=True)
            r = libc.syscall(PROBES[call][GOARCH[platform.machine()]], *args)
            st = 0 if r >= 0 else min(ctypes.get_errno(), 254)
        finally:
            os._exit(st)  # an exception is printed, and the child goes no further
    st = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if st == 255:
        raise RuntimeError("the probe could not load the filter")
    return st


def check_applied(root, fail):
    import ctypes
    import errno

    params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
    probes = [("docker/seccomp-moby-default.json", "io_uring_setup", errno.EPERM),
              ("docker/seccomp.json", "io_uring_setup", 0),
              ("docker/k8s/seccomp.json", "io_uring_setup", 0),
              # What Docker refuses without CAP_SYS_ADMIN stays refused:
              # the reason docker/k8s/seccomp.json is flattened.
              ("docker/seccomp.json", "unshare", errno.EPERM),
              ("docker/k8s/seccomp.json", "unshare", errno.EPERM)]
    for name, call, want in probes:
        args = (1, params) if call == "io_uring_setup" else (CLONE_NEWUSER,)
        got = errno_under(load(os.path.join(root, name)), call, *args)
        if got != want:
            fail(f"{name}: {call} {'fails with ' + os.strerror(got) if got else 'works'},"
                 f" expected {os.strerror(want) if want else 'it to work'}")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "check"
    if cmd == "exec":
        profile, newroot, ids, prog = argv[2], argv[3], argv[4], argv[5:]
        f = seccomp_filter(load(profile))
        uid, gid = (int(x) for x in ids.split(":"))
        os.chroot(newroot)
        os.chdir("/")
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        f.load()
        os.execv(prog[0], prog)
    root = argv[2] if len(argv) > 2 else os.path.join(os.path.dirname(__file__), "../..")
    root = os.path.abspath(root)
    if cmd == "flatten":
        sys.stdout.write(flat_k8s(root))
        return 0
    if cmd != "check":
        sys.stderr.write(__doc__)
        return 2
    failures = []
    for check in (check_profile, check_compose, check_k8s_profile, check_applied):
        check(root, failures.append)
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    if not failures:
        print("seccomp: docker/seccomp.json is Docker's default + io_uring_setup, io_uring_enter,"
              " io_uring_register; compose uses it; the Kubernetes copy matches; io_uring refused"
              " under Docker's default, allowed under ours; unshare refused under both of ours")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
