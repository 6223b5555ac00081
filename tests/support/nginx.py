"""deploy/nginx.conf run for real in front of test nodes: one foreground nginx, all under a temp dir."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.processes import free_port

NGINX_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
# Every path nginx writes to by default is under /var: each goes to the temp dir instead.
_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
_UPSTREAM_SERVER = re.compile(r"^([ \t]*)server [\w.-]+:\d+;\n", re.MULTILINE)


def render(text: str, upstreams: Sequence[str], port: int, workdir: Path) -> str:
    """The deployed config with the compose node names swapped for `upstreams` (host:port),
    listening on 127.0.0.1:`port`, with its pid, logs and temp files in `workdir`."""
    found = list(_UPSTREAM_SERVER.finditer(text))
    assert found, "deploy/nginx.conf names no upstream server"
    start, end = found[0].start(), found[-1].end()
    assert text[start:end] == "".join(m[0] for m in found), "upstream servers not together"
    servers = "".join(f"{found[0][1]}server {upstream};\n" for upstream in upstreams)
    text = text[:start] + servers + text[end:]
    text = re.sub(r"listen \d+;", f"listen 127.0.0.1:{port};", text)
    text = text.replace("/var/log/nginx/", f"{workdir}/")
    temp = "".join(f"    {name}_temp_path {workdir}/{name};\n" for name in _TEMP_PATHS)
    text = text.replace("http {\n", "http {\n" + temp, 1)
    return f"pid {workdir}/nginx.pid;\n{text}"


@dataclass
class NginxProcess:
    """nginx with `daemon off;` in its own process group, so no worker outlives the test."""

    upstreams: Sequence[str]
    port: int = field(default_factory=free_port)
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bp-nginx-")))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("nginx")
        if binary is None:
            raise RuntimeError("nginx is not installed: run `make nginx`")
        conf = self.dir / "nginx.conf"
        conf.write_text(render(NGINX_CONF.read_text(), self.upstreams, self.port, self.dir))
        args = [binary, "-p", str(self.dir), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"]
        with (self.dir / "stderr.log").open("wb") as err:
            self.proc = subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
            )
        try:
            self._wait_serving()
        except BaseException:
            self.stop()
            raise

    def _wait_serving(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.errors()}")
            with suppress(httpx.TransportError):
                httpx.get(f"{self.url}/healthz", timeout=0.5)
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"nginx did not listen on {self.port}:\n{self.errors()}")
            time.sleep(0.05)

    def errors(self) -> str:
        """The end of what nginx reported, for a failing test's message."""
        logs = (self.dir / "stderr.log", self.dir / "error.log")
        return "".join(path.read_text(errors="replace") for path in logs if path.exists())[-4000:]

    def stop(self) -> None:
        """SIGTERM is nginx's fast shutdown: SIGQUIT would wait for every open stream to end."""
        if self.proc is None:
            return
        group = self.proc.pid
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        # Workers outlive a master that was killed: end whatever is left of its group.
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.proc = None


@contextmanager
def nginx_process(upstreams: Sequence[str]) -> Iterator[NginxProcess]:
    """deploy/nginx.conf in front of `upstreams` until the block ends."""
    nginx = NginxProcess(upstreams)
    nginx.start()
    try:
        yield nginx
    finally:
        nginx.stop()
        shutil.rmtree(nginx.dir, ignore_errors=True)
