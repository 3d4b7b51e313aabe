#!/usr/bin/python3
"""onnx_check.py — runs sgsf_export's ONNX files in ONNX Runtime (and OpenVINO, where it installs)
and compares them with the engine.

Trains two tiny runs (sgsf_train on the built-in dataset, 60 iterations; the second with --test-flip
and --score-pool 7: the same weights, scored another way), then for each:
  - the one graph (sgsf_export's default): onnx.checker (full check) passes; its declared input and
    outputs are image float32 (N, 3, s, s) -> anomaly_map (N, 1, s, s), score, normalized_score (N)
    float32 and decision (N) bool; ONNX Runtime on every built-in test image (62, at once) matches
    `sgsf_test --score` on the same images: maps within 1e-4, scores and normalised scores within
    1e-5, identical decisions; the guidance image the graph picks (its internal guidance_index) is
    the engine's; batches of 1 and 5 give the results of the whole batch; the threshold in the
    model's metadata is calibration.json's;
  - the --split graphs: the network on the engine's (image, guidance) within 1e-4, and (first run)
    the features graph picks guidance images as similar as the engine's.
Then, on the first run: an export with --threshold between two test scores (so that both decisions
occur) against sgsf_test --score --threshold; the Triton model repository (--triton): config.pbtxt,
parsed here, declares the names, data types and dims (without the batch dimension) of the ONNX
model's inputs and outputs, and its model.onnx is the one graph; apps/onnx_example.py runs on two
test images and prints their decisions and scores (within 1e-3: it resizes with Pillow, in 8 bits);
OpenVINO, when pip installs it, loads the one graph and agrees within 1e-3 with identical decisions
(it runs the look-up's float64 as float32: images whose two most similar guidance images are closer
than 1e-6 in cosine similarity, which float32 cannot order, are counted and left out); and the C++
example examples/openvino_cpp, built with CMake against the wheel, gives sgsf_test's decisions and
scores within 1e-3 on the Python example's two images.

onnxruntime, onnx, numpy and Pillow (PyPI) are installed into a virtual environment under the
workdir; when that is impossible (no network, no venv module) the check exits with 77 (skipped).
OpenVINO is optional: without it that part is skipped with a message.

Usage: python3 tests/onnx_check.py --build BUILD_DIR --workdir DIR
"""
import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys

import venv_util

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, '..', 'apps', 'onnx_example.py')


def ensure_venv(workdir):
    """The venv's python with onnxruntime, onnx, numpy and Pillow, or None (a message printed)."""
    return venv_util.ensure_venv(workdir, ['onnxruntime', 'onnx', 'numpy', 'pillow'], ['onnxruntime', 'onnx', 'numpy', 'PIL'])


