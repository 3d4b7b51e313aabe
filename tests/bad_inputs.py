#!/usr/bin/env python3
"""bad_inputs.py — the table-driven bad-input suite: every program meets bad, odd and hostile input
as a careless or hostile user would give it, and must answer with a clear error and the right exit
code, crash never, and leave the user's files as they were.

Each case (the table CASES, at the end) is a command, the class of exit it must end with, and what
must or must not exist afterwards. Every case also checks, without being told:
  - the program exited by itself (no crash signal) and no sanitizer report is on stderr;
  - an error exit (1) prints "<program>: error: ..." (or the example's "error:");
  - no temporary file (*.tmp) is left anywhere in the case's folder;
  - the files listed as `keep` hold exactly what they held before the command.

Fixtures are made once per run under --workdir: a tiny MVTec-style dataset (PNG files written
here), a run trained on it by sgsf_train (4 iterations, w = 4, 32 px, with calibration) and a
second run trained with another seed. Each case gets a fresh folder with a copy of the run where it
needs one, so cases cannot disturb each other.

Usage: python3 tests/bad_inputs.py --bin BUILD_DIR [--workdir DIR] [--jobs N] [--only SUBSTRING]
                                   [--sanitized]
--sanitized: the programs are a sanitizer build (memory limits do not apply there; the two cases
that measure memory under a limit are skipped, with a message).
Exit status: 0 when every case passed, 1 otherwise. Prints "N passed, N failed, N skipped".
"""
import argparse
import concurrent.futures
import csv
import hashlib
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib

from pngfile import png_bytes, png_file, png_pixels

# ---- fixtures ------------------------------------------------------------------------------------


