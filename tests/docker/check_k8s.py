#!/usr/bin/python3
"""Checks the Kubernetes manifests in docker/k8s and docker/k8s/cluster without a cluster.

Parses every manifest and checks what the Deployment relies on: known
apiVersion/kind pairs; selectors that match the pod's labels; the Service's
target port, the container port and the configuration's listen address
lining up; the probes asking the configuration's admin /health with the
image's own client; the ConfigMap's configuration passing `ringcache -t`
where the container reads it; the seccomp profile; a grace period longer
than preStop plus timeouts.drain; a non-root user that is the image's, no
capabilities, a read-only root, resources.

docker/k8s/cluster (a ringcache cluster) gets the same checks, the clients'
Service as the Service, and besides: exactly one headless Service
(clusterIP: None, not publishing unready pods) selecting the pod's labels,
whose port is the container port, cluster.discovery.port and the listen
port; cluster.discovery.dns naming it as
NAME.NAMESPACE.svc.cluster.local; cluster.self absent or numeric; more
than one replica; a pod anti-affinity, if any, that selects the pod.

usage: check_k8s.py ROOT RINGCACHE_BINARY
Exit 0 when every check passes, 1 with one line per failure otherwise.
"""
import glob
import ipaddress
import os
import re
import subprocess
import sys
import tempfile

import yaml  # python3-yaml

KINDS = {("apps/v1", "Deployment"), ("v1", "ConfigMap"), ("v1", "Service")}
UNITS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
         "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "KB": 1e3, "MB": 1e6, "GB": 1e9}


def size(s):
    m = re.fullmatch(r"([0-9.]+)\s*([A-Za-z]*)", str(s))
    return float(m.group(1)) * UNITS[m.group(2)]


def seconds(s):
    """A ringcache duration (a bare number is seconds)."""
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h|d)?", str(s))
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}
    return float(m.group(1)) * scale[m.group(2)]


def cpus(s):
    s = str(s)
    return float(s[:-1]) / 1000 if s.endswith("m") else float(s)


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


def headless(svc):
    return svc.get("spec", {}).get("clusterIP") == "None"


def namespace(d):
    return d.get("metadata", {}).get("namespace") or "default"