def parse_pbtxt(text):
    """A protobuf text-format message (what config.pbtxt holds) as a dict: field -> list of values
    (a sub-message is a dict, a list field's elements are flattened); numbers as int or float."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+', re.sub(r'#[^\n]*', '', text))
    pos = [0]

    def value(tok):
        if tok.startswith('"'):
            return tok[1:-1]
        try:
            return int(tok)
        except ValueError:
            try:
                return float(tok)
            except ValueError:
                return tok  # an enum (TYPE_FP32) or true/false

    def message(end):
        msg = {}
        while pos[0] < len(tokens) and tokens[pos[0]] != end:
            name = tokens[pos[0]]
            pos[0] += 1
            if tokens[pos[0]] == ':':
                pos[0] += 1
            items = []
            if tokens[pos[0]] == '[':
                pos[0] += 1
                while tokens[pos[0]] != ']':
                    if tokens[pos[0]] == ',':
                        pos[0] += 1
                        continue
                    items.append(element())
                pos[0] += 1
            else:
                items.append(element())
            msg.setdefault(name, []).extend(items)
            if pos[0] < len(tokens) and tokens[pos[0]] in (',', ';'):
                pos[0] += 1
        pos[0] += 1
        return msg

    def element():
        tok = tokens[pos[0]]
        pos[0] += 1
        return message('}') if tok == '{' else value(tok)

    return message(None)


def most_similar(rows, query):
    """GuidanceBank::lookup (sgsf/contrast.cpp, most_similar) in Python: cosine similarity in double,
    0 where either vector is zero, the first row with the largest."""
    import numpy as np
    q = query.astype(np.float64)
    best, best_sim = 0, -2.0
    for j, r in enumerate(rows.astype(np.float64)):
        dot, na, nb = float(r @ q), float(r @ r), float(q @ q)
        sim = 0.0 if na <= 0 or nb <= 0 else dot / np.sqrt(na * nb)
        if sim > best_sim:
            best, best_sim = j, sim
    return best


def lookup_rule(probe, images):
    """The graph's look-up on a bank built to tell the rule apart (its guidance_features replaced): a
    zero row first, then the run's rows scaled by 0.05 to 20 (a dot product would prefer the long
    rows), each followed later by an exact copy (ties: the first must win). Returns what is wrong."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    inits = {t.name: t for t in probe.graph.initializer}
    rows = numpy_helper.to_array(inits['guidance_features'])
    bank_images = numpy_helper.to_array(inits['guidance_images'])
    m = len(rows)
    scale = np.exp(np.random.default_rng(3).uniform(np.log(0.05), np.log(20.0), m)).astype(np.float32)
    origin = np.concatenate([[0], np.arange(m), np.arange(m)])
    crafted = np.concatenate([np.zeros((1, rows.shape[1]), np.float32), rows * scale[:, None],
                              rows * scale[:, None]])
    inits['guidance_features'].CopyFrom(numpy_helper.from_array(crafted, 'guidance_features'))
    inits['guidance_images'].CopyFrom(numpy_helper.from_array(bank_images[origin], 'guidance_images'))
    probe.graph.output.append(onnx.helper.make_tensor_value_info('features', onnx.TensorProto.FLOAT, ['N', None]))
    sess = ort.InferenceSession(probe.SerializeToString(), providers=['CPUExecutionProvider'])
    index, feats = sess.run(['guidance_index', 'features'], {'image': images})
    want = np.array([most_similar(crafted, f) for f in feats])
    by_dot = np.argmax(feats.astype(np.float64) @ crafted.astype(np.float64).T, axis=1)
    print('  look-up rule (a zero row, rows scaled 0.05 to 20, each twice): %d of %d as GuidanceBank::lookup '
          '(a dot product would pick %d of them)' % (int((index == want).sum()), len(want), int((by_dot == want).sum())))
    return None if (index == want).all() and (want <= m).all() and (by_dot != want).any() else \
        'the graph\'s look-up does not follow GuidanceBank::lookup (%s, expected %s)' % (index, want)