def write_png(path, width, height, seed, channels=3, square=None):
    """A textured image (a different pattern per seed); `square` = (x0, y0, size) paints a bright patch."""
    def pixel(x, y):
        if square and square[0] <= x < square[0] + square[2] and square[1] <= y < square[1] + square[2]:
            return (250,) * channels
        v = (x * 7 + y * 13 + seed * 29 + ((x // 4 + y // 4 + seed) % 2) * 60) % 200 + 20
        return (v, (v * 3 + seed) % 256, (v * 5) % 256)[:channels]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(png_bytes(width, height, channels, pixel))


def long_png(path, width, height):
    """A grey PNG of any size, written row by row (a 1 x 16,777,216 image is 33 MB raw, ~50 KB packed)."""
    comp = zlib.compressobj(9)
    parts = []
    row = b"\x00" + bytes((x * 37) % 256 for x in range(width))
    for _ in range(height):
        parts.append(comp.compress(row))
    parts.append(comp.flush())
    with open(path, "wb") as f:
        f.write(png_file(width, height, 0, b"".join(parts)))


def make_dataset(root):
    cat = os.path.join(root, "widget")
    for i in range(8):
        write_png(os.path.join(cat, "train", "good", "%03d.png" % i), 40, 40, i)
    for i in range(3):
        write_png(os.path.join(cat, "test", "good", "%03d.png" % i), 40, 40, 20 + i)
    os.makedirs(os.path.join(cat, "ground_truth", "scratch"), exist_ok=True)
    for i in range(3):
        sq = (8 + 3 * i, 10, 12)
        write_png(os.path.join(cat, "test", "scratch", "%03d.png" % i), 40, 40, 30 + i, square=sq)
        # The mask: 255 on the patch, 0 elsewhere.
        with open(os.path.join(cat, "ground_truth", "scratch", "%03d_mask.png" % i), "wb") as f:
            f.write(png_bytes(40, 40, 1, lambda x, y, sq=sq: (255,) if sq[0] <= x < sq[0] + sq[2] and
                              sq[1] <= y < sq[1] + sq[2] else (0,)))


TRAIN = ["--layout", "mvtec", "--category", "widget", "--width", "4", "--size", "32", "--batch", "4",
         "--iterations", "4", "--lr", "1e-3", "--warmup", "0.25", "--device", "cpu", "--workers", "1",
         "--holdout", "0.25", "--quiet"]


class Env:
    """Paths shared by all cases."""

    def __init__(self, bindir, workdir, sanitized):
        self.bin = bindir
        self.work = workdir
        self.sanitized = sanitized
        self.data = os.path.join(workdir, "fixture", "data")
        self.run = os.path.join(workdir, "fixture", "run")
        self.run2 = os.path.join(workdir, "fixture", "run2")

    def program(self, name):
        return os.path.join(self.bin, name)

    def prepare(self):
        fixture = os.path.join(self.work, "fixture")
        stamp = os.path.join(fixture, "ready")
        if os.path.exists(stamp) and os.path.getmtime(stamp) > os.path.getmtime(self.program("sgsf_train")):
            return  # made by this build of sgsf_train
        shutil.rmtree(fixture, ignore_errors=True)
        make_dataset(self.data)
        for out, seed in ((self.run, "3"), (self.run2, "4")):
            r = subprocess.run([self.program("sgsf_train"), "--data", self.data, "--seed", seed, "--out", out] + TRAIN,
                               capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                sys.exit("bad_inputs: the fixture run could not be trained:\n" + r.stderr)
        open(stamp, "w").close()


# ---- one case ------------------------------------------------------------------------------------

EXIT = {"ok": {0}, "error": {1}, "usage": {2}, "refused": {1, 2}, "sigterm": {143}}
SANITIZER_MARKS = ("AddressSanitizer", "UndefinedBehaviorSanitizer", "runtime error:", "LeakSanitizer")


class Case:
    def __init__(self, name, cmd, exit, defect=None, setup=None, keep=(), exists=(), absent=(), err=None,
                 check=None, copy_run=False, rlimit_as=None, rlimit_fsize=None, skip_sanitized=False, run=None,
                 timeout=180):
        self.name = name            # what is tried, in words
        self.cmd = cmd              # argv; "{w}" is the case's folder, "{run}" its run, "{data}" the dataset
        self.exit = exit            # a key of EXIT
        self.defect = defect        # the number of the defect it reproduces, when it does
        self.setup = setup          # setup(ctx) before the command
        self.keep = keep            # paths (files or folders) whose content must not change
        self.exists = exists        # paths that must exist afterwards
        self.absent = absent        # paths that must not exist afterwards
        self.err = err              # text stderr must hold
        self.check = check          # check(ctx, result) -> None or what is wrong
        self.copy_run = copy_run    # the case gets its own copy of the fixture run at {w}/run
        self.rlimit_as = rlimit_as  # address-space limit (bytes) for the program
        self.rlimit_fsize = rlimit_fsize  # file-size limit (bytes): writes past it fail like a full disk
        self.skip_sanitized = skip_sanitized
        self.run_fn = run           # run(ctx) -> Result instead of one command (races, signals)
        self.timeout = timeout


class Result:
    def __init__(self, code, out, err, maxrss_kb=0):
        self.code, self.out, self.err, self.maxrss_kb = code, out, err, maxrss_kb


class Ctx:
    def __init__(self, env, case, folder):
        self.env, self.case, self.w = env, case, folder
        self.run = os.path.join(folder, "run") if case.copy_run else env.run

    def path(self, p):
        return p.format(w=self.w, run=self.run, data=self.env.data, run2=self.env.run2, fixture_run=self.env.run)

    def argv(self, cmd):
        prog = cmd[0]
        return [self.env.program(prog)] + [self.path(a) for a in cmd[1:]]

    def execute(self, cmd, wait=True, rlimit_as=None, rlimit_fsize=None, timeout=180):
        def limits():
            if rlimit_as:
                resource.setrlimit(resource.RLIMIT_AS, (rlimit_as, rlimit_as))
            if rlimit_fsize is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (rlimit_fsize, rlimit_fsize))
        p = subprocess.Popen(self.argv(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.w,
                             preexec_fn=limits, stdin=subprocess.DEVNULL)
        if not wait:
            return p
        return finish(p, timeout)


def finish(p, timeout=180):
    """Wait for a Popen (its rusage too), killing it past `timeout` seconds."""
    out_chunks, err_chunks = [], []
    t_out = threading.Thread(target=lambda: out_chunks.append(p.stdout.read()))
    t_err = threading.Thread(target=lambda: err_chunks.append(p.stderr.read()))
    t_out.start()
    t_err.start()
    deadline = time.time() + timeout
    status = None
    while status is None:
        pid, st, ru = os.wait4(p.pid, os.WNOHANG)
        if pid != 0:
            status = (st, ru)
            break
        if time.time() > deadline:
            p.kill()
        time.sleep(0.01)
    t_out.join()
    t_err.join()
    p.returncode = os.waitstatus_to_exitcode(status[0])
    out = out_chunks[0].decode("utf-8", "replace") if out_chunks else ""
    err = err_chunks[0].decode("utf-8", "replace") if err_chunks else ""
    return Result(p.returncode, out, err, status[1].ru_maxrss)


def snapshot(path):
    """The content of a file or folder tree as a digest (None when it does not exist)."""
    if os.path.islink(path):
        return ("link", os.readlink(path))
    if not os.path.exists(path):
        return None
    if os.path.isfile(path):
        with open(path, "rb") as f:
            return ("file", hashlib.sha256(f.read()).hexdigest())
    if os.path.isdir(path):
        return ("dir", tuple((name, snapshot(os.path.join(path, name))) for name in sorted(os.listdir(path))))
    st = os.lstat(path)
    return ("other", st.st_mode, st.st_rdev)


def temporaries(folder):
    found = []
    for root, dirs, files in os.walk(folder):
        for name in files + dirs:
            if name.endswith(".tmp") and not os.path.islink(os.path.join(root, name)):
                found.append(os.path.relpath(os.path.join(root, name), folder))
    return found


def run_case(env, case, index):
    if case.skip_sanitized and env.sanitized:
        return "skipped", case.skip_sanitized if isinstance(case.skip_sanitized, str) else \
            "measures memory under a limit, which a sanitizer build does not keep"
    folder = os.path.join(env.work, "cases", "%03d" % index)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    ctx = Ctx(env, case, folder)
    if case.copy_run:
        shutil.copytree(env.run, ctx.run, symlinks=True)
    if case.setup:
        skip = case.setup(ctx)
        if skip:
            return "skipped", skip
    before = {p: snapshot(ctx.path(p)) for p in case.keep}
    planted = set(temporaries(folder))
    if case.run_fn:
        r = case.run_fn(ctx)
        if isinstance(r, str):
            return "skipped", r
    else:
        r = ctx.execute(case.cmd, rlimit_as=case.rlimit_as, rlimit_fsize=case.rlimit_fsize, timeout=case.timeout)
    problems = []
    if r.code not in EXIT[case.exit]:
        problems.append("exit code %d, expected %s (%s)" % (r.code, case.exit, sorted(EXIT[case.exit])))
    if r.code < 0 or (r.code > 128 and r.code not in (130, 143)):
        problems.append("ended by a signal or crash (%d)" % r.code)
    for mark in SANITIZER_MARKS:
        if mark in r.err:
            problems.append("sanitizer report on stderr")
            break
    if case.exit == "error" and "error" not in r.err:
        problems.append("no error message on stderr")
    if case.err and case.err not in r.err:
        problems.append("stderr lacks %r" % case.err)
    for p in case.keep:
        if snapshot(ctx.path(p)) != before[p]:
            problems.append("%s changed" % p)
    for p in case.exists:
        if not os.path.lexists(ctx.path(p)):
            problems.append("%s is missing" % p)
    for p in case.absent:
        if os.path.lexists(ctx.path(p)):
            problems.append("%s exists" % p)
    left = sorted(set(temporaries(folder)) - planted)
    if left:
        problems.append("temporary files left: %s" % ", ".join(left))
    if case.check and not problems:
        what = case.check(ctx, r)
        if what:
            problems.append(what)
    if problems:
        tail = "\n      ".join(r.err.strip().splitlines()[-4:])
        return "failed", "; ".join(problems) + ("\n      stderr: " + tail if tail else "")
    shutil.rmtree(folder, ignore_errors=True)
    return "passed", ""


# ---- helpers for the table -----------------------------------------------------------------------

def sh(*commands):
    """setup from shell commands, run in the case's folder with {w}, {run}, {data} filled in."""
    def setup(ctx):
        for c in commands:
            subprocess.run(ctx.path(c), shell=True, check=True, cwd=ctx.w, executable="/bin/bash")
    return setup


def images(*names, folder="imgs", loop=None):
    """setup: a folder of small test images under these names: PNG files for names ending in .png,
    BMP files (converted here) for the others; `loop`: also a symlink of that name pointing at itself."""
    def setup(ctx):
        d = os.path.join(ctx.w, folder)
        os.makedirs(d, exist_ok=True)
        for k, n in enumerate(names):
            src = os.path.join(env_data_test(ctx), "%03d.png" % (k % 3))
            if n.endswith(".png"):
                shutil.copy(src, os.path.join(d, n))
            else:
                png_to_bmp(src, os.path.join(d, n))
        if loop:
            os.symlink(loop, os.path.join(d, loop))
    return setup


def env_data_test(ctx):
    return os.path.join(ctx.env.data, "widget", "test", "good")


def png_to_bmp(src, dst):
    """An RGB PNG as a 24-bit BMP (rows bottom up, BGR, padded to 4 bytes)."""
    w, h, rows = png_pixels(src)
    lines = []
    for row in reversed(rows):
        bgr = bytearray()
        for r, g, b in row:
            bgr += bytes((b, g, r))
        bgr += b"\x00" * ((4 - len(bgr) % 4) % 4)
        lines.append(bytes(bgr))
    pixels = b"".join(lines)
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    with open(dst, "wb") as f:
        f.write(header + info + pixels)


def csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def check_overlays(expected):
    def check(ctx, r):
        d = os.path.join(ctx.w, "out", "overlays")
        got = sorted(os.listdir(d)) if os.path.isdir(d) else []
        if len(got) != expected:
            return "%d overlays for %d images: %s" % (len(got), expected, got)
        rows = csv_rows(os.path.join(ctx.w, "out", "scores.csv"))
        named = sorted(row[4].split("/", 1)[1] for row in rows[1:])
        if named != got:
            return "scores.csv names overlays %s, the folder holds %s" % (named, got)
        return None
    return check


def check_csv_paths(names, folder="imgs"):
    """scores.csv, read back with Python's csv module, has one row of 5 fields per image, naming it."""
    def check(ctx, r):
        rows = csv_rows(os.path.join(ctx.w, "out", "scores.csv"))
        if rows[0] != ["path", "score", "normalized_score", "decision", "overlay"]:
            return "header %s" % rows[0]
        if any(len(row) != 5 for row in rows):
            return "a row without 5 fields: %s" % [row for row in rows if len(row) != 5]
        got = sorted(os.path.basename(row[0]) for row in rows[1:])
        if got != sorted(names):
            return "rows name %s, expected %s" % (got, sorted(names))
        return None
    return check


def concurrent_score(ctx):
    """Two sgsf_test --score into one --out, five rounds: each either finishes or is refused as the
    folder's second writer, and scores.csv is whole at the end."""
    cmd = ["sgsf_test", "--run", "{run}", "--score", "{w}/imgs", "--out", "{w}/out", "--quiet", "--workers", "1"]
    for _ in range(5):
        ps = [ctx.execute(cmd, wait=False) for _ in range(2)]
        results = [finish(p) for p in ps]
        for r in results:
            if r.code != 0 and "is in use by" not in r.err:
                return Result(r.code, r.out, r.err)
        rows = csv_rows(os.path.join(ctx.w, "out", "scores.csv"))
        if len(rows) != 1 + 30:
            return Result(1, "", "scores.csv has %d rows, expected 31" % len(rows))
    return Result(0, "", "")


def second_signal_during_save(ctx):
    """SIGTERM asks training to save; a second SIGTERM while the checkpoint's temporary file exists
    must remove it. The save must be caught while under way: retried up to 8 times with a model whose
    checkpoint takes a while to write; skipped if it never was."""
    cmd = ["sgsf_train", "--data", "{data}", "--out", "{w}/big", "--layout", "mvtec", "--category", "widget",
           "--width", "48", "--size", "16", "--batch", "2", "--iterations", "100000", "--device", "cpu",
           "--workers", "1", "--holdout", "0", "--quiet", "--log-every", "1"]
    big = os.path.join(ctx.w, "big")
    for attempt in range(8):
        shutil.rmtree(big, ignore_errors=True)
        p = ctx.execute(cmd, wait=False)
        deadline = time.time() + 120
        while time.time() < deadline and not os.path.exists(os.path.join(big, "train_log.jsonl")):
            time.sleep(0.01)
        time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        caught = False
        while p.poll() is None and time.time() < deadline:
            try:
                names = os.listdir(big)
            except FileNotFoundError:
                names = []
            if any(n.endswith(".tmp") for n in names):
                p.send_signal(signal.SIGTERM)
                caught = True
                break
        r = finish(p, 120)
        if caught:
            return r
    return "never caught the checkpoint while it was being written (8 tries)"


# ---- the table -----------------------------------------------------------------------------------

RUN_FILES = ["{run}/guidance.safetensors", "{run}/guidance", "{run}/calibration.json", "{run}/calibration.csv",
             "{run}/checkpoint.safetensors", "{run}/config.json", "{run}/train_log.jsonl"]
T = ["sgsf_train", "--data", "{data}", "--out", "{run}", "--seed", "3"] + TRAIN
TEST = ["sgsf_test", "--run", "{run}", "--quiet", "--workers", "1"]
EXPORT = ["sgsf_export", "--run", "{run}"]
DETECT = ["sgsf_detect_example", "{run}"]


def with_(base, *more):
    """base's arguments, then more (an option given again overrides the earlier value)."""
    return list(base) + list(more)


def build_cases():
    C = []
    add = C.append

    # -- defect 1: a refused --resume deletes nothing of a finished run
    for label, extra, setup in [
            ("--resume --width 16 (other settings)", ["--width", "16"], None),
            ("--resume with another --data", ["--data", "{w}/other"], sh("cp -r {data} {w}/other")),
            ("--resume --iterations 5 (other total)", ["--iterations", "5", "--lr", "2e-3"], None),
            ("--resume from a truncated checkpoint", [], sh("truncate -s 1000 {run}/checkpoint.safetensors")),
            ("--resume from a checkpoint that is not one", [], sh("echo nope > {run}/checkpoint.safetensors")),
            ("--resume with another --seed", ["--seed", "99"], None)]:
        add(Case("sgsf_train " + label + " on a finished run", with_(T, "--resume", *extra), "error", defect=1,
                 setup=setup, copy_run=True,
                 keep=[p for p in RUN_FILES if p != "{run}/checkpoint.safetensors"] + ["{data}"]))
    add(Case("sgsf_train --resume into a folder that does not exist leaves none behind",
             ["sgsf_train", "--data", "{data}", "--out", "{w}/new/run", "--resume"] + TRAIN, "error",
             absent=["{w}/new"]))
    add(Case("sgsf_train --resume into an empty folder keeps it empty", ["sgsf_train", "--data", "{data}", "--out",
             "{w}/empty", "--resume"] + TRAIN, "error", setup=sh("mkdir {w}/empty"), keep=["{w}/empty"]))
    add(Case("sgsf_train with bad data leaves no run folder", ["sgsf_train", "--data", "{w}/nothing", "--out",
             "{w}/r"] + TRAIN, "error", setup=sh("mkdir -p {w}/nothing/widget/train/good"), absent=["{w}/r"]))
    add(Case("sgsf_train into a finished run without --resume or --overwrite is refused, the run kept", T, "error",
             copy_run=True, keep=RUN_FILES + ["{run}/.sgsf.lock"], err="already holds a training run"))
    add(Case("sgsf_train --resume --overwrite together is refused", with_(T, "--resume", "--overwrite"), "error",
             copy_run=True, keep=RUN_FILES, err="exclude each other"))
    add(Case("sgsf_train --overwrite into a finished run trains it anew (exit 0)", with_(T, "--overwrite"), "ok",
             copy_run=True, exists=RUN_FILES))
    add(Case("sgsf_train without --data never writes the built-in dataset over a folder of someone's images",
             ["sgsf_train", "--out", "{w}/x/run", "--iterations", "1", "--quiet"], "error",
             setup=sh("mkdir -p {w}/x/builtin-data/widget/train/good", "cp {data}/widget/train/good/000.png "
                      "{w}/x/builtin-data/widget/train/good/mine.png"), keep=["{w}/x/builtin-data"], err="not written over",
             absent=["{w}/x/run"]))
    add(Case("sgsf_train --resume on a finished run finishes it again (exit 0), files whole",
             with_(T, "--resume"), "ok", copy_run=True, exists=RUN_FILES))

    # -- defect 2: --out equal to the folder being scored
    for label, out in [("the same path", "{w}/d"), ("with a trailing slash", "{w}/d/"), ("through '.'", "{w}/d/."),
                       ("through a link", "{w}/link")]:
        add(Case("sgsf_test --score d --out d (%s)" % label, TEST + ["--score", "{w}/d", "--out", out], "error",
                 defect=2, setup=sh("mkdir d", "cp {data}/widget/test/good/*.png d/", "ln -s d link"),
                 keep=["{w}/d"], err="holds the images being read"))
    add(Case("sgsf_test --score d/000.png --out d (the image's own folder)",
             TEST + ["--score", "{w}/d/000.png", "--out", "{w}/d"], "error", defect=2,
             setup=sh("mkdir d", "cp {data}/widget/test/good/*.png d/"), keep=["{w}/d"]))
    add(Case("sgsf_test --out inside the dataset's test folder",
             TEST + ["--data", "{w}/data", "--out", "{w}/data/widget/test/good"], "error", defect=2,
             setup=sh("cp -r {data} {w}/data"), keep=["{w}/data"]))
    add(Case("sgsf_test --score d --out d/sub (a new folder below): allowed, inputs untouched",
             TEST + ["--score", "{w}/d", "--out", "{w}/d/sub"], "ok",
             setup=sh("mkdir d", "cp {data}/widget/test/good/*.png d/"), keep=["{w}/d/000.png", "{w}/d/001.png"],
             exists=["{w}/d/sub/scores.csv"]))

    # -- defect 3: overlays that share a name
    add(Case("--score a.png and a.bmp: two overlays", TEST + ["--score", "{w}/imgs", "--out", "{w}/out"], "ok",
             defect=3, setup=images("a.png", "a.bmp"), check=check_overlays(2)))
    add(Case("--score 'x b.png' and 'x_b.png': two overlays", TEST + ["--score", "{w}/imgs", "--out", "{w}/out"], "ok",
             defect=3, setup=images("x b.png", "x_b.png"), check=check_overlays(2)))
    add(Case("--score a.png, a.png.png, a.bmp.png, a.bmp: four overlays",
             TEST + ["--score", "{w}/imgs", "--out", "{w}/out"], "ok", defect=3,
             setup=images("a.png", "a.png.png", "a.bmp", "a.bmp.png"), check=check_overlays(4)))
    add(Case("sgsf_test: test images good/000.png and good_000.png... (overlays unique per image)",
             TEST + ["--data", "{w}/data", "--out", "{w}/out"], "ok", defect=3,
             setup=sh("cp -r {data} {w}/data", "cp {w}/data/widget/test/good/000.png {w}/data/widget/test/good/000.bmp"),
             check=lambda ctx, r: None if len(os.listdir(os.path.join(ctx.w, "out", "overlays"))) == 7
             else "overlays: %s" % sorted(os.listdir(os.path.join(ctx.w, "out", "overlays")))))

    # -- defect 4: CSV as RFC 4180
    for names in [["comma,name.png", "plain.png"], ["new\nline.png", "b.png"], ['quote"d.png', "c.png"],
                  [" lead.png", "trail .png"], ["semi;colon.png", "tab\there.png"]]:
        add(Case("scores.csv with names %r" % names, TEST + ["--score", "{w}/imgs", "--out", "{w}/out"], "ok",
                 defect=4, setup=images(*names), check=check_csv_paths(names)))

    # -- defect 5: names at the 255-byte limit
    for n in (251, 252, 253, 255):
        name = "n" * (n - 4) + ".png"
        add(Case("--score a file with a %d-byte name" % n, TEST + ["--score", "{w}/imgs", "--out", "{w}/out"], "ok",
                 defect=5, setup=images(name), check=check_csv_paths([name]), exists=["{w}/out/scores.csv"]))
    uname = "é" * 125 + ".png"  # 254 bytes
    add(Case("--score a file with a 254-byte UTF-8 name", TEST + ["--score", "{w}/imgs", "--out", "{w}/out"], "ok",
             defect=5, setup=images(uname), check=check_csv_paths([uname])))

    # -- defect 6: memory bounded by the output
    add(Case("--score a 1 x 16,777,216 grey PNG under a 1.5 GB address-space limit",
             TEST + ["--score", "{w}/long.png", "--out", "{w}/out"], "ok", defect=6,
             setup=lambda ctx: long_png(os.path.join(ctx.w, "long.png"), 1, 16777216), rlimit_as=1536 << 20,
             skip_sanitized=True, timeout=300))
    add(Case("--score a 16,777,216 x 1 grey PNG under a 1.5 GB address-space limit",
             TEST + ["--score", "{w}/wide.png", "--out", "{w}/out"], "ok", defect=6,
             setup=lambda ctx: long_png(os.path.join(ctx.w, "wide.png"), 16777216, 1), rlimit_as=1536 << 20,
             skip_sanitized=True, timeout=300))
    add(Case("--score a 4097 x 4096 PNG (one pixel over the limit) is refused from its header",
             TEST + ["--score", "{w}/big.png", "--out", "{w}/out"], "error",
             setup=lambda ctx: long_png(os.path.join(ctx.w, "big.png"), 4097, 4096), err="pixels"))

    # -- defect 7: concurrent writers of one folder
    add(Case("another writer's temporary file at out/scores.csv.tmp is not touched", TEST + ["--score",
             "{data}/widget/test/good", "--out", "{w}/out"], "ok", defect=7,
             setup=sh("mkdir out", "echo another writer > out/scores.csv.tmp"), keep=["{w}/out/scores.csv.tmp"]))
    add(Case("another writer's temporary overlay is not touched", TEST + ["--score",
             "{data}/widget/test/good", "--out", "{w}/out"], "ok", defect=7,
             setup=sh("mkdir -p out/overlays", "echo another writer > out/overlays/000.png.png.tmp",
                      "echo another writer > out/000.png.tmp"),
             keep=["{w}/out/overlays/000.png.png.tmp", "{w}/out/000.png.tmp"]))
    add(Case("two sgsf_test --score into one --out at once, 5 rounds", None, "ok", defect=7,
             setup=images(*["i%02d.png" % k for k in range(30)]), run=concurrent_score, timeout=600))

    # -- defect 8: sgsf_export checks the guidance bank as sgsf_test does
    add(Case("sgsf_export with another run's guidance.safetensors", EXPORT + ["--out", "{w}/m.onnx"], "error",
             defect=8, copy_run=True, setup=sh("cp {run2}/guidance.safetensors {run}/guidance.safetensors"),
             absent=["{w}/m.onnx", "{w}/m.features.onnx"], err="other model weights"))
    add(Case("sgsf_export with the guidance bank missing", EXPORT + ["--out", "{w}/m.onnx"], "error", defect=8,
             copy_run=True, setup=sh("rm {run}/guidance.safetensors"), absent=["{w}/m.onnx"]))
    add(Case("sgsf_export with a truncated guidance bank", EXPORT + ["--out", "{w}/m.onnx"], "error", defect=8,
             copy_run=True, setup=sh("truncate -s 100 {run}/guidance.safetensors"), absent=["{w}/m.onnx"]))
    add(Case("sgsf_export with a guidance image missing", EXPORT + ["--out", "{w}/m.onnx"], "error", defect=8,
             copy_run=True, setup=sh("rm {run}/guidance/00001.png"), absent=["{w}/m.onnx"]))
    add(Case("sgsf_test with another run's guidance bank is refused too", TEST + ["--out", "{w}/out"], "error",
             copy_run=True, setup=sh("cp {run2}/guidance.safetensors {run}/guidance.safetensors")))

    # -- defect 9: two outputs, one path
    for label, fo in [("same path", "{w}/m.onnx"), ("through ./", "{w}/./m.onnx"), ("through ..", "{w}/x/../m.onnx"),
                      ("through a link to it", "{w}/ln.onnx")]:
        add(Case("sgsf_export --split --out m.onnx --features-out (%s)" % label,
                 EXPORT + ["--split", "--out", "{w}/m.onnx", "--features-out", fo], "error", defect=9,
                 setup=sh("mkdir -p x", "echo old > m.onnx", "ln -s m.onnx ln.onnx"), keep=["{w}/m.onnx"],
                 err="name the same file" if "link" not in label else None))
    add(Case("sgsf_export --reference's results on --features-out's path",
             EXPORT + ["--split", "--out", "{w}/m.onnx", "--features-out", "{w}/m.reference.safetensors", "--reference",
                       "{data}/widget/test/good"], "error",
             defect=9, setup=sh("echo old > m.reference.safetensors"), keep=["{w}/m.reference.safetensors"]))

    # -- defect 10: outputs that are not regular files
    def mknod_null(ctx):
        try:
            os.mknod(os.path.join(ctx.w, "null"), 0o666 | 0o020000, os.makedev(1, 3))
        except PermissionError:
            return "mknod needs root"
        return None
    add(Case("sgsf_export --out a device node", EXPORT + ["--out", "{w}/null"], "error", defect=10, setup=mknod_null,
             keep=["{w}/null"], err="device"))
    add(Case("sgsf_export --out a FIFO (refused at once, never waits)", EXPORT + ["--out", "{w}/fifo"], "error",
             defect=10, setup=sh("mkfifo fifo"), keep=["{w}/fifo"], err="FIFO", timeout=60))
    add(Case("sgsf_export --out a folder", EXPORT + ["--out", "{w}/dir"], "error", defect=10, setup=sh("mkdir dir"),
             keep=["{w}/dir"]))
    add(Case("sgsf_export --features-out a FIFO",
             EXPORT + ["--split", "--out", "{w}/m.onnx", "--features-out", "{w}/fifo"],
             "error", defect=10, setup=sh("mkfifo fifo"), keep=["{w}/fifo"], absent=["{w}/m.onnx"], timeout=60))
    add(Case("sgsf_test with scores.csv a FIFO in --out", TEST + ["--score", "{data}/widget/test/good", "--out",
             "{w}/out"], "error", defect=10, setup=sh("mkdir out", "mkfifo out/scores.csv"), keep=["{w}/out/scores.csv"],
             timeout=60))
    add(Case("sgsf_train with config.json a FIFO in the run folder", T[:4] + ["{w}/r"] + TRAIN, "error", defect=10,
             setup=sh("mkdir r", "mkfifo r/config.json"), keep=["{w}/r/config.json"], timeout=120))

    # -- defect 11: planted links never redirect a write
    victim = "{w}/victim.txt"
    plant = "echo keep > victim.txt"
    for label, cmd, link_at, out in [
            ("sgsf_export's ONNX", EXPORT + ["--out", "{w}/d/m.onnx"], "d/m.onnx.tmp", "{w}/d/m.onnx"),
            ("sgsf_export --split's features graph", EXPORT + ["--split", "--out", "{w}/d/m.onnx"],
             "d/m.features.onnx.tmp",
             "{w}/d/m.features.onnx"),
            ("sgsf_test's scores.csv", TEST + ["--score", "{data}/widget/test/good", "--out", "{w}/d"],
             "d/scores.csv.tmp", "{w}/d/scores.csv"),
            ("sgsf_test's overlay", TEST + ["--score", "{data}/widget/test/good", "--out", "{w}/d"],
             "d/overlays/000.png.png.tmp", "{w}/d/overlays/000.png.png"),
            ("sgsf_test's report.json", TEST + ["--out", "{w}/d"], "d/report.json.tmp", "{w}/d/report.json"),
            ("sgsf_test's maps.safetensors", TEST + ["--score", "{data}/widget/test/good", "--out", "{w}/d", "--maps"],
             "d/maps.safetensors.tmp", "{w}/d/maps.safetensors"),
            ("sgsf_train's checkpoint", T[:4] + ["{w}/d"] + TRAIN, "d/checkpoint.safetensors.tmp",
             "{w}/d/checkpoint.safetensors"),
            ("sgsf_train's config.json", T[:4] + ["{w}/d"] + TRAIN, "d/config.json.tmp", "{w}/d/config.json"),
            ("sgsf_train's calibration.json", T[:4] + ["{w}/d"] + TRAIN, "d/calibration.json.tmp",
             "{w}/d/calibration.json"),
            ("sgsf_train's guidance.safetensors", T[:4] + ["{w}/d"] + TRAIN, "d/guidance.safetensors.tmp",
             "{w}/d/guidance.safetensors")]:
        parent = os.path.dirname(link_at)
        add(Case("a link planted at %s's old temporary name" % label, cmd, "ok", defect=11,
                 setup=sh(plant, "mkdir -p " + parent, "ln -s {w}/victim.txt " + link_at), keep=[victim],
                 check=lambda ctx, r, out=out: None if os.path.isfile(ctx.path(out)) and not os.path.islink(ctx.path(out))
                 else "%s is not a regular file" % out))
    for label, cmd, link in [
            ("sgsf_export --out", EXPORT + ["--out", "{w}/m.onnx"], "m.onnx"),
            ("sgsf_test's scores.csv", TEST + ["--score", "{data}/widget/test/good", "--out", "{w}/d"], "d/scores.csv"),
            ("sgsf_train's train_log.jsonl", T[:4] + ["{w}/d"] + TRAIN, "d/train_log.jsonl"),
            ("sgsf_train's checkpoint", T[:4] + ["{w}/d"] + TRAIN, "d/checkpoint.safetensors"),
            ("the folder lock file", TEST + ["--score", "{data}/widget/test/good", "--out", "{w}/d"], "d/.sgsf.lock")]:
        add(Case("%s is itself a link to another file: refused" % label, cmd, "error", defect=11,
                 setup=sh(plant, "mkdir -p d", "ln -s {w}/victim.txt " + link), keep=[victim, "{w}/" + link]))

    # -- defect 12: strict parsing in the example
    img = "{data}/widget/test/good/000.png"
    for bad in ["abc", "", "2", "-0.1", "nan", "0.5x", "1e400", "0x"]:
        add(Case("sgsf_detect_example --threshold %r" % bad, DETECT + ["{w}/000.png", "--threshold", bad], "refused",
                 defect=12, setup=sh("cp " + img + " {w}/"), absent=["{w}/000.png.map.pgm"]))
    add(Case("sgsf_detect_example --threshold with no value", DETECT + ["{w}/000.png", "--threshold"], "refused",
             defect=12, setup=sh("cp " + img + " {w}/"), absent=["{w}/000.png.map.pgm"]))
    add(Case("sgsf_detect_example --threshold 0.5 (good input works)", DETECT + ["{w}/000.png", "--threshold", "0.5"],
             "ok", setup=sh("cp " + img + " {w}/"), exists=["{w}/000.png.map.pgm"]))

    # -- defect 13: a full disk
    add(Case("sgsf_detect_example on a full disk leaves no empty map", DETECT + ["{w}/000.png"], "error", defect=13,
             setup=sh("cp " + img + " {w}/"), rlimit_fsize=1000, absent=["{w}/000.png.map.pgm"],
             skip_sanitized="under a file-size limit, LLVM's OpenMP runtime (the sanitizer build's) cannot create its shared-memory file and faults as it starts its threads"))
    add(Case("sgsf_detect_example with the map's name a FIFO", DETECT + ["{w}/000.png"], "error",
             setup=sh("cp " + img + " {w}/", "mkfifo {w}/000.png.map.pgm"), keep=["{w}/000.png.map.pgm"], timeout=60))
    add(Case("sgsf_test on a full disk: error, no half file", TEST + ["--score", "{data}/widget/test/good", "--out",
             "{w}/out"], "error", rlimit_fsize=1000, absent=["{w}/out/scores.csv"],
             skip_sanitized="under a file-size limit, LLVM's OpenMP runtime (the sanitizer build's) cannot create its shared-memory file and faults as it starts its threads"))
    add(Case("sgsf_export on a full disk: error, no half file", EXPORT + ["--out", "{w}/m.onnx"], "error",
             rlimit_fsize=1000, absent=["{w}/m.onnx", "{w}/m.features.onnx"]))
    add(Case("sgsf_export on a full disk keeps the previous model", EXPORT + ["--out", "{w}/m.onnx"], "error",
             rlimit_fsize=1000, setup=sh("echo old > m.onnx"), keep=["{w}/m.onnx"]))

    # -- defect 14: a second signal while the checkpoint is written
    add(Case("a second SIGTERM while the checkpoint is written leaves no temporary file", None, "sigterm", defect=14,
             run=second_signal_during_save, timeout=900))

    # -- more bad options, every program (the earlier reliability cases among them)
    for prog, args, what in [
            ("sgsf_train", ["--width", "0"], "--width"), ("sgsf_train", ["--width", "abc"], "--width"),
            ("sgsf_train", ["--size", "30"], "multiple of 8"), ("sgsf_train", ["--size", "99999"], "--size"),
            ("sgsf_train", ["--batch", "0"], "--batch"), ("sgsf_train", ["--iterations", "-5"], "--iterations"),
            ("sgsf_train", ["--lr", "nan"], "--lr"), ("sgsf_train", ["--lr", "1e-3x"], "--lr"),
            ("sgsf_train", ["--holdout", "0.9"], "--holdout"), ("sgsf_train", ["--score-pool", "4"], "odd"),
            ("sgsf_train", ["--preset", "huge"], "preset"), ("sgsf_train", ["--device", "tpu"], "device"),
            ("sgsf_train", ["--seed", "-1"], "--seed"), ("sgsf_train", ["--workers", "0"], "--workers"),
            ("sgsf_train", ["--layout", "weird"], "layout"), ("sgsf_train", ["--saliency", "magic"], "saliency"),
            ("sgsf_train", ["--guidance", "sideways"], "guidance"), ("sgsf_train", ["--nope"], "--nope"),
            ("sgsf_train", ["--log-every", "0"], "--log-every"), ("sgsf_train", ["--warmup", "2"], "warmup"),
            ("sgsf_train", ["--data", "{w}/missing"], "missing"),
            ("sgsf_train", ["--aux", "{w}/missing"], "missing"),
            ("sgsf_train", ["--precision", "fp16"], "--precision: unknown precision 'fp16'"),
            ("sgsf_train", ["--device", "cpu", "--precision", "tf32"], "--precision tf32 on cpu"),
            ("sgsf_train", ["--threshold-rule", "best"], "--threshold-rule: unknown rule 'best'"),
            ("sgsf_train", ["--target-fpr", "0"], "--target-fpr must be between 0 and 1"),
            ("sgsf_train", ["--target-fpr", "1.5"], "--target-fpr must be between 0 and 1"),
            ("sgsf_train", ["--target-fpr", "0.1", "--threshold-rule", "spread"], "cannot go with --threshold-rule")]:
        add(Case("%s %s" % (prog, " ".join(args)), ["sgsf_train", "--data", "{data}", "--out", "{w}/r"] + TRAIN + args,
                 "error", err=what, absent=["{w}/r"]))
    for args, what in [(["--batch", "0"], "--batch"), (["--overlays", "-1"], "--overlays"),
                       (["--overlays", "many"], "--overlays"), (["--threshold", "abc"], "--threshold"),
                       (["--threshold", "1.5"], "--threshold"), (["--score-pool", "4"], "odd"),
                       (["--test-flip", "maybe"], "--test-flip"), (["--device", "tpu"], "device"),
                       (["--run", "{w}/nowhere"], "nowhere"), (["--score", "{w}/nowhere"], "nowhere"),
                       (["--score", "/dev/null"], "neither"), (["--workers", "0"], "--workers"),
                       (["--category", "all"], "--data"), (["--data", "{w}/nowhere"], "nowhere"),
                       (["--bogus"], "--bogus"), (["--precision", "fp16"], "--precision: unknown precision"),
                       (["--device", "cpu", "--precision", "tf32"], "--precision tf32 on cpu")]:
        add(Case("sgsf_test " + " ".join(args), TEST + ["--out", "{w}/out"] + args, "error", err=what,
                 absent=["{w}/out/scores.csv"]))
    for setup, what in [(sh("mkdir empty"), "no images"), (sh("mkdir txt", "echo hi > txt/a.png"), "a.png"),
                        (sh("mkdir t", "head -c 100 {data}/widget/test/good/000.png > t/cut.png"), "cut.png")]:
        add(Case("sgsf_test --score a bad folder (%s)" % what, TEST + ["--score", "{w}/" + ("empty" if what ==
                 "no images" else "txt" if what == "a.png" else "t"), "--out", "{w}/out"], "error", setup=setup,
                 err=what, absent=["{w}/out/scores.csv"]))
    add(Case("sgsf_test --score a folder holding a symlink loop: the loop is skipped, the rest scored",
             TEST + ["--score", "{w}/imgs", "--out", "{w}/out"], "ok", setup=images("a.png", "b.png", loop="loop.png"),
             check=lambda ctx, r: None if len(csv_rows(os.path.join(ctx.w, "out", "scores.csv"))) == 3 else "rows"))
    for args, what in [(["--out", ""], "empty"), (["--run", "{w}/nowhere"], "nowhere"),
                       (["--reference", "{w}/nowhere"], "nowhere"), (["--bogus"], "--bogus")]:
        add(Case("sgsf_export " + " ".join(args), EXPORT + (["--out", "{w}/m.onnx"] if args[0] != "--out" else []) +
                 args, "error", err=what, absent=["{w}/m.onnx"]))
    # -- the one graph's threshold, --split and --triton
    for args, what in [(["--threshold", "abc"], "--threshold"), (["--threshold", "1.5"], "--threshold"),
                       (["--threshold", "nan"], "--threshold"), (["--threshold", "-0.1"], "--threshold"),
                       (["--split", "--threshold", "0.5"], "--threshold"),
                       (["--features-out", "{w}/f.onnx"], "--split"),
                       (["--split", "--triton", "{w}/t"], "--split and --triton"),
                       (["--triton-name", "x"], "--triton"), (["--max-batch", "4"], "--triton"),
                       (["--triton", "{w}/t", "--out", "{w}/m.onnx"], "exclude each other"),
                       (["--triton", "{w}/t", "--reference", "{data}/widget/test/good"], "--reference"),
                       (["--triton", ""], "--triton"),
                       (["--triton", "{w}/t", "--max-batch", "0"], "--max-batch"),
                       (["--triton", "{w}/t", "--max-batch", "abc"], "--max-batch"),
                       (["--triton", "{w}/t", "--max-batch", "5000"], "--max-batch"),
                       (["--triton", "{w}/t", "--triton-name", "a/b"], "--triton-name"),
                       (["--triton", "{w}/t", "--triton-name", ".hidden"], "--triton-name"),
                       (["--triton", "{w}/t", "--triton-name", ""], "--triton-name")]:
        add(Case("sgsf_export " + " ".join(args), EXPORT + (["--out", "{w}/m.onnx"] if "--triton" not in args and
                 "--out" not in args else []) + args, "error", err=what, absent=["{w}/m.onnx", "{w}/t", "{w}/f.onnx"]))
    add(Case("sgsf_export on a run without calibration.json: the one graph needs --threshold",
             EXPORT + ["--out", "{w}/m.onnx"], "error", copy_run=True, setup=sh("rm {run}/calibration.json"),
             err="give --threshold T", absent=["{w}/m.onnx"]))
    add(Case("sgsf_export --threshold 0.5 on a run without calibration.json",
             EXPORT + ["--out", "{w}/m.onnx", "--threshold", "0.5"], "ok", copy_run=True,
             setup=sh("rm {run}/calibration.json"), exists=["{w}/m.onnx"]))
    add(Case("sgsf_export --triton into a file", EXPORT + ["--triton", "{w}/t"], "error", setup=sh("echo mine > t"),
             keep=["{w}/t"], err="is not a folder"))
    add(Case("sgsf_export --triton with the model's folder a file", EXPORT + ["--triton", "{w}/t"], "error",
             setup=sh("mkdir t", "echo mine > t/run"), keep=["{w}/t"], err="is not a folder"))
    add(Case("sgsf_export --triton with config.pbtxt a FIFO (refused at once, nothing written)",
             EXPORT + ["--triton", "{w}/t"], "error", setup=sh("mkdir -p t/run", "mkfifo t/run/config.pbtxt"),
             keep=["{w}/t/run/config.pbtxt"], absent=["{w}/t/run/1"], err="FIFO", timeout=60))
    add(Case("sgsf_export --triton with config.pbtxt a link to another file: refused", EXPORT + ["--triton", "{w}/t"],
             "error", setup=sh("echo keep > victim.txt", "mkdir -p t/run", "ln -s {w}/victim.txt t/run/config.pbtxt"),
             keep=["{w}/victim.txt", "{w}/t/run/config.pbtxt"], absent=["{w}/t/run/1"]))
    add(Case("sgsf_export --triton on a full disk: no folder, no half file left", EXPORT + ["--triton", "{w}/t"],
             "error", rlimit_fsize=1000, absent=["{w}/t"]))
    add(Case("sgsf_export --triton: a Triton model repository named after the run",
             EXPORT + ["--triton", "{w}/t", "--max-batch", "16"], "ok",
             exists=["{w}/t/run/1/model.onnx", "{w}/t/run/config.pbtxt"], absent=["{w}/t/run/1/.sgsf.lock"],
             check=lambda ctx, r: None if all(x in open(ctx.path("{w}/t/run/config.pbtxt")).read() for x in (
                 'name: "run"', 'platform: "onnxruntime_onnx"', "max_batch_size: 16", "dynamic_batching"))
             else "config.pbtxt lacks the name, platform, max_batch_size or dynamic_batching"))
    add(Case("sgsf_export --triton into an existing repository replaces the model's files, keeps the others",
             EXPORT + ["--triton", "{w}/t", "--triton-name", "m"], "ok",
             setup=sh("mkdir -p t/m/1 t/other/1", "echo old > t/m/1/model.onnx", "echo old > t/m/config.pbtxt",
                      "echo theirs > t/other/config.pbtxt", "echo theirs > t/m/labels.txt"),
             keep=["{w}/t/other", "{w}/t/m/labels.txt"],
             check=lambda ctx, r: None if os.path.getsize(ctx.path("{w}/t/m/1/model.onnx")) > 1000 and
             'name: "m"' in open(ctx.path("{w}/t/m/config.pbtxt")).read() else "the model's files were not replaced"))
    add(Case("sgsf_detect_example with no image", DETECT, "usage"))
    add(Case("sgsf_detect_example on a missing image", DETECT + ["{w}/nothing.png"], "error",
             absent=["{w}/nothing.png.map.pgm"]))
    add(Case("sgsf_detect_example on a missing run", ["sgsf_detect_example", "{w}/norun", img], "error"))

    # -- sgsf_train --config: a run's settings again, flags on top
    def same_settings(ctx, r):
        import json
        a = json.load(open(os.path.join(ctx.env.run, "config.json")))
        b = json.load(open(os.path.join(ctx.w, "again", "config.json")))
        diff = {k for k in a if a.get(k) != b.get(k)}
        return None if diff == {"out", "iterations"} and str(b["iterations"]) == "5" else "settings differ: %s" % diff
    add(Case("sgsf_train --config <run>/config.json --out again --iterations 5: the run's settings, flags on top",
             ["sgsf_train", "--config", "{fixture_run}/config.json", "--out", "{w}/again", "--iterations", "5",
              "--quiet"], "ok", exists=["{w}/again/checkpoint.safetensors"], keep=["{fixture_run}/config.json"],
             check=same_settings))
    for label, setup, path in [("missing", None, "{w}/none.json"), ("a FIFO", sh("mkfifo f.json"), "{w}/f.json"),
                               ("not JSON", sh("echo nope > bad.json"), "{w}/bad.json"),
                               ("a folder", sh("mkdir d.json"), "{w}/d.json")]:
        add(Case("sgsf_train --config %s" % label, ["sgsf_train", "--config", path, "--out", "{w}/r", "--quiet"],
                 "error", setup=setup, absent=["{w}/r"], timeout=60))

    # -- damaged run folders
    for label, setup, what in [
            ("config.json missing", sh("rm {run}/config.json"), "config.json"),
            ("config.json not JSON", sh("echo '{{' > {run}/config.json"), "config.json"),
            ("config.json a folder", sh("rm {run}/config.json", "mkdir {run}/config.json"), "config.json"),
            ("checkpoint truncated", sh("truncate -s 2000 {run}/checkpoint.safetensors"), "checkpoint"),
            ("checkpoint empty", sh(": > {run}/checkpoint.safetensors"), "checkpoint"),
            ("calibration.json garbage", sh("echo garbage > {run}/calibration.json"), "calibration"),
            ("calibration.json from another run", sh("cp {run2}/calibration.json {run}/calibration.json"),
             "calibration"),
            ("config.json width changed", sh("sed -i 's/\"width\": 4,/\"width\": 8,/' {run}/config.json"),
             "disagree"),
            ("config.json width a string of another number (the old format)",
             sh("sed -i 's/\"width\": 4,/\"width\": \"8\",/' {run}/config.json"), "disagree"),
            ("config.json width a fraction", sh("sed -i 's/\"width\": 4,/\"width\": 4.5,/' {run}/config.json"),
             "width"),
            ("config.json data a number", sh("sed -i 's/\"data\": \"[^\"]*\"/\"data\": 5/' {run}/config.json"),
             "must be a string")]:
        add(Case("sgsf_test on a run with %s" % label, TEST + ["--out", "{w}/out"], "error", copy_run=True,
                 setup=setup, err=what, keep=["{run}"], absent=["{w}/out/report.json"]))
        # The one graph holds the calibrated threshold; the --split graphs do not read it.
        add(Case("sgsf_export on a run with %s" % label, EXPORT + ["--out", "{w}/m.onnx"], "error", copy_run=True,
                 setup=setup, keep=["{run}"], absent=["{w}/m.onnx"]))
        if "calibration" in label:
            add(Case("sgsf_export --split on a run with %s" % label, EXPORT + ["--split", "--out", "{w}/m.onnx"], "ok",
                     copy_run=True, setup=setup, keep=["{run}"], exists=["{w}/m.onnx", "{w}/m.features.onnx"]))

    # -- one writer per folder
    def hold_lock(ctx):
        """Holds the run folder's lock (as a running sgsf_train would) while sgsf_train --resume tries it."""
        import fcntl
        fd = os.open(os.path.join(ctx.run, ".sgsf.lock"), os.O_RDWR | os.O_CREAT)
        os.ftruncate(fd, 0)
        os.write(fd, b"sgsf_train (pid 4242)\n")
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            return ctx.execute(with_(T, "--resume"))
        finally:
            os.close(fd)
    add(Case("sgsf_train into a run folder another program is writing", None, "error", copy_run=True, run=hold_lock,
             keep=RUN_FILES, err="is in use by sgsf_train (pid 4242)"))

    # -- good input still works (the suite can tell a refusal from a broken program)
    add(Case("sgsf_export of a good run: one file", EXPORT + ["--out", "{w}/m.onnx"], "ok",
             exists=["{w}/m.onnx"], absent=["{w}/m.features.onnx"]))
    add(Case("sgsf_export --split of a good run: two files", EXPORT + ["--split", "--out", "{w}/m.onnx"], "ok",
             exists=["{w}/m.onnx", "{w}/m.features.onnx"]))
    add(Case("sgsf_test of a good run", TEST + ["--out", "{w}/out"], "ok",
             exists=["{w}/out/report.json", "{w}/out/scores.csv"]))
    return C


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="the build folder holding sgsf_train, sgsf_test, ...")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: <bin>/bad_inputs)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", default="", help="run only the cases whose name holds this text")
    ap.add_argument("--sanitized", action="store_true")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    a = ap.parse_args()
    env = Env(os.path.abspath(a.bin), os.path.abspath(a.workdir or os.path.join(a.bin, "bad_inputs")), a.sanitized)
    cases = [c for c in build_cases() if a.only in c.name]
    if a.list:
        for i, c in enumerate(cases):
            print("%3d  %-8s %s%s" % (i, c.exit, c.name, "  [defect %d]" % c.defect if c.defect else ""))
        return 0
    for prog in ("sgsf_train", "sgsf_test", "sgsf_export", "sgsf_detect_example"):
        if not os.access(env.program(prog), os.X_OK):
            sys.exit("bad_inputs: %s is not built in %s" % (prog, env.bin))
    start = time.time()
    env.prepare()
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    lock = threading.Lock()

    def one(i):
        outcome, why = run_case(env, cases[i], i)
        with lock:
            counts[outcome] += 1
            tag = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}[outcome]
            defect = " [defect %d]" % cases[i].defect if cases[i].defect else ""
            print("%s %3d %s%s%s" % (tag, i, cases[i].name.replace("\n", "\\n"), defect,
                                     ("\n      " + why) if why else ""), flush=True)
    # The signal and race cases time things: they run alone, after the rest.
    timed = [i for i, c in enumerate(cases) if c.run_fn is not None or c.rlimit_as]
    rest = [i for i in range(len(cases)) if i not in timed]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        list(pool.map(one, rest))
    for i in timed:
        one(i)
    print("bad_inputs: %d cases in %.0f s" % (len(cases), time.time() - start))
    print("%d passed, %d failed, %d skipped" % (counts["passed"], counts["failed"], counts["skipped"]))
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
