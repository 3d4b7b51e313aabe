#!/usr/bin/python3
"""python_check.py — the Python package (pyproject.toml, python/): built, installed and compared with
the C++ API.

pip-installs the package from the source tree into a virtual environment under the workdir (numpy,
scikit-build-core and nanobind from PyPI; CPU-only: -Ccmake.define.SGSF_WITH_CUDA=OFF; its CMake build
folder kept in the workdir, so that a rerun rebuilds only what changed; through ccache when there is
one, with CMAKE_BUILD_PARALLEL_LEVEL jobs, default 2), then, inside the venv:
  - sgsf.train trains a tiny run on the built-in dataset in-process (Python's SIGINT handler is back
    afterwards); a second train() is stopped by a SIGINT after a moment: KeyboardInterrupt, and its
    checkpoint is saved;
  - sgsf.Detector on every built-in test image plus an odd-sized one equals the C++ Detector
    (sgsf_detector_dump, the same images) bit for bit: maps, model maps, scores, normalised scores
    and decisions; from paths (detect_files) and from arrays (a list, an (N, H, W, 3) batch), at
    batch size 8 and 1, at the calibrated threshold and at a given one between two scores (so that
    both decisions occur); a single image equals the batch-of-1 results, views with other strides
    equal their contiguous copies, and single and batched results agree (within 1e-6);
  - detect releases the GIL: another Python thread keeps running while it scores a large batch;
  - bad input raises TypeError, ValueError or RuntimeError naming the argument or file;
  - sgsf.test returns the metrics sgsf_test (the program) writes, and with score= its scores.csv.

Exits 77 (skipped) where the venv, the PyPI packages or Python's headers cannot be had.
Usage: python3 tests/python_check.py --build BUILD_DIR --workdir DIR
"""
import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import time

import venv_util

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)


def ensure_venv(workdir):
    """The venv's python with numpy, scikit-build-core and nanobind, or None (a message printed)."""
    include = sysconfig.get_paths().get('include') or ''
    if not os.path.exists(os.path.join(include, 'Python.h')):
        print('SKIPPED: Python\'s headers are missing (%s/Python.h; Debian: apt-get install python3-dev)' % include)
        return None
    return venv_util.ensure_venv(workdir, ['numpy', 'scikit-build-core>=0.10', 'nanobind>=2.0'],
                                 ['numpy', 'scikit_build_core', 'nanobind'])


def cache_value(build, name):
    """A variable's value in BUILD/CMakeCache.txt, or None."""
    try:
        with open(os.path.join(build, 'CMakeCache.txt')) as f:
            for line in f:
                if line.startswith(name + ':'):
                    return line.split('=', 1)[1].strip() or None
    except OSError:
        pass
    return None


def install_package(py, workdir, build):
    """pip install . (CPU-only) into the venv; returns the seconds it took, or None (printed why)."""
    cmd = [py, '-m', 'pip', 'install', '--no-build-isolation', '--no-deps', '--quiet',
           '--config-settings=build-dir=' + os.path.join(workdir, 'pybuild'),
           '--config-settings=cmake.define.SGSF_WITH_CUDA=OFF']
    if shutil.which('ccache'):
        cmd.append('--config-settings=cmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache')
    # The build's own compiler, by the same name (pip's build would take Python's, e.g.
    # x86_64-linux-gnu-g++): ccache keys on the name too, and then serves the library's objects that
    # the build compiled with the same flags (a CPU-only build's are the same commands).
    compiler = cache_value(build, 'CMAKE_CXX_COMPILER')
    if compiler:
        cmd.append('--config-settings=cmake.define.CMAKE_CXX_COMPILER=' + compiler)
    env = dict(os.environ)
    env.setdefault('CMAKE_BUILD_PARALLEL_LEVEL', '2')
    start = time.time()
    r = subprocess.run(cmd + [SOURCE], env=env, capture_output=True, text=True, cwd=workdir)
    took = time.time() - start
    if r.returncode != 0:
        print((r.stdout + r.stderr)[-6000:])
        print('FAIL: pip install . failed (%.0f s)' % took)
        return None
    print('pip install . (CPU-only, %s jobs%s): %.1f s' % (env['CMAKE_BUILD_PARALLEL_LEVEL'],
                                                         ', ccache' if shutil.which('ccache') else '', took))
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', required=True)
    ap.add_argument('--workdir', required=True)
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.workdir = os.path.abspath(args.workdir)
    os.makedirs(args.workdir, exist_ok=True)
    if os.environ.get('SGSF_PYTHON_CHECK_INNER') != '1':
        start = time.time()
        py = ensure_venv(args.workdir)
        if py is None:
            return SKIP
        if install_package(py, args.workdir, args.build) is None:
            return 1
        # One OpenMP thread, as the other checks' programs run: ctest runs tests side by side on CI's
        # two cores, and OpenMP teams that outnumber the free cores wait on each other.
        env = dict(os.environ, SGSF_PYTHON_CHECK_INNER='1')
        env.setdefault('OMP_NUM_THREADS', '1')
        code = subprocess.run([py, os.path.abspath(__file__), '--build', args.build, '--workdir', args.workdir], env=env,
                              cwd=args.workdir).returncode
        print('python_check: %.1f s in all' % (time.time() - start))
        return code
    return check(args)


