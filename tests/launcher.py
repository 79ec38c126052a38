"""Whole `glue-repro` processes for the tests, forked from one that has imported TensorFlow once.

Importing TensorFlow costs 6-10 s of CPU a process on these machines. A process that has
imported it but run no op yet can fork, and the child runs ops at once (a fork after the
first op hangs). So the tests' `glue-repro` processes are forked from a launcher that imports
TensorFlow, tf-keras, transformers and the package, runs nothing, and forks on request.
Environment variables TensorFlow reads at import (TF_ENABLE_ONEDNN_OPTS, TF_CPP_MIN_LOG_LEVEL)
are the launcher's: a test about them starts a real process.

Requests and answers are JSON lines on the launcher's stdin and stdout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _serve() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from glue_repro import cli, runtime

    runtime.prefer_onednn()
    runtime.import_tensorflow_quietly()
    import transformers  # noqa: F401
    from transformers import TFAutoModelForSequenceClassification  # noqa: F401

    import glue_repro.run  # noqa: F401

    answer = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "spawn":
            reply = {"pid": _fork(cli, request)}
        else:  # wait for a child, at most `timeout` seconds (None: until it ends)
            reply = {"code": _wait(request["pid"], request.get("timeout"))}
        answer.write(json.dumps(reply) + "\n")
        answer.flush()


def _fork(cli, request) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: the request's environment, folder and output files, then the command
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        for fd, path in ((1, request["out"]), (2, request["err"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), fd)
        sys.stdin.close()
        sys.argv = ["glue-repro", *request["argv"]]
        code = cli.main(request["argv"])
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _wait(pid: int, timeout: float | None) -> int | None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)  # -N when signal N ended it, as subprocess says
        if deadline is not None and time.monotonic() > deadline:
            return None
        time.sleep(0.05)


class Launcher:
    """The launcher process of this test process; `spawn` and `run` are its two uses.

    `isolated`: the launcher and its children run in a network namespace of their own, where
    loopback is the only interface (TensorFlow's collective server listens on every interface).
    """

    def __init__(self, isolated: bool = False):
        env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
        command = [sys.executable, "-m", "tests.launcher"]
        if isolated:
            command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "-", *command]
        self._server = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)

    def _ask(self, **request) -> dict:
        self._server.stdin.write(json.dumps(request) + "\n")
        self._server.stdin.flush()
        line = self._server.stdout.readline()
        if not line:
            raise RuntimeError(f"the test launcher ended (exit code {self._server.poll()})")
        return json.loads(line)

    def spawn(self, argv, out: Path, err: Path | None = None, env: dict | None = None) -> Child:
        """`glue-repro ARGV` as a child process writing stdout to `out` and stderr to `err` (or `out`)."""
        child_env = dict(os.environ if env is None else env)
        for path in (out, err or out):
            Path(path).touch()  # there for the test to read from the start
        pid = self._ask(op="spawn", argv=list(argv), env=child_env, cwd=str(REPO), out=str(out),
                        err=str(err or out))["pid"]
        return Child(self, pid)

    def run(self, argv, folder: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        """`glue-repro ARGV` to its end, like subprocess.run with capture_output and text."""
        folder.mkdir(parents=True, exist_ok=True)
        out, err = folder / f"out-{time.monotonic_ns()}.txt", folder / f"err-{time.monotonic_ns()}.txt"
        code = self.spawn(argv, out, err, env).wait(timeout)
        return subprocess.CompletedProcess(argv, code, out.read_text(), err.read_text())

    def close(self) -> None:
        self._server.stdin.close()
        self._server.wait(timeout=30)


class Child:
    """A forked `glue-repro` process, as much of subprocess.Popen as the tests use."""

    def __init__(self, launcher: Launcher, pid: int):
        self._launcher, self.pid, self.returncode = launcher, pid, None

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._launcher._ask(op="wait", pid=self.pid, timeout=0)["code"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._launcher._ask(op="wait", pid=self.pid, timeout=timeout)["code"]
            if self.returncode is None:
                self.send_signal(signal.SIGKILL)
                self._launcher._ask(op="wait", pid=self.pid, timeout=None)
                raise subprocess.TimeoutExpired(self.pid, timeout)
        return self.returncode


if __name__ == "__main__":
    _serve()
