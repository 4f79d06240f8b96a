"""jsdeps.py — the npm packages of a tests/ directory's package.json
(exact versions, package-lock.json), installed with `npm ci` on first use:
tests/js (the JavaScript Kafka clients, the default) and tests/console
(Playwright and axe-core, for the console's browser tests).

    import jsdeps
    d = jsdeps.scenario_dir()   # a temp dir: tests/js/*.mjs beside
                                # a node_modules of the installed clients
    differential.run_program(["node", os.path.join(d, "x.mjs")], bs)
    d = jsdeps.scenario_dir(jsdeps.CONSOLE)   # tests/console's

The install is ~/.cache/nodata-tests/NAME-<16 hex of the hash of
package.json and package-lock.json> (NAME: the directory's, "js" or
"console"; $ND_TEST_CACHE overrides the root), made under an exclusive
flock, a marker file written last, so parallel tests share one and a
killed install is redone.

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
JS = os.path.normpath(os.path.join(HERE, "..", "js"))
CONSOLE = os.path.normpath(os.path.join(HERE, "..", "console"))


def install_dir(src=JS):
    """The install of src's package.json: a cache directory holding
    node_modules (made on first use)."""
    h = hashlib.sha256()
    for f in ("package.json", "package-lock.json"):
        with open(os.path.join(src, f), "rb") as fh:
            h.update(fh.read())
    root = pyvenv.cache_dir()
    os.makedirs(root, exist_ok=True)
    d = os.path.join(root, os.path.basename(src) + "-" + h.hexdigest()[:16])
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
            shutil.copy(os.path.join(src, f), d)
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund",
                            "--loglevel=error"], cwd=d, capture_output=True,
                           timeout=1800,
                           # JOBS unset: node-gyp's make runs one job,
                           # as the package's gyp files need (a parallel
                           # make builds before librdkafka's configure).
                           env=dict(os.environ, CKJS_LINKING="dynamic"))
        if r.returncode != 0:
            shutil.rmtree(d, ignore_errors=True)
            ndtest.skip("npm ci of %s failed:\n%s" % (src,
                (r.stdout + r.stderr).decode(errors="replace")[-3000:]))
        with open(done, "w") as f:
            f.write("ok\n")
    return d


def scenario_dir(src=JS):
    """A temp dir (removed at exit) holding copies of src's *.mjs and a
    node_modules link to the install, so the scripts import the
    packages."""
    d = install_dir(src)
    tmp = tempfile.mkdtemp(prefix="nd-js-")
    atexit.register(shutil.rmtree, tmp, True)
    os.symlink(os.path.join(d, "node_modules"),
               os.path.join(tmp, "node_modules"))
    for f in glob.glob(os.path.join(src, "*.mjs")):
        shutil.copy(f, tmp)
    return tmp