def read_scores(path):
    """sgsf_test's scores.csv: file name -> (score, normalized_score, decision)."""
    with open(path, newline='') as f:
        return {os.path.basename(r['path']): (float(r['score']), float(r['normalized_score']), r['decision'] == 'defect')
                for r in csv.DictReader(f)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', required=True)
    ap.add_argument('--workdir', required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    py = ensure_venv(args.workdir)
    if py is None:
        return SKIP
    if os.environ.get('SGSF_ONNX_CHECK_INNER') != '1':  # rerun inside the venv
        env = dict(os.environ, SGSF_ONNX_CHECK_INNER='1')
        return subprocess.run([py, os.path.abspath(__file__)] + sys.argv[1:], env=env).returncode

    import numpy as np
    import onnx
    import onnxruntime as ort
    sys.path.insert(0, os.path.join(HERE, 'reference'))
    from read_safetensors import read

    env = dict(os.environ, OMP_NUM_THREADS='1')
    w = os.path.abspath(args.workdir)
    bin_ = lambda name: os.path.join(os.path.abspath(args.build), name)  # noqa: E731
    ok = True

    def fail(msg):
        nonlocal ok
        print('FAIL: ' + msg)
        ok = False

    def ort_session(path):
        return ort.InferenceSession(path, providers=['CPUExecutionProvider'])

    ONNX_TYPES = {1: 'float32', 9: 'bool'}

    def declared(model):
        """(name, element type, dims with 'N' for the batch) of a model's inputs and outputs."""
        def one(v):
            t = v.type.tensor_type
            return (v.name, ONNX_TYPES.get(t.elem_type, str(t.elem_type)),
                    [d.dim_param or d.dim_value for d in t.shape.dim])
        return [one(v) for v in model.graph.input], [one(v) for v in model.graph.output]

    images = os.path.join(w, 'test_images')
    engine = {}  # run name -> sgsf_test --score's maps, scores and decisions
    for name, extra in (('run', []), ('run_flip', ['--test-flip', '--score-pool', '7'])):
        run = os.path.join(w, name)
        subprocess.run([bin_('sgsf_train'), '--width', '4', '--size', '32', '--batch', '4', '--iterations', '60',
                        '--warmup', '0.3', '--lr', '1e-3', '--device', 'cpu', '--workers', '1', '--quiet', '--seed',
                        '5', '--overwrite', '--out', run] + extra, check=True, env=env)
        if name == 'run':  # every built-in test image in one folder, named <defect>_<file>
            shutil.rmtree(images, ignore_errors=True)
            os.makedirs(images)
            test_root = os.path.join(w, 'builtin-data', 'widget', 'test')
            for defect in sorted(os.listdir(test_root)):
                for f in sorted(os.listdir(os.path.join(test_root, defect))):
                    shutil.copy(os.path.join(test_root, defect, f), os.path.join(images, defect + '_' + f))
        model = os.path.join(w, name + '.onnx')
        split = os.path.join(w, name + '.split.onnx')
        scored = os.path.join(w, name + '.scored')
        subprocess.run([bin_('sgsf_export'), '--run', run, '--out', model, '--reference', images], check=True, env=env)
        subprocess.run([bin_('sgsf_export'), '--run', run, '--split', '--out', split], check=True, env=env)
        subprocess.run([bin_('sgsf_test'), '--run', run, '--score', images, '--out', scored, '--maps', '--quiet',
                        '--workers', '1'], check=True, env=env, stdout=subprocess.DEVNULL)
        _, ref, _ = read(os.path.join(w, name + '.reference.safetensors'))
        _, test_maps, _ = read(os.path.join(scored, 'maps.safetensors'))
        test_scores = read_scores(os.path.join(scored, 'scores.csv'))
        files = sorted(os.listdir(images))
        n = len(files)
        s = ref['image'].shape[-1]

        # The one graph: valid ONNX, the declared interface.
        m = onnx.load(model)
        try:
            onnx.checker.check_model(m, full_check=True)
        except Exception as e:  # onnx.checker.ValidationError, shape inference errors
            fail('onnx.checker: %s' % e)
        ins, outs = declared(m)
        want_in = [('image', 'float32', ['N', 3, s, s])]
        want_out = [('anomaly_map', 'float32', ['N', 1, s, s]), ('score', 'float32', ['N']),
                    ('normalized_score', 'float32', ['N']), ('decision', 'bool', ['N'])]
        if ins != want_in or outs != want_out:
            fail('the one graph declares inputs %s, outputs %s' % (ins, outs))
        meta = {p.key: p.value for p in m.metadata_props}
        with open(os.path.join(run, 'calibration.json')) as f:
            calibrated = float(json.load(f)['threshold'])
        if np.float32(float(meta.get('threshold', 'nan'))) != np.float32(calibrated) or \
                meta.get('threshold_source') != 'calibrated':
            fail('metadata threshold %s (%s), calibration.json %s' % (meta.get('threshold'),
                                                                      meta.get('threshold_source'), calibrated))

        # ONNX Runtime on every test image against sgsf_test --score.
        sess = ort_session(model)
        amap, score, norm, decision = sess.run(None, {'image': ref['image']})
        t_maps = np.stack([test_maps[f] for f in files])[:, None]
        t_score = np.array([test_scores[f][0] for f in files], np.float32)
        t_norm = np.array([test_scores[f][1] for f in files], np.float32)
        t_dec = np.array([test_scores[f][2] for f in files])
        dmap = float(np.abs(amap - t_maps).max())
        dscore = float(np.abs(score - t_score).max())
        dnorm = float(np.abs(norm - t_norm).max())
        same_dec = int((decision == t_dec).sum())
        margin = float(np.abs(t_score - calibrated).min())
        print('%s %s: one graph, %d test images, map %s: max |ONNX Runtime - sgsf_test| map %.3g, score %.3g, '
              'normalised %.3g; decisions %d of %d the same (%d defects; smallest |score - threshold| %.3g); '
              '%.1f KiB' % (name, ' '.join(extra) or '(defaults)', n, tuple(amap.shape[1:]), dmap, dscore, dnorm,
                            same_dec, n, int(t_dec.sum()), margin, os.path.getsize(model) / 1024))
        if amap.shape != (n, 1, s, s) or score.shape != (n,) or norm.shape != (n,) or decision.shape != (n,) or \
                decision.dtype != np.bool_:
            fail('output shapes %s %s %s %s (%s)' % (amap.shape, score.shape, norm.shape, decision.shape,
                                                     decision.dtype))
        if not (dmap <= 1e-4 and dscore <= 1e-5 and dnorm <= 1e-5 and same_dec == n):
            fail('the one graph differs from sgsf_test --score')
        if float(np.ptp(t_maps)) <= 0 or float(np.ptp(t_score)) <= 0:
            fail('the engine\'s maps or scores are constant; the comparison would prove nothing')
        # The graph's guidance look-up, read out of the graph: the engine's choice on every image.
        probe = onnx.load(model)
        probe.graph.output.append(onnx.helper.make_tensor_value_info('guidance_index', onnx.TensorProto.INT64, ['N']))
        (index,) = ort.InferenceSession(probe.SerializeToString(), providers=['CPUExecutionProvider']).run(
            ['guidance_index'], {'image': ref['image']})
        picked_same = int((index == ref['guidance_index'].astype(np.int64)).sum())
        print('  guidance look-up in the graph: %d of %d the engine\'s image' % (picked_same, n))
        if picked_same != n:
            fail('the graph picked other guidance images than the engine')
        engine[name] = (t_maps, t_score, t_dec)
        if name == 'run':
            problem = lookup_rule(probe, ref['image'])
            if problem:
                fail(problem)
        if name == 'run':
            calibrated_run = calibrated
        # Any batch size gives the same results.
        for lo, hi in ((0, 1), (1, 6)):
            part = sess.run(None, {'image': ref['image'][lo:hi]})
            if any(float(np.abs(p.astype(np.float64) - a[lo:hi].astype(np.float64)).max()) > 1e-6
                   for p, a in zip(part, (amap, score, norm, decision))):
                fail('a batch of %d gives other results than the whole batch' % (hi - lo))

        # The --split graphs on the engine's (image, guidance).
        ssess = ort_session(split)
        names = ([i.name for i in ssess.get_inputs()], [o.name for o in ssess.get_outputs()])
        if names != (['image', 'guidance'], ['anomaly_map', 'score']):
            fail('--split graph: inputs %s, outputs %s' % names)
        samap, sscore = ssess.run(None, {'image': ref['image'], 'guidance': ref['guidance']})
        dsmap = float(np.abs(samap - ref['anomaly_map']).max())
        dsscore = float(np.abs(sscore - ref['score']).max())
        print('  --split: max |ONNX Runtime - engine| map %.3g, score %.3g' % (dsmap, dsscore))
        if not (dsmap <= 1e-4 and dsscore <= 1e-4):
            fail('the --split graph differs from the engine')

    # Both runs have the same weights (flips and pooling change testing only): the flipped maps must
    # differ from the plain ones, or the comparisons above would not have tested the mirror path.
    _, plain, _ = read(os.path.join(w, 'run.reference.safetensors'))
    _, flipped, _ = read(os.path.join(w, 'run_flip.reference.safetensors'))
    dflip = float(np.abs(plain['anomaly_map'] - flipped['anomaly_map']).max())
    print('maps with and without --test-flip differ by up to %.3g' % dflip)
    if not dflip > 1e-6:
        fail('--test-flip did not change the maps')
    ref = plain
    _, bank, _ = read(os.path.join(w, 'run', 'guidance.safetensors'))
    run = os.path.join(w, 'run')
    model = os.path.join(w, 'run.onnx')

    # The --split features graph: on the guidance images it reproduces their stored rows (after the
    # L2 normalisation the engine applies), and on the test images it picks guidance images as good
    # as the engine's (an equal look-up, up to round-off between near-equal similarities).
    fsess = ort_session(os.path.join(w, 'run.split.features.onnx'))
    expected = ref['guidance_index'].astype(np.int64)
    (gfeats,) = fsess.run(None, {'image': ref['guidance']})
    gfeats = gfeats / np.maximum(np.linalg.norm(gfeats, axis=1, keepdims=True), 1e-30)
    dfeat = float(np.abs(gfeats - bank['features'][expected]).max())
    (feats,) = fsess.run(None, {'image': ref['image']})
    feats64 = feats.astype(np.float64)
    rows = bank['features'].astype(np.float64)
    sims = (feats64 @ rows.T) / np.sqrt((feats64 ** 2).sum(1, keepdims=True) * (rows ** 2).sum(1))
    picked = np.argmax(sims, axis=1)
    gap = float((sims.max(axis=1) - sims[np.arange(len(expected)), expected]).max())
    top2 = np.sort(sims, axis=1)
    near_tie = (top2[:, -1] - top2[:, -2]) < 1e-6
    print('features graph: max |ONNX Runtime - stored features| %.3g; guidance look-up: %d of %d the same image, '
          'largest similarity gap to the engine\'s pick %.3g' % (dfeat, int((picked == expected).sum()), len(expected),
                                                                 gap))
    if not (dfeat <= 1e-4 and gap <= 1e-5):
        fail('the features graph differs from the engine')

    # A given threshold between two test scores: both decisions occur, and agree with sgsf_test's.
    scores = np.sort(ref['score'].astype(np.float64))
    mid = len(scores) // 2
    k = mid - 5 + int(np.argmax(np.diff(scores[mid - 5:mid + 6])))  # the widest gap near the median
    threshold = '%.9g' % ((scores[k] + scores[k + 1]) / 2)
    given = os.path.join(w, 'run.threshold.onnx')
    subprocess.run([bin_('sgsf_export'), '--run', run, '--out', given, '--threshold', threshold], check=True, env=env)
    scored = os.path.join(w, 'run.scored.threshold')
    subprocess.run([bin_('sgsf_test'), '--run', run, '--score', images, '--out', scored, '--threshold', threshold,
                    '--quiet', '--workers', '1'], check=True, env=env, stdout=subprocess.DEVNULL)
    test_scores = read_scores(os.path.join(scored, 'scores.csv'))
    files = sorted(os.listdir(images))
    _, _, norm, decision = ort_session(given).run(None, {'image': ref['image']})
    t_norm = np.array([test_scores[f][1] for f in files], np.float32)
    t_dec = np.array([test_scores[f][2] for f in files])
    dnorm = float(np.abs(norm - t_norm).max())
    print('--threshold %s: %d of %d decisions the same (%d defects), max |normalised score difference| %.3g'
          % (threshold, int((decision == t_dec).sum()), len(files), int(t_dec.sum()), dnorm))
    if not ((decision == t_dec).all() and 0 < t_dec.sum() < len(files) and dnorm <= 1e-5):
        fail('decisions at a given threshold differ from sgsf_test --threshold, or are all one kind')
    meta = {p.key: p.value for p in onnx.load(given).metadata_props}
    if meta.get('threshold_source') != '--threshold' or np.float32(float(meta['threshold'])) != np.float32(threshold):
        fail('metadata of the --threshold export: %s' % meta)

    # The Triton model repository: config.pbtxt declares what the ONNX model declares.
    triton = os.path.join(w, 'triton')
    shutil.rmtree(triton, ignore_errors=True)
    subprocess.run([bin_('sgsf_export'), '--run', run, '--triton', triton, '--triton-name', 'widget', '--max-batch',
                    '4'], check=True, env=env)
    with open(os.path.join(triton, 'widget', 'config.pbtxt')) as f:
        config = parse_pbtxt(f.read())
    tmodel = os.path.join(triton, 'widget', '1', 'model.onnx')
    with open(tmodel, 'rb') as a, open(model, 'rb') as b:
        if a.read() != b.read():
            fail('the Triton repository\'s model.onnx is not the one graph --out writes')
    TRITON_TYPES = {'TYPE_FP32': 'float32', 'TYPE_BOOL': 'bool'}

    def from_config(t):
        dims = t['dims']
        if 'reshape' in t:  # the model's shape without the batch dimension; dims is what clients see
            dims = t['reshape'][0].get('shape', [])
        return (t['name'][0], TRITON_TYPES.get(t['data_type'][0], t['data_type'][0]), ['N'] + list(dims))
    got = ([from_config(t) for t in config.get('input', [])], [from_config(t) for t in config.get('output', [])])
    want = declared(onnx.load(tmodel))
    print('Triton config.pbtxt: platform %s, max_batch_size %s, dynamic_batching %s; inputs %s; outputs %s'
          % (config.get('platform'), config.get('max_batch_size'), 'dynamic_batching' in config,
             [t[0] for t in got[0]], [t[0] for t in got[1]]))
    if got != want:
        fail('config.pbtxt declares %s, the model %s' % (got, want))
    if config.get('platform') != ['onnxruntime_onnx'] or config.get('max_batch_size') != [4] or \
            'dynamic_batching' not in config or config.get('name') != ['widget'] or \
            any(not t['dims'] for t in config['input'] + config['output']):
        fail('config.pbtxt: %s' % config)

    # The Python example on two test images.
    pick = [f for f in files if f.startswith('good_')][:1] + [f for f in files if not f.startswith('good_')][:1]
    r = subprocess.run([sys.executable, EXAMPLE, model] + [os.path.join(images, f) for f in pick], env=env,
                       capture_output=True, text=True)
    print('apps/onnx_example.py:\n  ' + (r.stdout + r.stderr).strip().replace('\n', '\n  '))
    lines = [ln.split('\t') for ln in r.stdout.splitlines() if '\t' in ln]
    test_scores = read_scores(os.path.join(w, 'run.scored', 'scores.csv'))
    if r.returncode != 0 or len(lines) != len(pick):
        fail('the example did not run')
    else:
        for f, ln in zip(pick, lines):
            got_score = float(ln[2].split()[1])
            want_score, _, want_defect = test_scores[f]
            if ln[1] != ('defect' if want_defect else 'ok') or abs(got_score - want_score) > 1e-3:
                fail('the example says %s, sgsf_test score %.6f %s' % (ln, want_score, want_defect))

    # OpenVINO, when pip installs it.
    probe = [sys.executable, '-c', 'import openvino']
    if subprocess.run(probe, capture_output=True).returncode != 0:
        subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', 'openvino'], capture_output=True,
                       timeout=600)
    if subprocess.run(probe, capture_output=True).returncode != 0:
        print('SKIPPED (OpenVINO part only): pip cannot install openvino here')
    else:
        import openvino as ov
        compiled = ov.Core().compile_model(model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
        res = compiled({'image': ref['image']})
        o_map, o_score, o_dec = (res[compiled.output(k)] for k in ('anomaly_map', 'score', 'decision'))
        t_maps, t_score, t_dec = engine['run']
        t_maps, t_score, t_dec = t_maps.copy(), t_score.copy(), t_dec.copy()
        # A near tie: the result with whichever of the tied guidance images is closest to OpenVINO's
        # (the --split network in ONNX Runtime on each; the engine's own pick is among them).
        from PIL import Image
        ssess = ort_session(os.path.join(w, 'run.split.onnx'))
        threshold = float(np.float32(calibrated_run))
        other_pick = 0
        for i in np.where(near_tie)[0]:
            best = None
            for j in np.where(sims[i] >= sims[i].max() - 1e-6)[0]:
                g = np.asarray(Image.open(os.path.join(run, 'guidance', '%05d.png' % j)).convert('RGB'), np.float32)
                g = (g.transpose(2, 0, 1) / np.float32(255))[None]
                cmap, cscore = ssess.run(None, {'image': ref['image'][i:i + 1], 'guidance': g})
                d = float(np.abs(cmap[0] - o_map[i]).max())
                if best is None or d < best[0]:
                    best = (d, j, cmap[0], cscore[0])
            other_pick += int(best[1] != expected[i])
            t_maps[i], t_score[i], t_dec[i] = best[2], best[3], best[3] > threshold
        dmap = float(np.abs(o_map - t_maps).max())
        dscore = float(np.abs(o_score - t_score).max())
        same = int((o_dec.astype(bool) == t_dec).sum())
        print('OpenVINO %s: max |OpenVINO - sgsf_test| map %.3g, score %.3g; decisions %d of %d the same (%d near '
              'ties, where OpenVINO\'s float32 look-up chose another of the tied guidance images %d times)'
              % (ov.__version__, dmap, dscore, same, len(t_dec), int(near_tie.sum()), other_pick))
        if o_map.shape != t_maps.shape or not (dmap <= 1e-3 and dscore <= 1e-3 and same == len(t_dec)):
            fail('OpenVINO differs from sgsf_test')

        # The C++ example (examples/openvino_cpp), built with CMake against the same wheel's headers and
        # libraries, on the Python example's two test images: sgsf_test's decisions, scores within 1e-3.
        src = os.path.join(HERE, '..', 'examples', 'openvino_cpp')
        bdir = os.path.join(w, 'openvino_cpp')
        steps = [['cmake', '-S', src, '-B', bdir, '-DCMAKE_BUILD_TYPE=Release',
                  '-DOpenVINO_DIR=' + os.path.join(os.path.dirname(ov.__file__), 'cmake')],
                 ['cmake', '--build', bdir]]
        built = None
        for cmd in steps:
            built = subprocess.run(cmd, capture_output=True, text=True)
            if built.returncode != 0:
                break
        if built.returncode != 0:
            fail('examples/openvino_cpp does not build: %s' % (built.stdout + built.stderr)[-1500:])
        else:
            r = subprocess.run([os.path.join(bdir, 'openvino_detect'), model] + [os.path.join(images, f) for f in pick],
                               capture_output=True, text=True)
            print('examples/openvino_cpp:\n  ' + (r.stdout + r.stderr).strip().replace('\n', '\n  '))
            lines = [ln.split('\t') for ln in r.stdout.splitlines() if '\t' in ln]
            if r.returncode != 0 or len(lines) != len(pick):
                fail('the C++ example did not run')
            for f, ln in zip(pick, lines):
                got_score = float(ln[2].split()[1])
                want_score, _, want_defect = test_scores[f]
                if ln[1] != ('defect' if want_defect else 'ok') or abs(got_score - want_score) > 1e-3:
                    fail('the C++ example says %s, sgsf_test score %.6f %s' % (ln, want_score, want_defect))
    print('PASSED' if ok else 'FAILED')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
