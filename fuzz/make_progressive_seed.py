#!/usr/bin/env python3
"""Writes fuzz/corpus/image/progressive.jpg: a 32 x 24 colour progressive JPEG from PIL's encoder
(libjpeg), a seed for fuzz_image and the test input for progressive scans in tests/test_image_io.cpp
(its DC refinement and AC scans name Huffman tables they do not use). Run once from the repository
root: python3 fuzz/make_progressive_seed.py (Debian: python3-pil)."""
from PIL import Image

img = Image.new("RGB", (32, 24))
img.putdata([((x * 8) % 256, (y * 10) % 256, ((x + y) * 5) % 256) for y in range(24) for x in range(32)])
img.save("fuzz/corpus/image/progressive.jpg", "JPEG", quality=85, progressive=True, optimize=True)
