"""Ray clusters for the tests, kept on loopback and stopped by process id.

`Watch` samples, while a test runs, every socket of a process tree (a sweep's driver and the
Ray processes it starts, or the nodes started here) and keeps any that is not on loopback.
`Started` finds every process a test started, orphans included, and kills them by pid.

Run as a script inside a fresh network namespace (`unshare -n`, where loopback is the only
interface), it starts a cluster of several nodes with Ray's own test helper, runs a command
against it with `--address`, and writes what it saw as JSON:

    unshare -n sh -c 'ip link set lo up && exec python tests/ray_nodes.py --nodes 2 --out r.json -- CMD...'
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import subprocess
import threading

import psutil


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8 and ::1, and IPv4 loopback written as IPv6 (::ffff:127.0.0.1).

    >>> is_loopback("127.0.0.1"), is_loopback("::ffff:127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    address = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


class Watch:
    """Every inet socket of `root` and its descendants, sampled every `every` s until `stop`: how many,
    those on any address but loopback, and among them listeners on every interface (0.0.0.0, ::)."""

    def __init__(self, root: int, every: float = 0.5):
        self.root, self.every = root, every
        self.sockets, self.elsewhere, self.wildcard, self.pids = 0, set(), set(), set()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._done.wait(self.every):
            self.sample()

    def sample(self) -> None:
        try:
            tree = [psutil.Process(self.root), *psutil.Process(self.root).children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for process in tree:
            try:
                connections = process.net_connections("inet")
                self.pids.add(process.pid)
            except psutil.Error:
                continue
            for c in connections:
                self.sockets += 1
                for end in (c.laddr, c.raddr):
                    if end and not is_loopback(end.ip):
                        seen = f"{process.name()} {end.ip}:{end.port} {c.status}"
                        every = end is c.laddr and end.ip in ("0.0.0.0", "::") and c.status == psutil.CONN_LISTEN
                        (self.wildcard if every else self.elsewhere).add(seen)

    def stop(self) -> Watch:
        self._done.set()
        self._thread.join()
        return self


class Started:
    """The processes a test starts from now on: its new children, their descendants, and the orphans
    of those (a killed driver's Ray processes), which come to it as their subreaper. Processes it had
    before (the test launcher) are not its to stop."""

    def __init__(self):
        import ctypes

        PR_SET_CHILD_SUBREAPER = 36
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        self.me = psutil.Process()
        self.before = {p.pid for p in self.me.children()}

    def processes(self) -> list[psutil.Process]:
        found = []
        for child in self.me.children():
            if child.pid not in self.before:
                try:
                    found += [child, *child.children(recursive=True)]
                except psutil.NoSuchProcess:
                    continue
        return found

    def living(self) -> list[psutil.Process]:
        """Those still running; those that ended (zombies, ours to reap) are reaped."""
        alive = []
        for p in self.processes():
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
                elif p.ppid() == self.me.pid:
                    os.waitpid(p.pid, os.WNOHANG)
            except (psutil.Error, ChildProcessError):
                pass
        return alive

    def stop(self) -> None:
        """SIGKILL each one (by pid) still alive, and reap them."""
        processes = self.processes()
        for p in processes:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(processes, timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=1, help="CPUs each node offers")
    parser.add_argument("--out", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    interfaces = sorted(psutil.net_if_addrs())
    from ray.cluster_utils import Cluster

    started = Started()
    node = {"num_cpus": args.cpus, "node_ip_address": "127.0.0.1"}
    cluster = Cluster(initialize_head=True, head_node_args=node | {"include_dashboard": False})
    try:
        for _ in range(args.nodes - 1):
            cluster.add_node(**node)
        cluster.wait_for_nodes()
        watch = Watch(os.getpid())
        done = subprocess.run([*command, "--address", cluster.address], capture_output=True, text=True)
        watch.sample()
        watch.stop()
    finally:
        cluster.shutdown()
        started.stop()
    with open(args.out, "w") as f:
        json.dump({"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
                   "interfaces": interfaces, "sockets": watch.sockets, "elsewhere": sorted(watch.elsewhere),
                   "wildcard": sorted(watch.wildcard),
                   "address": cluster.address, "left": [p.pid for p in started.living()]}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
