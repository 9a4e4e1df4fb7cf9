"""What the multi-region e2e tests (federation/federation_e2e.py, live_regions/live_regions_e2e.py) share: free
loopback ports, a work dir whose processes are stopped and which is removed at the end (KEEP_WORK=1 keeps it), and
waiting until a deployment answers /healthz."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_work_dir(prefix, run):
    """Calls run(work, procs) with a fresh work dir and an empty dict for the processes it starts (name -> Popen);
    afterwards every process still running is terminated (killed after 20 s) and the work dir removed."""
    work = tempfile.mkdtemp(prefix=prefix)
    procs = {}
    try:
        run(work, procs)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("KEEP_WORK"):
            print("work dir kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def wait_healthy(name, port, proc, log_path, fail):
    """Until 127.0.0.1:port answers GET /healthz with 200 (20 s at most); fail(message) if proc exits first (with
    the tail of its log) or it never answers."""
    for _ in range(200):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=2) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        if proc.poll() is not None:
            with open(log_path) as f:
                fail("%s exited: %s" % (name, f.read()[-3000:]))
        time.sleep(0.1)
    fail(name + " did not start")
