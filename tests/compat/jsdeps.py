"""jsdeps.py — the JavaScript Kafka clients of tests/js/package.json
(exact versions, package-lock.json), installed with `npm ci` on first use.

    import jsdeps
    d = jsdeps.scenario_dir()   # a temp dir: tests/js/*.mjs beside
                                # a node_modules of the installed clients
    differential.run_program(["node", os.path.join(d, "x.mjs")], bs)

The install is ~/.cache/nodata-tests/js-<16 hex of the hash of
package.json and package-lock.json> ($ND_TEST_CACHE overrides the root),
made under an exclusive flock, a marker file written last, so parallel
tests share one and a killed install is redone.

@confluentinc/kafka-javascript is native (librdkafka). Its prebuilt
binary is downloaded from GitHub releases, which may be unreachable;
node-pre-gyp then builds it from the librdkafka source the package
bundles. CKJS_LINKING=dynamic makes that build link Debian's libssl,
libsasl2, libzstd, liblz4 and libcurl (scripts/install-deps.sh) instead
of downloading their sources from GitHub too (about 2 minutes on 2 cores,
once). Without node/npm or the registry, the test is skipped (a failure
under CI).
"""
import atexit
import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
import tempfile

import ndtest
import pyvenv

HERE = os.path.dirname(os.path.abspath(__file__))
JS = os.path.join(HERE, "..", "js")


def install_dir():
    h = hashlib.sha256()
    for f in ("package.json", "package-lock.json"):
        with open(os.path.join(JS, f), "rb") as fh:
            h.update(fh.read())
    root = pyvenv.cache_dir()
    os.makedirs(root, exist_ok=True)
    d = os.path.join(root, "js-" + h.hexdigest()[:16])
    done = os.path.join(d, ".complete")
    if not shutil.which("node") or not shutil.which("npm"):
        ndtest.skip("the JavaScript clients need node and npm")
    with open(d + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(done):
            return d
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for f in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(JS, f), d)
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund",
                            "--loglevel=error"], cwd=d, capture_output=True,
                           timeout=1800,
                           # JOBS unset: node-gyp's make runs one job,
                           # as the package's gyp files need (a parallel
                           # make builds before librdkafka's configure).
                           env=dict(os.environ, CKJS_LINKING="dynamic"))
        if r.returncode != 0:
            shutil.rmtree(d, ignore_errors=True)
            ndtest.skip("npm ci of tests/js failed:\n%s" % (
                (r.stdout + r.stderr).decode(errors="replace")[-3000:]))
        with open(done, "w") as f:
            f.write("ok\n")
    return d


def scenario_dir():
    """A temp dir (removed at exit) holding copies of tests/js/*.mjs and a
    node_modules link to the install, so the scripts import the clients."""
    d = install_dir()
    tmp = tempfile.mkdtemp(prefix="nd-js-")
    atexit.register(shutil.rmtree, tmp, True)
    os.symlink(os.path.join(d, "node_modules"),
               os.path.join(tmp, "node_modules"))
    for f in glob.glob(os.path.join(JS, "*.mjs")):
        shutil.copy(f, tmp)
    return tmp
