#!/usr/bin/python3
"""onnx_check.py — runs an exported SGSF network in ONNX Runtime and compares it with the engine.

Trains two tiny runs (sgsf_train on the built-in dataset, a few iterations; the second with
--test-flip and --score-pool 7), exports each with sgsf_export --reference (which also writes the
engine's inputs and results for the test images of one defect type), then runs the graphs in ONNX
Runtime on the same inputs: the anomaly maps and image scores must agree with the engine's within
1e-4, and the first run's features graph must pick the same guidance images (largest dot product
with the run's guidance.safetensors rows).

ONNX Runtime (the onnxruntime package from PyPI) is installed into a virtual environment under the
workdir; when that is impossible (no network, no venv module) the check exits with 77 (skipped).

Usage: python3 tests/onnx_check.py --build BUILD_DIR --workdir DIR
"""
import argparse
import os
import shutil
import subprocess
import sys

SKIP = 77


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', required=True)
    ap.add_argument('--workdir', required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    venv = os.path.join(args.workdir, 'venv')
    py = os.path.join(venv, 'bin', 'python')
    probe = [py, '-c', 'import onnxruntime, numpy']
    if not (os.path.exists(py) and subprocess.run(probe, capture_output=True).returncode == 0):
        shutil.rmtree(venv, ignore_errors=True)
        try:
            subprocess.run([sys.executable, '-m', 'venv', venv], check=True, capture_output=True, timeout=300)
            subprocess.run([py, '-m', 'pip', 'install', '--quiet', 'onnxruntime', 'numpy'], check=True,
                           capture_output=True, timeout=600)
            subprocess.run(probe, check=True, capture_output=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
            err = getattr(e, 'stderr', b'') or b''
            print('SKIPPED: cannot install onnxruntime into a virtual environment (%s) %s'
                  % (e, err.decode(errors='replace')[-400:]))
            return SKIP
    if os.environ.get('SGSF_ONNX_CHECK_INNER') != '1':  # rerun inside the venv
        env = dict(os.environ, SGSF_ONNX_CHECK_INNER='1')
        return subprocess.run([py, os.path.abspath(__file__)] + sys.argv[1:], env=env).returncode

    import numpy as np
    import onnxruntime as ort
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'reference'))
    from read_safetensors import read

    env = dict(os.environ, OMP_NUM_THREADS='1')
    ok = True
    # Two runs: the default scoring, and test-time flips with another pooling window (the graph then
    # holds the network twice and the mirror operations).
    for name, extra in (('run', []), ('run_flip', ['--test-flip', '--score-pool', '7'])):
        run = os.path.join(args.workdir, name)
        subprocess.run([os.path.join(args.build, 'sgsf_train'), '--width', '4', '--size', '32', '--batch', '4',
                        '--iterations', '6', '--warmup', '0.3', '--lr', '1e-3', '--device', 'cpu', '--workers', '1',
                        '--quiet', '--seed', '5', '--overwrite', '--out', run] + extra, check=True, env=env)
        model = os.path.join(args.workdir, name + '.onnx')
        test_dir = os.path.join(args.workdir, 'builtin-data', 'widget', 'test', 'scratch')
        subprocess.run([os.path.join(args.build, 'sgsf_export'), '--run', run, '--out', model, '--reference', test_dir],
                       check=True, env=env)
        meta, ref, _ = read(os.path.join(args.workdir, name + '.reference.safetensors'))
        _, bank, _ = read(os.path.join(run, 'guidance.safetensors'))

        sess = ort.InferenceSession(model, providers=['CPUExecutionProvider'])
        names_in = [i.name for i in sess.get_inputs()]
        names_out = [o.name for o in sess.get_outputs()]
        if names_in != ['image', 'guidance'] or names_out != ['anomaly_map', 'score']:
            print('FAIL: inputs %s, outputs %s' % (names_in, names_out))
            ok = False
        amap, score = sess.run(None, {'image': ref['image'], 'guidance': ref['guidance']})
        dmap = float(np.abs(amap - ref['anomaly_map']).max())
        dscore = float(np.abs(score - ref['score']).max())
        print('%s %s: images %d, map %s: max |ONNX Runtime - engine| map %.3g, score %.3g'
              % (name, ' '.join(extra) or '(defaults)', ref['image'].shape[0], tuple(amap.shape[1:]), dmap, dscore))
        if amap.shape != ref['anomaly_map'].shape or score.shape != ref['score'].shape:
            print('FAIL: shapes', amap.shape, score.shape)
            ok = False
        if not (dmap <= 1e-4 and dscore <= 1e-4):
            print('FAIL: difference above 1e-4')
            ok = False
        if float(np.ptp(ref['anomaly_map'])) <= 0:
            print('FAIL: the engine\'s maps are constant; the comparison would prove nothing')
            ok = False
    # Both runs have the same weights (flips and pooling change testing only): the flipped maps must
    # differ from the plain ones, or the comparison above would not have tested the mirror path.
    _, plain, _ = read(os.path.join(args.workdir, 'run.reference.safetensors'))
    _, flipped, _ = read(os.path.join(args.workdir, 'run_flip.reference.safetensors'))
    dflip = float(np.abs(plain['anomaly_map'] - flipped['anomaly_map']).max())
    print('maps with and without --test-flip differ by up to %.3g' % dflip)
    if not dflip > 1e-6:
        print('FAIL: --test-flip did not change the maps')
        ok = False
    meta, ref, _ = read(os.path.join(args.workdir, 'run.reference.safetensors'))
    _, bank, _ = read(os.path.join(args.workdir, 'run', 'guidance.safetensors'))

    # The features graph: on the guidance images it reproduces their stored rows (after the L2
    # normalisation the engine applies), and on the test images it picks guidance images as good as
    # the engine's (an equal look-up, up to round-off between near-equal similarities).
    fsess = ort.InferenceSession(os.path.join(args.workdir, 'run.features.onnx'), providers=['CPUExecutionProvider'])
    expected = ref['guidance_index'].astype(np.int64)
    (gfeats,) = fsess.run(None, {'image': ref['guidance']})
    gfeats = gfeats / np.maximum(np.linalg.norm(gfeats, axis=1, keepdims=True), 1e-30)
    dfeat = float(np.abs(gfeats - bank['features'][expected]).max())
    (feats,) = fsess.run(None, {'image': ref['image']})
    feats = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-30)
    sims = feats @ bank['features'].T
    picked = np.argmax(sims, axis=1)
    gap = float((sims.max(axis=1) - sims[np.arange(len(expected)), expected]).max())
    print('features graph: max |ONNX Runtime - stored features| %.3g; guidance look-up: %d of %d the same image, '
          'largest similarity gap to the engine\'s pick %.3g' % (dfeat, int((picked == expected).sum()), len(expected), gap))
    if not (dfeat <= 1e-4 and gap <= 1e-5):
        print('FAIL: the features graph differs from the engine')
        ok = False
    print('PASSED' if ok else 'FAILED')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
