#!/usr/bin/python3
"""SSIM reference values for tests/test_ssim.cpp, from scikit-image (Debian's python3-skimage).

Inputs are generated from closed formulas (float64, then rounded to float32, exactly as the C++
test does), so nothing but the formulas and the outputs needs to be committed:
    x[c,i,j] = 0.5 + 0.4 sin(0.37 i + 0.23 j + 1.1 c)
    y[c,i,j] = clip(x + 0.15 cos(0.51 i - 0.29 j + 0.7 c) + 0.05 sin(1.3 i j / 17), 0, 1)
with C = 3 channels, H = 24, W = 20.

skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=1, channel_axis=0, full=True) filters with an 11-tap Gaussian (truncate 3.5 -> radius 5)
in 'reflect' mode and averages only over the interior (it crops pad = 5 pixels on each side). The
engine's SSIM pads with zeros instead; the two agree wherever the window lies inside the image,
i.e. on the interior [5, H-5) x [5, W-5). So the reference is skimage's full map cropped to that
interior, and its mean over the interior (which is exactly skimage's returned mean).

Run: /usr/bin/python3 tests/reference/ssim_reference.py > tests/reference/ssim_reference.json
"""
import json

import numpy as np
import skimage
from skimage.metrics import structural_similarity

C, H, W, PAD = 3, 24, 20, 5


def inputs():
    c, i, j = np.meshgrid(np.arange(C), np.arange(H), np.arange(W), indexing="ij")
    x = 0.5 + 0.4 * np.sin(0.37 * i + 0.23 * j + 1.1 * c)
    y = np.clip(x + 0.15 * np.cos(0.51 * i - 0.29 * j + 0.7 * c) + 0.05 * np.sin(1.3 * i * j / 17.0), 0.0, 1.0)
    return x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)


def main():
    x, y = inputs()
    mean, full = structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                       data_range=1.0, channel_axis=0, full=True)
    interior = full[:, PAD:H - PAD, PAD:W - PAD]
    assert abs(interior.mean() - mean) < 1e-12
    out = {
        "generator": "tests/reference/ssim_reference.py, skimage " + skimage.__version__,
        "shape": [1, C, H, W],
        "pad": PAD,
        "interior_shape": list(interior.shape),
        "interior_mean": float(mean),
        "interior_map": [float(v) for v in interior.ravel()],
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
