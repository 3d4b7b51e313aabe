#!/usr/bin/python3
"""metrics_reference.py — reference values for tests/test_metrics.cpp.

Run with Debian's python3 (scikit-learn 1.2.1, numpy, scipy):
    /usr/bin/python3 tests/reference/metrics_reference.py > tests/reference/metrics_reference.txt

Output format (read by test_metrics.cpp): one record per line, `key count v1 v2 ...`, every value
written with repr() so that doubles (and float32 inputs, stored as their exact double value)
round-trip exactly. Lines starting with '#' are comments.

Ranking cases: deterministic scores (float32, rounded so there are many ties) and labels; records
sklearn's roc_auc_score, average_precision_score, roc_curve(drop_intermediate=False),
precision_recall_curve, and a brute-force F1-optimal classification (score >= t, ties in F1 go to
the highest threshold).

AUPRO cases: small synthetic anomaly maps and masks; records (a) a straightforward dense sweep over
every distinct map value (scipy.ndimage.label with 8-connectivity, PRO and FPR counted from
scratch per threshold, trapezoid with linear interpolation at the FPR limit) and (b) the MVTec AD
evaluation code's compute_pro + trapezoid (which keeps the FPR in float32).
"""
import sys

import numpy as np
from scipy.ndimage import label
from sklearn.metrics import (average_precision_score, precision_recall_curve, roc_auc_score,
                             roc_curve)

out = sys.stdout


def emit(key, values):
    values = np.asarray(values, dtype=np.float64).ravel()
    out.write(f"{key} {len(values)} " + " ".join(repr(float(v)) for v in values) + "\n")


# ---- ranking metrics ---------------------------------------------------------------------------
def ranking_case(name, scores32, labels):
    s = scores32.astype(np.float64)  # exact values of the float32 scores the C++ side receives
    y = labels.astype(np.int64)
    emit(f"{name}.scores", s)
    emit(f"{name}.labels", y)
    emit(f"{name}.roc_auc", [roc_auc_score(y, s)])
    emit(f"{name}.ap", [average_precision_score(y, s)])
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    emit(f"{name}.roc_x", fpr)
    emit(f"{name}.roc_y", tpr)
    emit(f"{name}.roc_thr", thr)
    prec, rec, thr = precision_recall_curve(y, s)
    emit(f"{name}.pr_x", rec)
    emit(f"{name}.pr_y", prec)
    emit(f"{name}.pr_thr", thr)
    # Brute-force F1 sweep.
    P, N = int(y.sum()), int((1 - y).sum())
    best = None
    for t in np.unique(s)[::-1]:
        pred = s >= t
        tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
        fn = P - tp
        f1 = 2 * tp / (2 * tp + fp + fn)
        if best is None or f1 > best[0]:
            best = (f1, t, tp, fp)
    f1, t, tp, fp = best
    tpr_, tnr_ = tp / P, (N - fp) / N
    emit(f"{name}.best_f1", [t, f1, tp / (tp + fp), tpr_, tpr_, tnr_, (tp + N - fp) / (P + N),
                             (tpr_ + tnr_) / 2])


rng = np.random.default_rng(20261129)
# 1: uniform scores rounded to 2 decimals, labels independent-ish (AUC near 0.5).
n = 300
ranking_case("rank_a", np.round(rng.random(n), 2).astype(np.float32), (rng.random(n) < 0.3).astype(np.uint8))
# 2: heavy ties (1 decimal), positives scored higher on average.
n = 1000
lab = (rng.random(n) < 0.2).astype(np.uint8)
sc = np.clip(rng.normal(0.4 + 0.25 * lab, 0.2), 0, 1)
ranking_case("rank_b", np.round(sc, 1).astype(np.float32), lab)
# 3: small integers, negative values included.
n = 57
lab = (rng.random(n) < 0.5).astype(np.uint8)
ranking_case("rank_c", (rng.integers(-3, 4, n) + lab).astype(np.float32), lab)
# 4: continuous float32 scores (almost no ties), strongly imbalanced.
n = 2000
lab = (rng.random(n) < 0.03).astype(np.uint8)
ranking_case("rank_d", rng.normal(1.5 * lab, 1.0).astype(np.float32), lab)


# ---- AUPRO -------------------------------------------------------------------------------------
STRUCT = np.ones((3, 3), dtype=int)  # 8-connectivity


def trapezoid_limit(x, y, lim):
    """Area under the polyline through (x, y) (x non-decreasing) for x in [x0, lim]."""
    area = 0.0
    for k in range(1, len(x)):
        if x[k] <= lim:
            area += 0.5 * (y[k] + y[k - 1]) * (x[k] - x[k - 1])
        else:
            if x[k - 1] < lim:
                yi = y[k - 1] + (y[k] - y[k - 1]) * (lim - x[k - 1]) / (x[k] - x[k - 1])
                area += 0.5 * (yi + y[k - 1]) * (lim - x[k - 1])
            break
    return area


