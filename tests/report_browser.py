#!/usr/bin/env python3
"""report_browser.py — the inspection report (report.html) loaded in a real browser, headless.

Trains a tiny run on the built-in dataset, tests it (sgsf_test writes report.html) and scores a
folder of images (sgsf_test --score writes one too), then loads each page in Debian's chromium:
  - the page's script counts the gallery images that loaded and that failed (data-loaded,
    data-failed on <body>, read from the DOM after the page settled): every one must have loaded,
    and their number must be the number of images tested;
  - nothing may be logged as an error (an uncaught script error, a resource that failed to load);
  - a screenshot is taken and decoded here: it must not be blank (a tenth of its pixels or more
    differ from the page's white, in more than 50 colours).
Exit 77 (skipped, with a message) when chromium is not installed; CI installs it
(tests/install_deps.sh --browser).

Usage: python3 tests/report_browser.py --build BUILD [--workdir DIR] [--keep-screenshot PATH]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

from pngfile import png_pixels


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browser(exe, *args, timeout=120):
    cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000"] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def check_page(exe, page, expected_images, work, name):
    problems = []
    url = "file://" + os.path.abspath(page)
    r = browser(exe, "--dump-dom", url)
    dom = r.stdout
    m = lambda attr: re.search(r'<body[^>]*\s%s="(\d+)"' % attr, dom)
    gallery, loaded, failed = m("data-gallery"), m("data-loaded"), m("data-failed")
    if not (gallery and loaded and failed):
        problems.append("the page's counts are missing from the DOM (did its script run?)")
    else:
        g, lo, fa = int(gallery.group(1)), int(loaded.group(1)), int(failed.group(1))
        if g != expected_images:
            problems.append("gallery of %d images, expected %d" % (g, expected_images))
        if lo != expected_images or fa != 0:
            problems.append("%d gallery images loaded and %d failed, expected %d and 0" % (lo, fa, expected_images))
    errors = [l for l in (r.stderr or "").splitlines()
              if "CONSOLE" in l and ("Uncaught" in l or "rror" in l) or "Failed to load resource" in l]
    if errors:
        problems.append("errors logged: " + " | ".join(errors[:3]))
    shot = os.path.join(work, name + ".png")
    browser(exe, "--screenshot=" + shot, "--window-size=1280,1400", "--hide-scrollbars", url)
    if not os.path.exists(shot):
        problems.append("no screenshot was written")
    else:
        w, h, rows = png_pixels(shot)
        pixels = [p for row in rows[::4] for p in row[::4]]
        inked = sum(1 for p in pixels if sum(abs(v - 255) for v in p) > 30)
        colours = len(set(pixels))
        if inked < 0.1 * len(pixels) or colours <= 50:
            problems.append("the screenshot is blank (%.1f %% non-white, %d colours)" % (100.0 * inked / len(pixels),
                                                                                       colours))
    return problems, shot


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep-screenshot", default=None)
    a = ap.parse_args()
    exe = chromium()
    if not exe:
        print("report_browser: SKIPPED: no chromium on this machine (Debian's package 'chromium'; "
              "bash tests/install_deps.sh --browser installs it)")
        return 77
    build = os.path.abspath(a.build)
    work = os.path.abspath(a.workdir or os.path.join(build, "report_browser"))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    run = os.path.join(work, "run")
    def sh(cmd):
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
        if r.returncode != 0:
            sys.exit("report_browser: %s failed:\n%s" % (cmd[0], r.stderr))
        return r
    sh([os.path.join(build, "sgsf_train"), "--width", "4", "--size", "32", "--batch", "4", "--iterations", "4",
        "--device", "cpu", "--workers", "1", "--quiet", "--out", run])
    sh([os.path.join(build, "sgsf_test"), "--run", run, "--out", os.path.join(work, "test"), "--quiet",
        "--device", "cpu", "--workers", "1"])
    tested = sum(1 for _ in open(os.path.join(work, "test", "scores.csv"))) - 1
    scored_dir = os.path.join(work, "builtin-data", "widget", "test", "good")
    sh([os.path.join(build, "sgsf_test"), "--run", run, "--score", scored_dir, "--out", os.path.join(work, "scored"),
        "--quiet", "--device", "cpu", "--workers", "1"])
    scored = len([f for f in os.listdir(scored_dir) if f.endswith(".png")])
    failed = 0
    for page, n, name in ((os.path.join(work, "test", "report.html"), tested, "test"),
                          (os.path.join(work, "scored", "report.html"), scored, "scored")):
        problems, shot = check_page(exe, page, n, work, name)
        print("%-7s %s: %s" % ("ok" if not problems else "FAILED", page, "; ".join(problems) or
                               "%d gallery images loaded, no errors logged, screenshot not blank" % n))
        failed += bool(problems)
        if a.keep_screenshot and name == "test" and os.path.exists(shot):
            shutil.copy(shot, a.keep_screenshot)
    print("%d passed, %d failed" % (2 - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
