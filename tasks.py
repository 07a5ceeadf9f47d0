#!/usr/bin/env python3
"""Bootstrap and run the project with nothing but Python 3.11+.

    python3 tasks.py run     # create .venv if missing, migrate, start the bot (SQLite, no token)
    python3 tasks.py test    # create .venv if missing, run ruff and the test suite (in parallel)
    python3 tasks.py bench   # run the benchmarks in bench/
    python3 tasks.py lock    # re-resolve requirements/lock.txt after changing dependencies

The virtual environment installs exactly the versions in requirements/lock.txt (then the project
itself without dependencies), so a fresh machine runs what was tested. It is rebuilt only when
pyproject.toml or the lock changes (a stamp file holds their hash). The lock is made by pip-tools'
pip-compile from pyproject.toml: a plain requirements file any pip can install, no new tool.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".ocop-installed"
LOCK = ROOT / "requirements" / "lock.txt"
COMPILE = [
    "--extra=dev",
    "--extra=postgres",
    "--strip-extras",
    "--allow-unsafe",
    "--no-emit-index-url",
    "--no-emit-find-links",
    f"--output-file={LOCK.relative_to(ROOT)}",
    "pyproject.toml",
]


def _pyproject_hash() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    if LOCK.exists():
        digest.update(LOCK.read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (this file runs under any python3)
        sys.exit("ocop-bot needs Python 3.11 or newer; this is " + sys.version.split()[0])
    if not PY.exists():
        print("Creating the virtual environment in .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    if STAMP.exists() and STAMP.read_text() == _pyproject_hash():
        return
    print("Installing dependencies into .venv ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    if LOCK.exists():
        subprocess.run([*pip, "-r", str(LOCK)], check=True, cwd=ROOT)
        subprocess.run([*pip, "--no-deps", "-e", "."], check=True, cwd=ROOT)
    else:  # no lock yet: resolve from pyproject.toml
        subprocess.run([*pip, "-e", ".[dev,postgres]"], check=True, cwd=ROOT)
    STAMP.write_text(_pyproject_hash())


def run(args: list[str]) -> int:
    return subprocess.call([str(BIN / "ocop-bot"), *(args or ["run"])], cwd=ROOT)


def _parallel(args: list[str]) -> list[str]:
    """pytest-xdist options: two workers per core, at most 8 unless there are more cores (a
    worker often waits for a bot process or a paced fake platform, but the run is CPU-bound: on
    2 cores, 2026-12-01, 4 workers took 160 s and 6 took 180 s; idle workers take tests from
    busy ones). Left out when the caller chose (``-n 0``, ``-p no:xdist``) or wants a debugger
    (``--pdb``)."""
    chosen = any(a.startswith(("-n", "--numprocesses")) for a in args)
    if chosen or "no:xdist" in args or "--pdb" in args:
        return []
    cores = os.cpu_count() or 1
    workers = max(cores, min(8, 2 * cores))
    return ["-n", str(workers), "--dist", "worksteal"]


def _test_env() -> dict[str, str]:
    """Bytecode caches even where PYTHONDONTWRITEBYTECODE is set (container images set it):
    without them every xdist worker compiles the project and rewrites the asserts of every test
    module again, and so does every ``ocop-bot`` process the tests start (__pycache__ is
    ignored by git)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def test(args: list[str]) -> int:
    rc = subprocess.call([str(BIN / "ruff"), "check", "."], cwd=ROOT)
    if rc != 0:
        return rc
    rc = subprocess.call([str(BIN / "ruff"), "format", "--check", "."], cwd=ROOT)
    if rc != 0:
        return rc
    pytest = [str(PY), "-m", "pytest", *_parallel(args), *args]
    return subprocess.call(pytest, cwd=ROOT, env=_test_env())


def bench(args: list[str]) -> int:
    rc = 0
    names = args or sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name[0] != "_")
    for name in names:
        print(f"== bench/{name}", flush=True)
        rc |= subprocess.call([str(PY), str(ROOT / "bench" / name)], cwd=ROOT)
    return rc


def lock(args: list[str]) -> int:
    """Re-resolve the lock from pyproject.toml (add ``--upgrade`` to move to newer versions)."""
    rc = subprocess.call([str(BIN / "pip-compile"), "-q", *COMPILE, *args], cwd=ROOT)
    if rc == 0:
        print(f"Wrote {LOCK.relative_to(ROOT)}; `python3 tasks.py test` installs it.", flush=True)
    return rc


COMMANDS = {"run": run, "test": test, "bench": bench, "lock": lock}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit("usage: python3 tasks.py {run|test|bench|lock} [args...]")
    ensure_venv()
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))


if __name__ == "__main__":
    main()
