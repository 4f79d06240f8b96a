"""pyvenv.py — a Python venv with the PyPI Kafka clients the differential
tests use (tests/python/requirements.txt), made on first use.

    import pyvenv
    py = pyvenv.python()   # path of the venv's python3

The venv is ~/.cache/nodata-tests/venv-<16 hex of the hash of the
requirements file> ($ND_TEST_CACHE overrides ~/.cache/nodata-tests). Tests
run in parallel: the first one creates it under an exclusive flock, the
others wait on the lock and then find it complete (a marker file written
last). A half-made venv (a killed run) has no marker and is made again.
Without the venv module or PyPI the test is skipped (a failure under CI).
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys

import ndtest

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIREMENTS = os.path.join(HERE, "..", "python", "requirements.txt")


def cache_dir():
    return os.environ.get("ND_TEST_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "nodata-tests")


def python(requirements=REQUIREMENTS):
    with open(requirements, "rb") as f:
        key = hashlib.sha256(f.read()).hexdigest()[:16]
    root = cache_dir()
    os.makedirs(root, exist_ok=True)
    venv = os.path.join(root, "venv-" + key)
    py = os.path.join(venv, "bin", "python3")
    done = os.path.join(venv, ".complete")
    with open(venv + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(done):
            return py
        shutil.rmtree(venv, ignore_errors=True)
        r = subprocess.run([sys.executable, "-m", "venv", venv],
                           capture_output=True, timeout=300)
        if r.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            ndtest.skip("python3 -m venv failed (python3-venv missing?): %s"
                        % r.stderr.decode(errors="replace")[-500:])
        # --no-deps: the file pins every package, so what runs is what the
        # file says, not what a resolver picks on the day.
        r = subprocess.run([py, "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", "--no-deps",
                            "-r", requirements],
                           capture_output=True, timeout=900)
        if r.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            ndtest.skip("pip install -r %s failed:\n%s" % (
                requirements, (r.stdout + r.stderr).decode(
                    errors="replace")[-2000:]))
        with open(done, "w") as f:
            f.write("ok\n")
    return py
