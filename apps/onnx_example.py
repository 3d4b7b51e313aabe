#!/usr/bin/env python3
"""onnx_example.py — run sgsf_export's one ONNX file on image files with ONNX Runtime.

Usage: python3 apps/onnx_example.py MODEL.onnx IMAGE [IMAGE ...]
Needs: pip install onnxruntime numpy pillow
Prints, per image: its path, ok or defect, the score, the normalised score (0.5 at the threshold)
and the anomaly map's largest value; the run's threshold is inside the model (its metadata says which).
"""
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    session = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])
    s = session.get_inputs()[0].shape[2]  # the model's input size: image is (N, 3, s, s)
    meta = session.get_modelmeta().custom_metadata_map
    print('threshold %s (%s)' % (meta.get('threshold'), meta.get('threshold_source')))
    # RGB, resized to s x s (antialiased bilinear, as the engine), planar, 8-bit values / 255.
    images = [np.asarray(Image.open(p).convert('RGB').resize((s, s), Image.BILINEAR), dtype=np.float32)
              .transpose(2, 0, 1) / np.float32(255) for p in sys.argv[2:]]
    maps, scores, normalized, decisions = session.run(None, {'image': np.stack(images)})
    for path, m, score, n, defect in zip(sys.argv[2:], maps, scores, normalized, decisions):
        print('%s\t%s\tscore %.6f\tnormalised %.6f\tmap max %.4f' % (path, 'defect' if defect else 'ok', score, n,
                                                                    m.max()))


if __name__ == '__main__':
    main()
