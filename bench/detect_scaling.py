#!/usr/bin/python3
"""detect_scaling.py — scoring throughput from 1, 2 and 4 threads: the Detector API (bench_detect)
beside ONNX Runtime on the same run's one-file ONNX model (sgsf_export), same machine, same images.

Both sides score one image per call from N threads that each take the next image until all are
scored, `--passes` times over the images; the images are decoded beforehand (ours: 8-bit RGB that
detect() converts and resizes; ONNX Runtime: the engine's own resized float32 (1, 3, s, s) inputs,
which sgsf_export --reference writes, prepared outside the timing). ONNX Runtime runs one InferenceSession shared by the threads (its run() releases the GIL),
with its default thread pool. Each count is timed `--repeats` times; the median gives images/s.
Before timing, ONNX Runtime's scores are checked against ours (within 1e-4), so both compute the
same thing.

onnxruntime and numpy (PyPI) come from a virtual environment: --venv, else the one
tests/onnx_check.py made under the build folder, else one made under --workdir.

Usage (after building bench_detect and sgsf_export, with a trained run):
  python3 bench/detect_scaling.py --run runs/quickstart [--images DIR] [--threads 1 2 4] [--build build]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def ort_child(model, reference, threads, repeats, passes, ours_json):
    import onnxruntime as ort
    sys.path.insert(0, os.path.join(REPO, 'tests', 'reference'))
    from read_safetensors import read

    sess = ort.InferenceSession(model, providers=['CPUExecutionProvider'])
    _, ref, _ = read(reference)
    xs = [ref['image'][i:i + 1].copy() for i in range(ref['image'].shape[0])]
    ours = json.load(open(ours_json))['scores']
    if len(ours) != len(xs):
        sys.exit(f'detect_scaling: {len(xs)} reference inputs for {len(ours)} images')
    worst = max(abs(float(sess.run(['score'], {'image': x})[0][0]) - s) for x, s in zip(xs, ours))
    if worst > 1e-4:
        sys.exit(f"detect_scaling: ONNX Runtime's scores differ from ours by up to {worst:g}")
    total = len(xs) * passes
    rows = []
    for t in threads:
        secs = []
        for _ in range(repeats):
            lock, state = threading.Lock(), {'next': 0}

            def work():
                while True:
                    with lock:
                        j = state['next']
                        state['next'] += 1
                    if j >= total:
                        return
                    sess.run(None, {'image': xs[j % len(xs)]})

            pool = [threading.Thread(target=work) for _ in range(t)]
            t0 = time.perf_counter()
            for th in pool:
                th.start()
            for th in pool:
                th.join()
            secs.append(time.perf_counter() - t0)
        med = statistics.median(secs)
        rows.append({'threads': t, 'images_per_s': total / med, 'seconds': med})
    print(json.dumps({'rows': rows, 'worst_score_difference': worst, 'onnxruntime': ort.__version__}))


def find_python(args):
    probe = ['-c', 'import onnxruntime, numpy']
    candidates = [args.venv] if args.venv else [os.path.join(args.build, 'onnx_check', 'venv'),
                                                os.path.join(args.workdir, 'venv')]
    for v in candidates:
        py = os.path.join(v, 'bin', 'python')
        if os.path.exists(py) and subprocess.run([py] + probe, capture_output=True).returncode == 0:
            return py
    v = candidates[-1]
    subprocess.run([sys.executable, '-m', 'venv', v], check=True)
    py = os.path.join(v, 'bin', 'python')
    subprocess.run([py, '-m', 'pip', 'install', '--quiet', 'onnxruntime', 'numpy'], check=True)
    return py


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--run', help='a trained run folder')
    ap.add_argument('--images', help="a folder of images (default: the run's test split)")
    ap.add_argument('--threads', type=int, nargs='+', default=[1, 2, 4])
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--passes', type=int, default=4)
    ap.add_argument('--build', default=os.path.join(REPO, 'build'))
    ap.add_argument('--workdir', default=None, help='for the exported model (default: <build>/detect_scaling)')
    ap.add_argument('--venv', default=None)
    ap.add_argument('--json', default=None, help='also write the results here')
    ap.add_argument('--ort-child', nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.ort_child:
        ort_child(*a.ort_child[:2], a.threads, a.repeats, a.passes, a.ort_child[2])
        return
    if not a.run:
        ap.error('--run is required')
    a.workdir = a.workdir or os.path.join(a.build, 'detect_scaling')
    os.makedirs(a.workdir, exist_ok=True)
    if a.images:
        root = a.images
    else:
        cfg = json.load(open(os.path.join(a.run, 'config.json')))
        root = os.path.join(cfg['data'], cfg['category'], 'test')
    found = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
                   if f.lower().endswith(('.png', '.jpg', '.jpeg', '.bmp')))
    if not found:
        sys.exit(f'detect_scaling: no images under {root}')
    # One flat folder, in this order (sgsf_export --reference reads a folder's images sorted by name).
    flat = os.path.join(a.workdir, 'images')
    shutil.rmtree(flat, ignore_errors=True)
    os.makedirs(flat)
    images = []
    for i, p in enumerate(found):
        images.append(os.path.join(flat, '%05d%s' % (i, os.path.splitext(p)[1].lower())))
        shutil.copy(p, images[-1])
    model = os.path.join(a.workdir, 'model.onnx')
    subprocess.run([os.path.join(a.build, 'sgsf_export'), '--run', a.run, '--out', model, '--reference', flat],
                   check=True, stdout=subprocess.DEVNULL)
    reference = os.path.join(a.workdir, 'model.reference.safetensors')
    # Ours: the scores of one call after another (for the check), then the timings.
    ours_json = os.path.join(a.workdir, 'ours.json')
    bench = [os.path.join(a.build, 'bench_detect'), '--run', a.run] + images
    ours = json.loads(subprocess.run(bench + ['--threads', ','.join(map(str, a.threads)), '--repeats', str(a.repeats),
                                              '--passes', str(a.passes), '--json', '--scores'],
                                     check=True, stdout=subprocess.PIPE, text=True).stdout)
    with open(ours_json, 'w') as f:
        json.dump(ours, f)
    py = find_python(a)
    theirs = json.loads(subprocess.run([py, os.path.abspath(__file__), '--ort-child', model, reference, ours_json,
                                        '--threads'] + [str(t) for t in a.threads]
                                       + ['--repeats', str(a.repeats), '--passes', str(a.passes)],
                                       check=True, stdout=subprocess.PIPE, text=True).stdout)
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
    print(f"| threads | ours (images/s) | ONNX Runtime {theirs['onnxruntime']} (images/s) | ours / ONNX Runtime |")
    print('| ---: | ---: | ---: | ---: |')
    table = []
    for o, t in zip(ours['rows'], theirs['rows']):
        ratio = o['images_per_s'] / t['images_per_s']
        table.append({'threads': o['threads'], 'ours': o['images_per_s'], 'onnxruntime': t['images_per_s'], 'ratio': ratio})
        print(f"| {o['threads']} | {o['images_per_s']:.1f} | {t['images_per_s']:.1f} | {ratio:.2f}× |")
    print(f"({len(images)} images at {ours['input_size']}², {a.passes} passes, median of {a.repeats}; "
          f"{cpu}, {os.cpu_count()} hardware threads; scores agree within {theirs['worst_score_difference']:.1e})")
    if a.json:
        with open(a.json, 'w') as f:
            json.dump({'rows': table, 'cpu': cpu, 'images': len(images), 'run': a.run}, f, indent=1)


if __name__ == '__main__':
    main()