def check(args):
    import json
    import signal
    import threading

    import numpy as np

    import sgsf
    sys.path.insert(0, HERE)
    from pngfile import png_file
    import zlib

    w = args.workdir
    ok = True

    def fail(msg):
        nonlocal ok
        print('FAIL: ' + msg)
        ok = False

    print('sgsf imported from %s (CUDA backend: %s)' % (os.path.dirname(sgsf.__file__), sgsf.with_cuda))
    if os.path.realpath(os.path.dirname(sgsf.__file__)) == os.path.realpath(os.path.join(SOURCE, 'python', 'sgsf')):
        fail('sgsf was imported from the source tree, not from the installed package')

    # ---- sgsf.train: a tiny run on the built-in dataset, in this process.
    run = os.path.join(w, 'run')
    tiny = dict(width=4, size=32, batch=4, iterations=60, warmup=0.3, lr=1e-3, device='cpu', workers=1,
                quiet=True, seed=5)
    t = time.time()
    got = sgsf.train(out=run, overwrite=True, **tiny)
    print('sgsf.train: %.1f s -> %s' % (time.time() - t, got))
    if got != run or not os.path.exists(os.path.join(run, 'checkpoint.safetensors')):
        fail('sgsf.train returned %r and wrote no checkpoint in %s' % (got, run))
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        fail('Python\'s SIGINT handler is not back after sgsf.train: %r' % signal.getsignal(signal.SIGINT))

    # Ctrl-C during training: the program's handling (a checkpoint, exit 130) as KeyboardInterrupt.
    stopped = os.path.join(w, 'run_stopped')
    timer = threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        sgsf.train(out=stopped, overwrite=True, **dict(tiny, iterations=1000000, warmup=0.0))
        fail('sgsf.train went on after SIGINT')
    except KeyboardInterrupt as e:
        print('sgsf.train after SIGINT: KeyboardInterrupt(%s)' % e)
        if not os.path.exists(os.path.join(stopped, 'checkpoint.safetensors')):
            fail('no checkpoint saved after SIGINT')
    timer.cancel()
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        fail('Python\'s SIGINT handler is not back after the stopped sgsf.train')

    # ---- the images: every built-in test image, and one of odd size cut out of one of them.
    test_root = os.path.join(w, 'builtin-data', 'widget', 'test')
    paths = [os.path.join(test_root, d, f) for d in sorted(os.listdir(test_root))
             for f in sorted(os.listdir(os.path.join(test_root, d)))]
    dump_tool = os.path.join(args.build, 'sgsf_detector_dump')

    def dump(name, images, extra=()):
        out = os.path.join(w, name)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        subprocess.run([dump_tool, run, out] + list(extra) + images, check=True)
        with open(os.path.join(out, 'meta.json')) as f:
            meta = json.load(f)
        s = meta['input_size']
        pix = np.fromfile(os.path.join(out, 'pixels.bin'), np.uint8)
        res = {k: np.fromfile(os.path.join(out, k + '.bin'), np.float32) for k in ('files', 'arrays')}
        pixels, results, p = [], {k: [] for k in res}, 0
        offsets = {k: 0 for k in res}
        for im in meta['images']:
            h, wd = im['height'], im['width']
            pixels.append(pix[p:p + h * wd * 3].reshape(h, wd, 3))
            p += h * wd * 3
            for k, v in res.items():
                o = offsets[k]
                results[k].append((v[o + 3:o + 3 + h * wd].reshape(h, wd), v[o + 3 + h * wd:o + 3 + h * wd + s * s]
                                   .reshape(s, s), v[o], v[o + 1], bool(v[o + 2])))
                offsets[k] = o + 3 + h * wd + s * s
        return meta, pixels, results

    # The odd-sized image: a 45 x 37 crop of a test image, as PNG.
    _, first_pixels, _ = dump('dump_probe', paths[:1])
    crop = np.ascontiguousarray(first_pixels[0][10:47, 20:65])
    odd = os.path.join(w, 'odd_45x37.png')
    rows = b''.join(b'\0' + crop[y].tobytes() for y in range(crop.shape[0]))
    with open(odd, 'wb') as f:
        f.write(png_file(crop.shape[1], crop.shape[0], 2, zlib.compress(rows, 6)))  # colour type 2: RGB
    paths.append(odd)
    n = len(paths)

    t = time.time()
    meta, pixels, cpp = dump('dump', paths)
    meta1, _, cpp1 = dump('dump_batch1', paths, ['--batch', '1'])
    print('the C++ Detector on %d images, at batch sizes 8 and 1: %.1f s' % (n, time.time() - t))
    det = sgsf.Detector(run, device='cpu')
    print(repr(det))
    print('  first result:', repr(det.detect(paths[0])))

    def compare(what, py, ref):
        """py: Detections, ref: C++'s tuples; equal bit for bit (NaN == NaN for normalized)."""
        if len(py) != len(ref):
            fail('%s: %d results for %d images' % (what, len(py), len(ref)))
            return
        bad = []
        for i, (d, r) in enumerate(zip(py, ref)):
            same = (d.map.dtype == np.float32 and d.model_map.dtype == np.float32 and
                    np.array_equal(d.map, r[0]) and np.array_equal(d.model_map, r[1]) and
                    np.float32(d.score) == r[2] and
                    (np.float32(d.normalized) == r[3] or (np.isnan(d.normalized) and np.isnan(r[3]))) and
                    d.defect == r[4])
            if not same:
                bad.append(i)
        print('%s: %d of %d identical to the C++ Detector\'s' % (what, len(ref) - len(bad), len(ref)))
        if bad:
            i = bad[0]
            d, r = py[i], ref[i]
            fail('%s differs from the C++ Detector on %d images, first %s: map shape %s vs %s, max |diff| %s, '
                 'score %r vs %r, normalized %r vs %r, defect %r vs %r'
                 % (what, len(bad), paths[i], d.map.shape, r[0].shape,
                    float(np.abs(d.map - r[0]).max()) if d.map.shape == r[0].shape else '-', d.score, float(r[2]),
                    d.normalized, float(r[3]), d.defect, r[4]))

    # Settings as the C++ Detector reports them.
    if (det.input_size, det.batch_size, det.precision, det.has_threshold) != \
            (meta['input_size'], meta['batch_size'], meta['precision'], meta['has_threshold']) or \
            np.float32(det.threshold) != np.float32(meta['threshold']):
        fail('Detector settings %s differ from the C++ Detector\'s %s'
             % ((det.input_size, det.batch_size, det.precision, det.has_threshold, det.threshold), meta))

    by_paths = det.detect(paths)
    compare('detect(list of %d paths)' % n, by_paths, cpp['files'])
    compare('detect(list of %d arrays)' % n, det.detect(pixels), cpp['arrays'])
    compare('detect(tuple of arrays)', det.detect(tuple(pixels)), cpp['arrays'])
    batch = np.stack(pixels[:-1])  # the 128 x 128 ones
    compare('detect(%s batch)' % (batch.shape,), det.detect(batch), cpp['arrays'][:-1])
    singles = [det.detect(p) for p in pixels]
    compare('detect(image), one at a time', singles, cpp1['arrays'])
    compare('detect(path), one at a time', [det.detect(p) for p in paths[:8]], cpp1['files'][:8])
    det.batch_size = 1
    compare('detect(list of arrays) at batch_size 1', det.detect(pixels), cpp1['arrays'])
    det.batch_size = 8
    if by_paths[-1].map.shape != (37, 45) or by_paths[-1].model_map.shape != (32, 32):
        fail('the odd-sized image\'s maps have shapes %s, %s' % (by_paths[-1].map.shape, by_paths[-1].model_map.shape))
    # Single and batched results agree (the engine's batches are computed image by image).
    dmap = max(float(np.abs(a.map - b.map).max()) for a, b in zip(singles, by_paths))
    dscore = max(abs(a.score - b.score) for a, b in zip(singles, by_paths))
    same_dec = sum(a.defect == b.defect for a, b in zip(singles, by_paths))
    print('single against batched: max |map difference| %.3g, |score difference| %.3g, %d of %d decisions the same'
          % (dmap, dscore, same_dec, n))
    if not (dmap <= 1e-6 and dscore <= 1e-6 and same_dec == n):
        fail('single images and batches disagree')
    # Strided views: a column-strided view, a channel-reversed view (negative strides), a crop.
    img = pixels[3]
    wide = np.zeros((img.shape[0], img.shape[1] * 2, 3), np.uint8)
    wide[:, ::2] = img
    bgr = np.ascontiguousarray(img[..., ::-1])
    views = [('every other column', wide[:, ::2]), ('channels reversed', bgr[..., ::-1]),
             ('Fortran order', np.asfortranarray(img))]
    want = singles[3]
    for name, v in views:
        d = det.detect(v)
        if not (np.array_equal(d.map, want.map) and d.score == want.score):
            fail('a view (%s, strides %s) scores otherwise than its contiguous copy' % (name, v.strides))
    wide0 = np.zeros((128, 256, 3), np.uint8)
    wide0[:, ::2] = pixels[0]
    d = det.detect(wide0[10:47, 40:130:2])  # the odd-sized PNG's pixels, cut out of pixels[0]
    if not np.array_equal(d.map, by_paths[-1].map) or d.score != by_paths[-1].score:
        fail('a strided crop scores otherwise than the same pixels from a PNG file')
    print('strided views: %d checked' % (len(views) + 1))

    # The results are real: maps and scores vary, and the calibrated decisions exist.
    scores = np.array([d.score for d in by_paths], np.float64)
    if float(np.ptp(scores)) <= 0 or float(np.ptp(by_paths[0].map)) <= 0 or not det.has_threshold:
        fail('constant maps or scores, or no calibrated threshold: the comparisons would prove nothing')

    # A given threshold between two scores, so that both decisions occur.
    srt = np.sort(scores)
    mid = len(srt) // 2
    k = mid - 5 + int(np.argmax(np.diff(srt[mid - 5:mid + 6])))
    given = '%.9g' % ((srt[k] + srt[k + 1]) / 2)
    _, _, cppt = dump('dump_threshold', paths, ['--threshold', given])
    det.set_threshold(float(given))
    at_given = det.detect(pixels)
    compare('detect(list of arrays) at threshold %s' % given, at_given, cppt['arrays'])
    defects = sum(d.defect for d in at_given)
    print('  at threshold %s: %d defects of %d' % (given, defects, n))
    if not 0 < defects < n:
        fail('a threshold between two scores gives one decision only')
    det.threshold = 0.25
    if det.threshold != np.float32(0.25):
        fail('threshold setter: %r' % det.threshold)
    det.set_threshold(float(given))

    # ---- the GIL is released while detect runs: a Python thread counts meanwhile.
    t = time.time()
    det.detect(batch)
    per_pass = time.time() - t
    repeats = int(min(40, max(2, np.ceil(1.0 / max(per_pass, 1e-3)))))
    big = np.concatenate([batch] * repeats)
    stamps = []
    done = threading.Event()
    result = {}

    def worker():
        t0 = time.perf_counter()
        result['n'] = len(det.detect(big))
        result['span'] = (t0, time.perf_counter())
        done.set()

    th = threading.Thread(target=worker)
    th.start()
    while not done.is_set():
        stamps.append(time.perf_counter())
    th.join()
    t0, t1 = result['span']
    inside = [s for s in stamps if t0 <= s <= t1]
    gaps = np.diff([t0] + inside + [t1])
    longest = float(gaps.max())
    print('GIL: detect on %d images took %.2f s; the other thread counted %d times meanwhile, its longest pause '
          '%.3f s' % (result['n'], t1 - t0, len(inside), longest))
    if result['n'] != len(big) or not (len(inside) > 1000 and longest < 0.5 * (t1 - t0)):
        fail('the GIL seems held while detect runs')

    # Threads scoring at once through one Detector get what one call after another gets.
    det.set_threshold(float(given))
    outs = [None] * 4

    def score(k):
        outs[k] = det.detect(pixels[k::4])

    threads = [threading.Thread(target=score, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    same = 0
    for k in range(4):
        alone = det.detect(pixels[k::4])
        same += sum(np.array_equal(a.map, b.map) and np.array_equal(a.model_map, b.model_map) and a.score == b.score
                    and a.normalized == b.normalized and a.defect == b.defect for a, b in zip(outs[k], alone))
    print('4 threads scoring at once: %d of %d results as one call after another' % (same, n))
    if same != n:
        fail('threads scoring at once get other results than calls one after another')

    # ---- bad input: the right exception, naming the argument or file.
    def expect(exc, words, fn, *a, **kw):
        try:
            fn(*a, **kw)
        except exc as e:
            text = str(e)
            missing = [x for x in words if x not in text]
            if missing:
                fail('%s: the message lacks %s: %s' % (exc.__name__, missing, text))
            return text
        except Exception as e:  # noqa: BLE001 — a wrong kind of exception is the failure reported
            fail('expected %s naming %s, got %s: %s' % (exc.__name__, words, type(e).__name__, e))
            return None
        fail('expected %s naming %s, nothing was raised' % (exc.__name__, words))
        return None

    t = time.time()
    empty_run = os.path.join(w, 'empty_run')
    os.makedirs(empty_run, exist_ok=True)
    garbage = os.path.join(w, 'garbage.png')
    with open(garbage, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + b'\x00' * 40)
    cases = [
        (TypeError, ['uint8', 'float32'], det.detect, pixels[0].astype(np.float32)),
        (TypeError, ['uint8'], det.detect, [pixels[0], pixels[1].astype(np.int16)]),
        (TypeError, ['uint8'], det.detect, batch.astype(np.float64)),
        (ValueError, ['shape', '(128, 128)'], det.detect, pixels[0][..., 0]),
        (ValueError, ['shape', '(128, 128, 4)'], det.detect, np.zeros((128, 128, 4), np.uint8)),
        (ValueError, ['shape'], det.detect, np.zeros((0, 5, 3), np.uint8)),
        (ValueError, ['(N, H, W, 3)'], det.detect, np.zeros((2, 8, 8, 1), np.uint8)),
        (TypeError, ['got int'], det.detect, 42),
        (TypeError, ['item 1'], det.detect, [pixels[0], 'x.png']),
        (RuntimeError, ['no_such_image.png'], det.detect, os.path.join(w, 'no_such_image.png')),
        (RuntimeError, ['garbage.png'], det.detect, garbage),
        (RuntimeError, ['no_such_run'], sgsf.Detector, os.path.join(w, 'no_such_run')),
        (RuntimeError, ['empty_run'], sgsf.Detector, empty_run),
        (RuntimeError, ['device'], sgsf.Detector, run, 'tpu'),
        (TypeError, ['run_dir'], sgsf.Detector, 3),
        (ValueError, ['threshold', '1.5'], det.set_threshold, 1.5),
        (TypeError, ['threshold'], det.set_threshold, 'high'),
        (ValueError, ['batch_size', '0'], setattr, det, 'batch_size', 0),
    ]
    for exc, words, fn, *a in cases:
        expect(exc, words, fn, *a)
    program_cases = [(RuntimeError, ['--width'], sgsf.train, dict(out=os.path.join(w, 'bad_run'), width=0)),
                     (RuntimeError, ['unknown option --no-such-option'], sgsf.train,
                      dict(out=os.path.join(w, 'bad_run'), no_such_option=1)),
                     (RuntimeError, ['already holds a training run'], sgsf.train, dict(out=run, **tiny)),
                     (RuntimeError, ['sgsf_test', 'no_such_run'], sgsf.test,
                      dict(run=os.path.join(w, 'no_such_run'), quiet=True)),
                     (TypeError, ['sgsf.test', 'run'], sgsf.test, dict(run=[run]))]
    for exc, words, fn, kw in program_cases:
        expect(exc, words, fn, **kw)
    print('bad input: %d cases, %.1f s' % (len(cases) + len(program_cases), time.time() - t))
    # The detector still works after all that.
    if not np.array_equal(det.detect(pixels[0]).model_map, singles[0].model_map):
        fail('the Detector scores otherwise after the bad-input cases')

    # ---- sgsf.test against the program sgsf_test, same options.
    prog = os.path.join(args.build, 'sgsf_test')
    common = dict(run=run, device='cpu', workers=1, quiet=True, overlays='none')
    t = time.time()
    report = sgsf.test(out=os.path.join(w, 'test_py'), **common)
    print('sgsf.test: %.1f s' % (time.time() - t))
    argv = ['--run', run, '--device', 'cpu', '--workers', '1', '--quiet', '--overlays', 'none']
    subprocess.run([prog] + argv + ['--out', os.path.join(w, 'test_prog')], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(w, 'test_prog', 'report.json')) as f:
        want = json.load(f)
    for r in (report, want):  # timings differ from run to run
        for row in (r if isinstance(r, list) else r.get('categories', [r])):
            if isinstance(row, dict):
                for key in [k for k in row if 'second' in k or 'time' in k]:
                    row.pop(key)
    if report != want or not report:
        fail('sgsf.test returned %s, sgsf_test wrote %s' % (report, want))
    else:
        print('sgsf.test: report.json as sgsf_test writes it: %s' % json.dumps(report)[:300])
    images = os.path.join(w, 'test_images')
    shutil.rmtree(images, ignore_errors=True)
    os.makedirs(images)
    copied = {}  # the copy's name -> the Detector's result on the original
    for p, d in list(zip(paths, by_paths))[::7][:10]:  # good and defective ones
        name = os.path.basename(os.path.dirname(p)) + '_' + os.path.basename(p)
        shutil.copy(p, os.path.join(images, name))
        copied[name] = d
    rows = sgsf.test(score=images, out=os.path.join(w, 'score_py'), **common)
    subprocess.run([prog] + argv + ['--score', images, '--out', os.path.join(w, 'score_prog')], check=True,
                   stdout=subprocess.DEVNULL)
    import csv
    with open(os.path.join(w, 'score_prog', 'scores.csv'), newline='') as f:
        prog_rows = list(csv.DictReader(f))
    mine = [{k: str(v) for k, v in r.items()} for r in rows]
    same = len(rows) == len(prog_rows) == len(copied) and all(
        float(a['score']) == float(b['score']) and a['decision'] == b['decision'] and
        os.path.basename(a['path']) == os.path.basename(b['path']) for a, b in zip(mine, prog_rows))
    close = same and all(abs(float(r['score']) - copied[os.path.basename(r['path'])].score) <= 1e-6 for r in rows)
    print('sgsf.test(score=...): %d rows, as sgsf_test --score: %s; scores as the Detector\'s: %s'
          % (len(rows), same, close))
    if not (same and close):
        fail('sgsf.test(score=...) rows %s differ from sgsf_test --score\'s %s' % (rows[:2], prog_rows[:2]))

    print('PASSED' if ok else 'FAILED')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
