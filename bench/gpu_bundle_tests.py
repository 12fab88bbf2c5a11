#!/usr/bin/env python3
"""Runs the test list of a GPU bundle (bench/gpu-bundle.sh) where ctest's own
files cannot: CTestTestfile.cmake names the absolute paths of the machine that
built it, the bundle's tests.json names @SRC@ (the source tree) and @BUILD@
(the bundle's build folder) instead.

    gpu_bundle_tests.py --manifest tests.json --src SRC --build BUILD
                        [-j N] [--timeout S] [--stop-after S]
                        [--include REGEX] [--exclude REGEX] [--label-exclude LABEL ...] [--set K=V ...]

Prints ctest's lines ("  3/40 Test  #3: name ....   Passed    1.23 sec",
"***Failed", "***Timeout", "Not Run (Disabled)"), with the output of each test
that did not pass, so that bench/gpu-check.sh reads it as it reads ctest's log.
Exit 0 when every test that ran passed and none was left unstarted, else 8
(ctest's exit status for failed tests).
"""
import argparse
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("-j", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=float, default=0, help="at most this per test (0: the test's own)")
    ap.add_argument("--stop-after", type=float, default=0, help="start no test after this many seconds")
    ap.add_argument("--include", default="")
    ap.add_argument("--exclude", default="")
    ap.add_argument("--label-exclude", action="append", default=[])
    ap.add_argument("--set", action="append", default=[], help="K=V over the tests' own environment")
    a = ap.parse_args()

    src, build = os.path.abspath(a.src), os.path.abspath(a.build)

    def sub(s):
        return s.replace("@SRC@", src).replace("@BUILD@", build)

    tests = json.load(open(a.manifest))["tests"]
    sel = []
    for t in tests:
        if a.include and not re.search(a.include, t["name"]):
            continue
        if a.exclude and re.search(a.exclude, t["name"]):
            continue
        if set(a.label_exclude) & set(t.get("labels", [])):
            continue
        sel.append(t)
    n = len(sel)
    print("Test project %s (bundle %s, %d of %d tests selected)" % (build, a.manifest, n, len(tests)), flush=True)
    start = time.time()
    lock = threading.Lock()
    results = {}
    done = [0]

    def line(i, t, status, secs, out=""):
        with lock:
            done[0] += 1
            star = "" if status in ("Passed", "Not Run (Disabled)") else "***"
            print("%3d/%d Test #%d: %s %s %s%s %7.2f sec" % (done[0], n, i + 1, t["name"], "." * max(3, 40 - len(t["name"])),
                                                          star, status, secs), flush=True)
            if out:
                tail = out.splitlines()[-150:]
                print("\n".join(tail), flush=True)
            results[t["name"]] = status

    def run(i, t):
        req = t.get("fixtures_required", [])
        # a fixture whose setup test is disabled or absent (mini_dataset needs NEURON): not run, as ctest
        setups = [[x for x in tests if f in x.get("fixtures_setup", [])] for f in req]
        if t.get("disabled") or any(not s or any(x.get("disabled") for x in s) for s in setups):
            line(i, t, "Not Run (Disabled)", 0)
            return
        if a.stop_after and time.time() - start > a.stop_after:
            with lock:
                results[t["name"]] = "Not Run"
            return
        limit = t.get("timeout") or 1500
        if a.timeout:
            limit = min(limit, a.timeout)
        env = dict(os.environ)
        for kv in t.get("env", []):
            k, _, v = sub(kv).partition("=")
            env[k] = v
        for kv in a.set:
            k, _, v = kv.partition("=")
            env[k] = v
        cmd = [sub(c) for c in t["command"]]
        wd = sub(t.get("working_directory") or "@BUILD@/tests")
        os.makedirs(wd, exist_ok=True)
        t0 = time.time()
        try:
            p = subprocess.Popen(cmd, cwd=wd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        except OSError as e:
            line(i, t, "Failed", 0, "cannot start %s: %s" % (cmd[0], e))
            return
        try:
            out, _ = p.communicate(timeout=limit)
            status = "Passed" if p.returncode == 0 else "Failed"
            if p.returncode < 0:
                status = "Exception"
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            status = "Timeout"
        txt = out.decode("utf-8", "replace") if out else ""
        line(i, t, status, time.time() - t0, "" if status == "Passed" else txt)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.j)) as ex:
        list(ex.map(lambda it: run(*it), list(enumerate(sel))))
    bad = [k for k, v in results.items() if v not in ("Passed", "Not Run (Disabled)")]
    passed = sum(1 for v in results.values() if v == "Passed")
    ran = sum(1 for v in results.values() if v not in ("Not Run", "Not Run (Disabled)"))
    print("\n%d%% tests passed, %d tests failed out of %d" % (100 * passed // max(ran, 1), ran - passed, ran))
    notrun = sorted(k for k, v in results.items() if v == "Not Run")
    if notrun:
        print("not started before the stop time: " + ", ".join(notrun))
    print("Total Test time (real) = %.2f sec" % (time.time() - start))
    return 0 if not bad else 8


if __name__ == "__main__":
    sys.exit(main())
