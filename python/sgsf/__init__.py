"""sgsf — SGSF unsupervised visual anomaly detection, on the project's own C++/CUDA engine.

    import sgsf
    sgsf.train(out="runs/widget", iterations=300)         # sgsf_train, in this process
    det = sgsf.Detector("runs/widget")                    # load a trained run once
    d = det.detect(image)                                 # (H, W, 3) uint8 array, batch, list or path
    print(d.defect, d.score, d.map.shape)

Detector wraps the C++ API (sgsf/detector.h); train() and test() run the programs sgsf_train and
sgsf_test in this process, their keyword arguments being the programs' long options. See
python/README.md.
"""
import csv
import json
import math
import numbers
import os
import sys

import numpy as np

from . import _sgsf

__all__ = ["Detector", "Detection", "train", "test", "with_cuda"]

#: whether this build of the engine has the CUDA backend (device="cuda").
with_cuda = bool(_sgsf.with_cuda)


class Detection:
    """One image's result.

    map: float32 array (H, W), the anomaly map at the input image's resolution, values in [0, 1];
    model_map: float32 array (s, s), the map at the model's input size s (as sgsf_test computes it);
    score: the image score (maximum of the mean-pooled map), in [0, 1];
    normalized: 0.5 at the decision threshold, NaN when the run has no threshold;
    defect: score > threshold (False without a threshold).
    """

    __slots__ = ("map", "model_map", "score", "normalized", "defect")

    def __init__(self, map, model_map, score, normalized, defect):  # noqa: A002 (the field's name)
        self.map = map
        self.model_map = model_map
        self.score = float(score)
        self.normalized = float(normalized)
        self.defect = bool(defect)

    def __repr__(self):
        norm = "nan" if math.isnan(self.normalized) else "%.4f" % self.normalized
        return "Detection(%s, score=%.4f, normalized=%s, map=%dx%d, model_map=%dx%d)" % (
            "defect" if self.defect else "ok", self.score, norm, self.map.shape[1], self.map.shape[0],
            self.model_map.shape[1], self.model_map.shape[0])


def _text(value, what):
    if not isinstance(value, str):
        raise TypeError("%s must be a string, got %s" % (what, type(value).__name__))
    return value


def _path(value, what):
    if isinstance(value, (str, os.PathLike)):
        value = os.fspath(value)
        if isinstance(value, str):
            return value
    raise TypeError("%s must be a path (str or os.PathLike), got %s" % (what, type(value).__name__))


def _image(x, what):
    """x as an (H, W, 3) uint8 array the module takes (any strides: it copies the pixels itself), or a
    clear error naming `what`."""
    if not isinstance(x, np.ndarray):
        raise TypeError("%s must be a NumPy uint8 array of shape (H, W, 3) or a path, got %s" % (what, type(x).__name__))
    if x.dtype != np.uint8:
        raise TypeError("%s must have dtype uint8 (8-bit RGB), got %s; convert it, e.g. with "
                        "(x * 255).round().clip(0, 255).astype(np.uint8) for values in [0, 1]" % (what, x.dtype))
    if x.ndim != 3 or x.shape[2] != 3 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError("%s must have shape (H, W, 3) (RGB, channels last), got %s" % (what, x.shape))
    return x