def dense_pro(maps, masks):
    regions = []  # boolean masks, one per region over the whole stack
    for i, m in enumerate(masks):
        lab, nc = label(m > 0, STRUCT)
        for k in range(1, nc + 1):
            r = np.zeros(maps.shape, dtype=bool)
            r[i] = lab == k
            regions.append(r)
    normal = masks == 0
    xs, ys = [0.0], [0.0]
    for t in np.unique(maps)[::-1]:
        pred = maps >= t
        xs.append((pred & normal).sum() / normal.sum())
        ys.append(np.mean([(pred & r).sum() / r.sum() for r in regions]))
    xs.append(1.0)
    ys.append(1.0)
    return np.array(xs), np.array(ys), len(regions)


def official_compute_pro(anomaly_maps, ground_truth_maps):
    """compute_pro of the MVTec AD evaluation code (pro_curve_util.py), unchanged in substance."""
    structure = np.ones((3, 3), dtype=int)
    num_ok_pixels = 0
    num_gt_regions = 0
    shape = (len(anomaly_maps), anomaly_maps[0].shape[0], anomaly_maps[0].shape[1])
    fp_changes = np.zeros(shape, dtype=np.uint32)
    pro_changes = np.zeros(shape, dtype=np.float64)
    for gt_ind, gt_map in enumerate(ground_truth_maps):
        labeled, n_components = label(gt_map, structure)
        num_gt_regions += n_components
        ok_mask = labeled == 0
        num_ok_pixels += np.sum(ok_mask)
        fp_change = np.zeros_like(gt_map, dtype=fp_changes.dtype)
        fp_change[ok_mask] = 1
        pro_change = np.zeros_like(gt_map, dtype=np.float64)
        for k in range(n_components):
            region_mask = labeled == (k + 1)
            pro_change[region_mask] = 1. / np.sum(region_mask)
        fp_changes[gt_ind] = fp_change
        pro_changes[gt_ind] = pro_change
    scores = np.array(anomaly_maps).ravel()
    fp_flat, pro_flat = fp_changes.ravel(), pro_changes.ravel()
    idx = np.argsort(scores).astype(np.uint32)[::-1]
    scores, fp_flat, pro_flat = scores[idx], fp_flat[idx], pro_flat[idx]
    fprs = np.cumsum(fp_flat).astype(np.float32) / np.float32(num_ok_pixels)
    pros = np.cumsum(pro_flat) / num_gt_regions
    keep = np.append(np.diff(scores) != 0, np.True_)
    fprs, pros = np.clip(fprs[keep], None, 1.), np.clip(pros[keep], None, 1.)
    return np.concatenate(([0.], fprs, [1.])), np.concatenate(([0.], pros, [1.]))


def official_trapezoid(x, y, x_max):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    correction = 0.
    if x_max not in x:
        ins = np.searchsorted(x, x_max, side="right")  # bisect
        assert 0 < ins < len(x)
        y_interp = y[ins - 1] + ((y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1]))
        correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
    mask = x <= x_max
    x, y = x[mask], y[mask]
    return np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction


def aupro_case(name, maps32, masks):
    maps = maps32.astype(np.float64)
    emit(f"{name}.shape", maps.shape)
    emit(f"{name}.maps", maps)
    emit(f"{name}.masks", masks)
    xs, ys, nreg = dense_pro(maps, masks)
    emit(f"{name}.regions", [nreg])
    emit(f"{name}.pro_x", xs)
    emit(f"{name}.pro_y", ys)
    for lim in (0.3, 0.05, 1.0):
        emit(f"{name}.aupro_{lim}", [trapezoid_limit(xs, ys, lim) / lim])
    ox, oy = official_compute_pro(list(maps), list(masks))
    emit(f"{name}.aupro_official_0.3", [official_trapezoid(ox, oy, 0.3) / 0.3])


def blobs(h, w, k, rng):
    m = np.zeros((h, w), dtype=np.uint8)
    for _ in range(k):
        y0, x0 = rng.integers(0, h - 3), rng.integers(0, w - 3)
        m[y0:y0 + rng.integers(1, 6), x0:x0 + rng.integers(1, 7)] = 1
    return m


rng = np.random.default_rng(7)
H, W = 24, 32
masks = np.stack([blobs(H, W, 3, rng), blobs(H, W, 2, rng), np.zeros((H, W), np.uint8)])
# Two regions touching only diagonally (one region under 8-connectivity) and a lone pixel.
masks[1, 18:21, 2:5] = 1
masks[1, 21:23, 5:7] = 1
masks[1, 10, 28] = 1
maps = np.clip(rng.normal(0.3 + 0.35 * masks, 0.2), 0, 1)
aupro_case("pro_a", np.round(maps, 2).astype(np.float32), masks)
# Continuous maps, masks of another seed, four images.
masks = np.stack([blobs(H, W, 4, rng) for _ in range(4)])
masks[3] = 0
maps = rng.normal(0.8 * masks, 0.5)
aupro_case("pro_b", maps.astype(np.float32), masks)