def check_dir(root, rel, binary, cluster):
    """The manifests in ROOT/REL (*.yaml, not below); CLUSTER: a ringcache
    cluster's, with a headless Service for discovery. The failures, each
    line prefixed with REL."""
    failures = []

    def fail(msg):
        failures.append(f"{rel}: {msg}")

    docs = {}
    headless_svcs = []
    files = sorted(glob.glob(os.path.join(root, rel, "*.yaml")))
    if not files:
        fail("no manifests")
    for path in files:
        for d in yaml.safe_load_all(open(path, encoding="utf-8")):
            if d is None:
                continue
            kind = (d.get("apiVersion"), d.get("kind"))
            if kind not in KINDS:
                fail(f"{os.path.basename(path)}: {kind} is not one of {sorted(KINDS)}")
            elif not d.get("metadata", {}).get("name"):
                fail(f"{os.path.basename(path)}: {kind[1]} without metadata.name")
            elif kind[1] == "Service" and headless(d):
                headless_svcs.append(d)
            elif kind[1] in docs:
                fail(f"{os.path.basename(path)}: a second {kind[1]}"
                     + (" (besides the headless one)" if kind[1] == "Service" else ""))
            else:
                docs[kind[1]] = d
    for k in ("Deployment", "ConfigMap", "Service"):
        if k not in docs:
            fail(f"no {k}" + (" (not headless)" if k == "Service" else ""))
    if cluster and len(headless_svcs) != 1:
        fail(f"{len(headless_svcs)} headless Services (clusterIP: None), not exactly one"
             " for cluster.discovery")
    if failures:
        return failures
    dep, cm, svc = docs["Deployment"], docs["ConfigMap"], docs["Service"]
    for d in list(docs.values()) + headless_svcs:
        if namespace(d) != namespace(dep):
            fail(f"{d['kind']} {d['metadata']['name']} is in namespace {namespace(d)}, the"
                 f" Deployment in {namespace(dep)}")
    pod = dep["spec"]["template"]
    labels = pod["metadata"].get("labels", {})

    def selects(sel, what):
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            fail(f"{what} selector {sel} does not match the pod's labels {labels}")

    selects(dep["spec"]["selector"].get("matchLabels"), "the Deployment's")
    selects(svc["spec"].get("selector"), "the Service's")
    for h in headless_svcs:
        selects(h["spec"].get("selector"), f"the headless Service {h['metadata']['name']}'s")

    containers = pod["spec"]["containers"]
    if len(containers) != 1:
        fail(f"the pod has {len(containers)} containers, this check knows one")
        return failures
    c = containers[0]

    # The configuration the container reads: -c PATH, a ConfigMap key mounted there.
    args = c.get("args", [])
    conf_path = args[args.index("-c") + 1] if "-c" in args else "/etc/ringcache/ringcache.yaml"
    mounts = [m for m in c.get("volumeMounts", [])
              if m["mountPath"] == os.path.dirname(conf_path)]
    vols = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    vol = vols.get(mounts[0]["name"]) if mounts else None
    if not vol or vol.get("configMap", {}).get("name") != cm["metadata"]["name"]:
        fail(f"{conf_path} is not in a volume of ConfigMap {cm['metadata']['name']}")
    key = os.path.basename(conf_path)
    text = cm.get("data", {}).get(key)
    if text is None:
        fail(f"ConfigMap {cm['metadata']['name']} has no key {key} (read as {conf_path})")
        return failures
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        r = subprocess.run([binary, "-t", "-c", f.name], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"ringcache -t refuses the ConfigMap's {key}: {r.stderr.strip()}")
    cfg = yaml.safe_load(text)

    # Ports: Service -> container port -> a listen address of the configuration.
    cports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    listens = cfg["listen"] if isinstance(cfg["listen"], list) else [cfg["listen"]]
    for p in [p for s in [svc] + headless_svcs for p in s["spec"]["ports"]]:
        t = p.get("targetPort", p["port"])
        cp = cports.get(t) if isinstance(t, str) else (t if t in cports.values() else None)
        if cp is None:
            fail(f"Service port {p['port']}: targetPort {t} is no container port ({cports})")
        elif cp not in [port_of(a) for a in listens]:
            fail(f"Service port {p['port']} goes to {cp}, where the configuration does not"
                 f" listen ({listens})")
        elif not any(a.startswith(("0.0.0.0:", "[::]:")) for a in listens if port_of(a) == cp):
            fail(f"the configuration listens on {listens}: not on every address of the pod,"
                 " so the Service cannot reach it")

    # Probes: the image's client on the configuration's admin /health.
    health = f"http://{cfg['admin']['listen']}/health"
    for probe in ("readinessProbe", "livenessProbe"):
        cmd = c.get(probe, {}).get("exec", {}).get("command")
        if cmd != ["/usr/sbin/ringcache", "--health", health]:
            fail(f"{probe}: {cmd}, not ringcache --health {health} (admin.listen)")

    # Seccomp: the shipped profile, where the README says nodes must hold it.
    sc = pod["spec"].get("securityContext", {}).get("seccompProfile") or \
        c.get("securityContext", {}).get("seccompProfile", {})
    if sc.get("type") != "Localhost" or sc.get("localhostProfile") != "ringcache/seccomp.json":
        fail(f"seccompProfile {sc}, not {{type: Localhost, localhostProfile: ringcache/seccomp.json}}")
    if not os.path.exists(os.path.join(root, "docker/k8s/seccomp.json")):
        fail("docker/k8s/seccomp.json, the profile the pod names, is missing")
    readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    if f"/var/lib/kubelet/seccomp/{sc.get('localhostProfile')}" not in readme:
        fail(f"README.md does not say the profile goes to /var/lib/kubelet/seccomp/"
             f"{sc.get('localhostProfile')}")

    # Termination: preStop, then SIGTERM and the drain, inside the grace period.
    pre = c.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre:
        pre_s = float(pre["sleep"]["seconds"])
    elif pre.get("exec", {}).get("command", [""])[0] in ("/bin/sleep", "sleep"):
        pre_s = float(pre["exec"]["command"][1])
    else:
        fail(f"preStop {pre} is not a sleep: the Service may still send connections after SIGTERM")
        pre_s = 0
    drain = seconds(cfg.get("timeouts", {}).get("drain", "10s"))
    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    if not grace > pre_s + drain:
        fail(f"terminationGracePeriodSeconds {grace} is not above preStop {pre_s:g} s +"
             f" timeouts.drain {drain:g} s: the kubelet would kill a drain")

    # User: not root, and the image's user (docker/Dockerfile USER).
    user = re.search(r"^USER (\d+):(\d+)$", open(os.path.join(root, "docker/Dockerfile"),
                                                  encoding="utf-8").read(), re.M)
    psc, csc = pod["spec"].get("securityContext", {}), c.get("securityContext", {})
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    gid = csc.get("runAsGroup", psc.get("runAsGroup"))
    if not (csc.get("runAsNonRoot", psc.get("runAsNonRoot")) and uid and gid and
            user and (uid, gid) == (int(user.group(1)), int(user.group(2)))):
        fail(f"runAsNonRoot, runAsUser {uid}, runAsGroup {gid}: not the image's non-root"
             f" {user.group(0) if user else 'USER (none)'}")
    if csc.get("allowPrivilegeEscalation") is not False:
        fail("allowPrivilegeEscalation is not false")
    if csc.get("readOnlyRootFilesystem") is not True:
        fail("readOnlyRootFilesystem is not true")
    if csc.get("capabilities", {}).get("drop") != ["ALL"]:
        fail("the container does not drop ALL capabilities (the profile is flattened for none)")

    # Resources: requests and limits; memory above the cache; loops within the CPUs.
    res = c.get("resources", {})
    for k in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(k, {}):
                fail(f"resources.{k}.{r} is not set")
    if failures:
        return failures
    if size(res["limits"]["memory"]) <= size(cfg.get("cache", {}).get("memory", "256MiB")):
        fail(f"memory limit {res['limits']['memory']} is not above cache.memory")
    if not isinstance(cfg.get("threads"), int) or cfg["threads"] > cpus(res["limits"]["cpu"]):
        fail(f"threads {cfg.get('threads')}: not a number within the CPU limit"
             f" {res['limits']['cpu']} (\"auto\" counts the node's CPUs)")
    if cluster:
        check_cluster(fail, dep, headless_svcs[0], cports, listens, cfg, selects)
    elif cfg.get("cluster") is not None:
        fail("the configuration has cluster: (docker/k8s/cluster is the cluster's)")
    return failures