class Detector:
    """A trained run, loaded once: Detector(run_dir, device="auto", precision="").

    run_dir: a run folder (sgsf_train --out / sgsf.train(out=...)). device: "cpu", "cuda" or "auto"
    (the GPU when there is one). precision: "fp32", "bf16", "tf32", "auto" or "" (the run's own).
    Errors (a missing or inconsistent run folder, a device that lacks the precision) raise
    RuntimeError with a message naming the file or option.

    Several threads may share a Detector: every call releases the GIL while the engine runs. On
    the CPU one engine thread scores the calls of every thread on all the cores (a lone call's image
    on every core; the images of several calls shared out among them); on the GPU calls take turns.
    Setting threshold or batch_size must not race with detect.
    """

    def __init__(self, run_dir, device="auto", precision=""):
        run_dir = _path(run_dir, "Detector: run_dir")
        device = _text(device, "Detector: device")
        precision = _text(precision, "Detector: precision")
        if not os.path.isdir(run_dir):
            raise RuntimeError("Detector: the run folder '%s' does not exist (train one with sgsf.train(out=...))"
                               % run_dir)
        self._det = _sgsf.Detector(run_dir, device, precision)
        self._run_dir = run_dir

    def detect(self, x):
        """Score images. x: an (H, W, 3) uint8 RGB array or a path (PNG, JPEG, BMP) -> a Detection;
        an (N, H, W, 3) uint8 array, or a list/tuple of arrays or of paths -> a list of Detections,
        in order (on the GPU scored batch_size at a time). Any image size: images are resized to the
        model's input size, and each map comes back at its image's size."""
        if isinstance(x, (str, os.PathLike)):
            return self._files([_path(x, "Detector.detect: the path")])[0]
        if isinstance(x, np.ndarray):
            if x.ndim == 3:
                return self._arrays([_image(x, "Detector.detect: the image")])[0]
            if x.ndim == 4:
                if x.dtype != np.uint8:
                    raise TypeError("Detector.detect: the batch must have dtype uint8 (8-bit RGB), got %s" % x.dtype)
                if x.shape[3] != 3 or x.shape[1] < 1 or x.shape[2] < 1:
                    raise ValueError("Detector.detect: a batch must have shape (N, H, W, 3), got %s" % (x.shape,))
                return self._arrays(list(x))
            raise ValueError("Detector.detect: expected an (H, W, 3) image or an (N, H, W, 3) batch, got an array of "
                             "shape %s" % (x.shape,))
        if isinstance(x, (list, tuple)):
            if not x:
                return []
            if all(isinstance(e, (str, os.PathLike)) for e in x):
                return self._files([_path(e, "Detector.detect: item %d" % i) for i, e in enumerate(x)])
            return self._arrays([_image(e, "Detector.detect: item %d" % i) for i, e in enumerate(x)])
        raise TypeError("Detector.detect: expected a uint8 array (H, W, 3) or (N, H, W, 3), a path, or a list of "
                        "arrays or paths; got %s" % type(x).__name__)

    __call__ = detect

    def _arrays(self, arrays):
        return [Detection(*r) for r in self._det.detect_arrays(arrays)]

    def _files(self, paths):
        return [Detection(*r) for r in self._det.detect_files(paths)]

    @property
    def has_threshold(self):
        """Whether there is a decision threshold (the run's calibrated one, or set_threshold's)."""
        return self._det.has_threshold()

    @property
    def threshold(self):
        """The decision threshold on the image score, or None when there is none."""
        return self._det.threshold() if self._det.has_threshold() else None

    @threshold.setter
    def threshold(self, t):
        self.set_threshold(t)

    def set_threshold(self, t):
        """Decide with threshold t (0 to 1) instead of the calibrated one."""
        if isinstance(t, bool) or not isinstance(t, numbers.Real):
            raise TypeError("Detector.set_threshold: the threshold must be a number from 0 to 1, got %s"
                            % type(t).__name__)
        if not 0 <= float(t) <= 1:
            raise ValueError("Detector.set_threshold: the threshold must be from 0 to 1, got %r" % (t,))
        self._det.set_threshold(float(t))

    @property
    def input_size(self):
        """The model's input size s (images are resized to s x s)."""
        return self._det.input_size()

    @property
    def batch_size(self):
        """How many images one forward pass scores on the GPU (1 to 256, default 8); the CPU scores
        image by image, spread over the cores."""
        return self._det.batch_size()

    @batch_size.setter
    def batch_size(self, n):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError("Detector.batch_size must be an integer, got %s" % type(n).__name__)
        if not 1 <= int(n) <= 256:
            raise ValueError("Detector.batch_size must be from 1 to 256, got %d" % int(n))
        self._det.set_batch_size(int(n))

    @property
    def precision(self):
        """The mode it computes in: "fp32", "bf16" or "tf32"."""
        return self._det.precision()

    def __repr__(self):
        t = "none" if not self.has_threshold else "%.4f" % self.threshold
        return "Detector(%r, input_size=%d, precision=%s, threshold=%s, batch_size=%d)" % (
            self._run_dir, self.input_size, self.precision, t, self.batch_size)


def _argv(function, options):
    """Keyword arguments as long options: out="runs/x" -> --out runs/x, True -> the flag, False and
    None -> left out, underscores -> dashes (a trailing one dropped: lambda_=0.5 -> --lambda 0.5)."""
    args = []
    for key, value in options.items():
        name = "--" + key.rstrip("_").replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            args.append(name)
            continue
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        elif isinstance(value, float):
            value = repr(value)
        elif not isinstance(value, (str, numbers.Integral)):
            raise TypeError("%s: %s=%r: expected a string, a number, a path or True/False/None"
                            % (function, key, value))
        args += [name, str(value)]
    return args


def _run(program, function, options):
    args = _argv(function, options)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    status, error = _sgsf.run_program(program, args)
    if status == 0:
        return args
    if status in (130, 143) and program == "sgsf_train":
        message = "%s stopped by %s: the checkpoint of the iterations done is saved (resume=True continues)" % (
            program, "SIGINT" if status == 130 else "SIGTERM")
        if status == 130:
            raise KeyboardInterrupt(message)
        raise RuntimeError(message)
    if status == 3 and program == "sgsf_train":
        raise RuntimeError("sgsf_train: the loss became NaN or infinite (exit code 3); the last good checkpoint "
                           "is kept")
    raise RuntimeError(error or "%s exited with %d" % (program, status))


def train(**options):
    """Train a run: sgsf_train with these options (see `sgsf_train --help` or train(help=True)), in
    this process. Returns the run folder (the out option, default "runs/sgsf"). Raises RuntimeError
    with the program's message when it fails, KeyboardInterrupt after Ctrl-C (once the checkpoint
    is saved: train(..., resume=True) continues)."""
    _run("sgsf_train", "sgsf.train", options)
    if options.get("help"):
        return None
    out = options.get("out")
    if out is None and options.get("config"):
        with open(os.fspath(options["config"])) as f:
            out = json.load(f).get("out")
    return os.fspath(out) if out is not None else "runs/sgsf"


def _number(text):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def test(**options):
    """Test a run: sgsf_test with these options (see test(help=True)), in this process.

    Returns what the program wrote: on a labelled test split the parsed report.json (a dict of the
    metrics: image_auroc, pixel_auroc, ... per category; report_all.json's with category="all");
    with score=FILE_OR_FOLDER the rows of scores.csv as dicts (path, score, normalized_score,
    decision, ...; numbers as numbers). Raises RuntimeError with the program's message on failure."""
    _run("sgsf_test", "sgsf.test", options)
    if options.get("help"):
        return None
    run = os.fspath(options.get("run") or "runs/sgsf")
    out = options.get("out")
    if options.get("score"):
        out = os.fspath(out) if out else os.path.join(run, "scored")
        with open(os.path.join(out, "scores.csv"), newline="") as f:
            return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
    if options.get("category") == "all":
        out = os.fspath(out) if out else run
        path = os.path.join(out, "report_all.json")
    else:
        out = os.fspath(out) if out else os.path.join(run, "test")
        path = os.path.join(out, "report.json")
    with open(path) as f:
        return json.load(f)
