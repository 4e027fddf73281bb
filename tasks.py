#!/usr/bin/env python3
"""The two commands of the README, on a fresh clone with only Python present.

    python3 tasks.py demo    set everything up, load the demo registry, serve on 127.0.0.1:8000
    python3 tasks.py test    set everything up and run every test (what .ci/run does)
    python3 tasks.py token   a token from the demo's development key (--sub ID --scope S)
    python3 tasks.py cli     clearance-gateway on the demo's database and keys (any command)

Setup is a virtual environment in .venv with the project and its test tools installed; it is
redone only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".installed"


def run(*args: str | Path, **kwargs) -> None:  # type: ignore[no-untyped-def]
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kwargs)


def setup() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"clearance-gateway needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PY.exists():
        return
    if not PY.exists():
        print("Creating the virtual environment in .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PY, "-m", "pip", "install", "--quiet", "-e", ".[test]")
    STAMP.write_text(wanted)


def demo_env() -> dict[str, str]:
    """The demo's settings: its own database, documents and development keys under var/demo."""
    workdir = ROOT / "var" / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "GATEWAY_POLICY_DIR": str(ROOT / "policy"),
        "GATEWAY_DATABASE_URL": os.environ.get("GATEWAY_DATABASE_URL", f"sqlite:///{workdir / 'demo.db'}"),
        "GATEWAY_DOCUMENT_DIR": str(workdir / "documents"),
    }


def demo(args: list[str]) -> None:
    setup()
    os.execve(str(BIN / "clearance-gateway"), ["clearance-gateway", "serve", "--demo", *args], demo_env())


def token(args: list[str]) -> None:
    """A token signed by the demo's development key: `python3 tasks.py token --sub P-0002 --scope documents:read`."""
    cli(["token", *args])


def cli(args: list[str]) -> None:
    """clearance-gateway on the demo's database and keys: `python3 tasks.py cli registry show person P-0001`."""
    setup()
    os.execve(str(BIN / "clearance-gateway"), ["clearance-gateway", *args], demo_env())


def install_chromium() -> None:
    """The browser tests drive Debian's Chromium: as root on a machine with apt-get (CI), install it."""
    if Path("/usr/bin/chromium").exists() or os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    print("Chromium is missing: installing it with apt-get for the browser tests ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        print("+", " ".join(command), flush=True)
        if subprocess.call(command, cwd=ROOT, env=env) != 0:
            print("apt-get failed: the browser tests will say so (they fail under CI=true)", flush=True)
            return


def test(args: list[str]) -> None:
    setup()
    install_chromium()
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    paths = [p for p in ("gateway", "models", "tests", "bench", "tasks.py") if (ROOT / p).exists()]
    run(BIN / "ruff", "check", *paths, env=env)
    run(BIN / "mypy", env=env)  # gateway/ and models/, as pyproject.toml says
    run(BIN / "clearance-gateway", "policy", "check", "policy", env=env)
    run(BIN / "clearance-gateway", "policy", "test", "policy", "--junit", "test-artifacts/policy-junit.xml", env=env)
    # Two workers (pytest-xdist) unless the arguments choose: every test makes its own databases,
    # ports and folders, so they run side by side; `-n 0` runs them in one process.
    workers = [] if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args) else ["-n", "2"]
    code = subprocess.call([str(PY), "-m", "pytest", *workers, "--durations=10", *args], cwd=ROOT, env=env)
    sys.exit(code)


def main() -> None:
    commands = {"demo": demo, "test": test, "token": token, "cli": cli}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        sys.exit(2)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