def check_cluster(fail, dep, hl, cports, listens, cfg, selects):
    """What a cluster found by its headless Service HL relies on."""
    cl = cfg.get("cluster")
    if not isinstance(cl, dict) or not isinstance(cl.get("discovery"), dict):
        fail("the configuration has no cluster.discovery")
        return
    disc = cl["discovery"]
    # One port everywhere: the headless Service's, the container's, the one
    # discovery adds to each address, the listener's.
    dport = disc.get("port", 8080)
    for p in hl["spec"].get("ports", []):
        t = p.get("targetPort", p["port"])
        cp = cports.get(t) if isinstance(t, str) else t
        lports = sorted({port_of(a) for a in listens})
        if not (p["port"] == cp == dport and dport in lports):
            fail(f"headless Service {hl['metadata']['name']}: port {p['port']}, container port"
                 f" {cp}, cluster.discovery.port {dport}, listen ports {lports}: not one port")
    if not hl["spec"].get("ports"):
        fail(f"headless Service {hl['metadata']['name']} has no port")
    if hl["spec"].get("publishNotReadyAddresses"):
        fail(f"headless Service {hl['metadata']['name']} publishes unready pods: members would"
             " forward to pods that cannot answer yet, or that drain")
    want = f"{hl['metadata']['name']}.{namespace(hl)}.svc.cluster.local"
    if str(disc.get("dns", "")).rstrip(".") != want:
        fail(f"cluster.discovery.dns {disc.get('dns')!r} is not the headless Service's"
             f" name {want!r}")
    # Self: one file for every pod, so found by discovery, or a numeric address.
    if "self" in cl:
        try:
            host = str(cl["self"]).rsplit(":", 1)[0].strip("[]")
            ipaddress.ip_address(host)
            port_of(str(cl["self"]))
        except ValueError:
            fail(f"cluster.self {cl['self']!r} is not numeric IP:PORT (leave it out: discovery"
                 " finds each pod)")
    if dep["spec"].get("replicas", 1) < 2:
        fail(f"replicas {dep['spec'].get('replicas', 1)}: a cluster of one forwards nothing")
    anti = dep["spec"]["template"]["spec"].get("affinity", {}).get("podAntiAffinity", {})
    for k, terms in anti.items():
        for t in terms:
            t = t.get("podAffinityTerm", t)
            selects(t.get("labelSelector", {}).get("matchLabels"), f"the podAntiAffinity's ({k})")


def main(root, binary):
    return (check_dir(root, "docker/k8s", binary, cluster=False) +
            check_dir(root, "docker/k8s/cluster", binary, cluster=True))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    failures = main(os.path.abspath(sys.argv[1]), sys.argv[2])
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    if not failures:
        print("k8s: Deployment, ConfigMap and Service line up; the configuration passes"
              " ringcache -t")
        print("k8s/cluster: Deployment, ConfigMap, Service and headless Service line up;"
              " discovery names the headless Service on the members' port; the configuration"
              " passes ringcache -t")
    sys.exit(1 if failures else 0)
