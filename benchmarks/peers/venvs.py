"""Each peer framework in its own virtualenv under benchmarks/.peers/<peer>/ (gitignored), created on
demand from pinned requirements, so that its dependencies never touch the project's environment.

A peer that does not install is reported as unavailable with pip's last error line; the run goes on."""

from __future__ import annotations

import shutil
import subprocess
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent / ".peers"
STAMP = ".requirements"  # written last: its content says which requirements the venv holds
INSTALL_TIMEOUT = 900.0


def python(name: str) -> Path:
    return ROOT / name / "bin" / "python"


def ready(name: str, requirements: tuple[str, ...]) -> bool:
    stamp = ROOT / name / STAMP
    return stamp.exists() and stamp.read_text() == "\n".join(requirements)


def ensure(name: str, distribution: str, requirements: tuple[str, ...], log: Any = None) -> dict[str, Any]:
    """Create (or reuse) the venv of peer NAME and return its status: {"status": "installed",
    "version": ...} or {"status": "unavailable", "error": pip's last error line}."""
    status: dict[str, Any] = {"requirements": list(requirements)}
    home = ROOT / name
    if not ready(name, requirements):
        if log:
            log(f"  creating the {name} virtualenv ({' '.join(requirements)}) in {home} (once) ...")
        shutil.rmtree(home, ignore_errors=True)
        venv.EnvBuilder(with_pip=True).create(home)
        proc = subprocess.run([str(python(name)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               *requirements], capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
        if proc.returncode != 0:
            return {**status, "status": "unavailable", "error": last_error(proc.stderr or proc.stdout)}
        (home / STAMP).write_text("\n".join(requirements))
    script = f"from importlib.metadata import version; print(version({distribution!r}))"
    version = subprocess.run([str(python(name)), "-c", script], capture_output=True, text=True, check=False)
    if version.returncode != 0:
        return {**status, "status": "unavailable", "error": last_error(version.stderr)}
    return {**status, "status": "installed", "version": version.stdout.strip()}


def last_error(output: str) -> str:
    """pip's error, not the warnings around it: the last ERROR line, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["(no output)"])[-1]
