"""Install the peers from the registries (recipes in shared/PEERS.md); report what failed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PEERS = Path(__file__).parent
VENV = PEERS / ".venv"
NCHAN_MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")


def _run(*args: str, cwd: Path = PEERS) -> str:
    """Run one install step; returns '' on success, else the tail of its output."""
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return "" if done.returncode == 0 else (done.stdout + done.stderr)[-500:]


def _nchan() -> str:
    if shutil.which("nginx") and NCHAN_MODULE.exists():
        return ""
    if os.geteuid() != 0:
        return "needs root for apt-get install nginx libnginx-mod-nchan"
    packages = ("nginx", "libnginx-mod-nchan")
    if _run("apt-get", "install", "-y", "-qq", *packages):
        _run("apt-get", "update", "-qq")
        return _run("apt-get", "install", "-y", "-qq", *packages)
    return ""


def _node() -> str:
    if (PEERS / "node_modules").exists():
        return ""
    if shutil.which("npm") is None:
        return "npm not found"
    return _run("npm", "install", "--no-audit", "--no-fund", "--loglevel=error")


def _python() -> str:
    if (VENV / "bin" / "python").exists():
        return ""
    error = _run(sys.executable, "-m", "venv", str(VENV))
    pip = str(VENV / "bin" / "pip")
    return error or _run(pip, "install", "--quiet", "-r", str(PEERS / "requirements.txt"))


def install() -> dict[str, str]:
    """Each peer family and why it failed to install ('' when it is ready)."""
    return {"nchan": _nchan(), "node": _node(), "python": _python()}


if __name__ == "__main__":
    for family, error in install().items():
        print(f"{family}: {'ok' if not error else 'FAILED: ' + error}")
