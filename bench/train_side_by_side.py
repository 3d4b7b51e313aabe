#!/usr/bin/env python3
"""One SGSF training step in PyTorch and in this engine, side by side, on the same machine.

The step: the reconstruction autoencoder on the guidance image and the guided segmentation network
on the image (forward), lambda (L2 + SSIM) + focal loss, backward, Adam: the same network, losses
and optimiser as `sgsf_train` (sgsf/README.md, "Networks" and "Losses"), written here in PyTorch
from that description. Inputs are fixed random tensors on both sides (no data loading); the loss is
read back once a step on both sides, as a training loop that logs it does.

Each configuration runs in fresh processes, alternating the two sides `--repeats` times, so that
both see the same machine load; the figure reported is the median over repeats of each side's
median step time, and the ratio ours / PyTorch in images per second (above 1: we are faster).
Peak resident memory is each process's maximum (getrusage), which for PyTorch includes the
framework's own libraries, as it does for a user.

    python3 bench/train_side_by_side.py [--build build] [--threads 2] [--repeats 3] [--steps 8]
                                        [--configs tiny small w16] [--precision fp32|bf16|tf32] [--json FILE]

--precision bf16 runs PyTorch's forward and losses under torch.autocast(device, dtype=torch.bfloat16)
(its mixed precision: convolutions in bf16, the rest in float32) and ours with `bench_train
--precision bf16`; `--with-fp32` adds our fp32 step as a third column, for our bf16 / fp32 speed-up.
--precision tf32 (GPU only) sets PyTorch's allow_tf32 for cuDNN and matmul and runs ours with
--precision tf32; every other mode sets allow_tf32 off, as our fp32 is, so like runs beside like.

Needs Debian's python3-torch. The PyTorch side uses `--threads` intra-op threads; ours uses the
same number of OpenMP threads (OMP_NUM_THREADS).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = {  # name: (width, size, batch)
    "tiny": (8, 64, 16),
    "small": (32, 128, 8),
    "w16": (16, 128, 8),
    "paper": (128, 256, 16),  # the paper's scale: for a GPU (tests/gpu_check.sh)
}


# ---- the PyTorch step -----------------------------------------------------------------------------
def torch_step_child(width, size, batch, steps, warmup, threads, device='cpu', precision='fp32'):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    # TF32 set explicitly on both sides of the comparison: PyTorch lets cuDNN use it by default, and
    # our fp32 does not (engine/precision.h). So fp32 and bf16 here are without TF32, tf32 with it.
    torch.backends.cudnn.allow_tf32 = precision == 'tf32'
    torch.backends.cuda.matmul.allow_tf32 = precision == 'tf32'

    def cbr(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=True), nn.BatchNorm2d(cout), nn.ReLU())

    def block(cin, cout):
        return nn.Sequential(cbr(cin, cout), cbr(cout, cout))

    class Up(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.cbr = cbr(cin, cout)

        def forward(self, x):
            return self.cbr(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))

    W = [width, 2 * width, 4 * width, 8 * width]

    class AE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.ModuleList([block(3 if i == 0 else W[i - 1], W[i]) for i in range(4)])
            self.up = nn.ModuleList([Up(W[i + 1], W[i]) for i in range(3)])
            self.dec = nn.ModuleList([block(W[i], W[i]) for i in range(3)])
            self.out = nn.Conv2d(W[0], 3, 3, padding=1)

        def forward(self, x):
            h, enc = x, []
            for i in range(4):
                h = self.enc[i](h if i == 0 else F.max_pool2d(h, 2))
                enc.append(h)
            dec = [None, None, None, enc[3]]
            for i in (2, 1, 0):
                dec[i] = self.dec[i](self.up[i](dec[i + 1]))
            return self.out(dec[0]), dec

    class Seg(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.ModuleList([block(3 if i == 0 else 2 * W[i - 1], W[i]) for i in range(4)])
            self.skip = nn.ModuleList([cbr(2 * W[i], W[i]) for i in range(3)])
            self.up = nn.ModuleList([Up(2 * W[3] if i == 2 else W[i + 1], W[i]) for i in range(3)])
            self.dec = nn.ModuleList([block(2 * W[i], W[i]) for i in range(3)])
            self.out = nn.Conv2d(W[0], 2, 3, padding=1)

        def forward(self, x, guide):
            h, fused = x, []
            for i in range(4):
                a = self.enc[i](h if i == 0 else F.max_pool2d(h, 2))
                h = torch.cat([a, guide[i]], 1)
                fused.append(h)
            y = fused[3]
            for i in (2, 1, 0):
                y = self.dec[i](torch.cat([self.up[i](y), self.skip[i](fused[i])], 1))
            return self.out(y)

    g = torch.exp(-((torch.arange(11, dtype=torch.float32) - 5) ** 2) / (2 * 1.5 ** 2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).expand(3, 1, 11, 11).contiguous()

    def ssim_mean(x, y):
        blur = lambda t: F.conv2d(t, window, padding=5, groups=3)
        mx, my = blur(x), blur(y)
        sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        c1, c2 = 0.01 ** 2, 0.03 ** 2
        return (((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))).mean()

    def focal(logits, mask, gamma=2.0):
        p = torch.softmax(logits, 1)[:, 1:2].clamp(1e-6, 1 - 1e-6)
        return torch.where(mask > 0.5, -(1 - p) ** gamma * p.log(), -p ** gamma * (1 - p).log()).mean()

    window = window.to(dev)
    ae, seg = AE().to(dev), Seg().to(dev)
    ae.train()
    seg.train()
    opt = torch.optim.Adam(list(ae.parameters()) + list(seg.parameters()), lr=1e-4)
    gen = torch.Generator().manual_seed(1)
    image = torch.rand(batch, 3, size, size, generator=gen).to(dev)
    guide = torch.rand(batch, 3, size, size, generator=gen).to(dev)
    mask = (torch.rand(batch, 1, size, size, generator=gen) > 0.97).float().to(dev)

    import contextlib
    autocast = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if precision == 'bf16' else contextlib.nullcontext

    def step():
        with autocast():
            recon, feats = ae(guide)
            logits = seg(image, feats)
            recon, logits = recon.float(), logits.float()
            loss = F.mse_loss(recon, guide) + (1 - ssim_mean(recon, guide)) + focal(logits, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out = {"step_ms": med * 1e3, "images_per_s": batch / med, "peak_rss_mib": rss, "torch": torch.__version__}
    if dev.type == 'cuda':  # the step's loss.item() has synchronised every step
        out["peak_device_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
    print(json.dumps(out))


# ---- the driver -----------------------------------------------------------------------------------
def run_json(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build folder holding bench_train")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--configs", nargs="+", default=["tiny", "small", "w16"], choices=list(CONFIGS))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="cuda: both sides on the GPU (memory: peak device memory allocated)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "tf32"],
                    help="bf16: PyTorch under autocast (bfloat16), ours with --precision bf16; tf32 (GPU): "
                         "PyTorch with allow_tf32, ours with --precision tf32 (fp32 and bf16 set allow_tf32 off)")
    ap.add_argument("--with-fp32", action="store_true", help="also time our fp32 step (bf16 / fp32 speed-up)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--torch-child", nargs=3, type=int, metavar=("W", "S", "N"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.precision == 'tf32' and a.device != 'cuda':
        ap.error("--precision tf32 is a GPU mode: add --device cuda")
    if a.torch_child:
        torch_step_child(*a.torch_child, a.steps, a.warmup, a.threads, a.device, a.precision)
        return
    bench = os.path.join(a.build, "bench_train")
    if not os.access(bench, os.X_OK):
        sys.exit(f"train_side_by_side: no {bench}; build it first (cmake --build {a.build} --target bench_train)")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    mem = "peak_device_mib" if a.device == "cuda" else "peak_rss_mib"
    rows = []
    for name in a.configs:
        w, s, n = CONFIGS[name]
        ours, theirs, ours32 = [], [], []
        ours_cmd = [bench, "--width", str(w), "--size", str(s), "--batch", str(n), "--steps", str(a.steps),
                    "--warmup", str(a.warmup), "--device", a.device, "--json"]
        for r in range(a.repeats):
            theirs.append(run_json([sys.executable, __file__, "--torch-child", str(w), str(s), str(n),
                                    "--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads),
                                    "--device", a.device, "--precision", a.precision], env))
            ours.append(run_json(ours_cmd + ["--precision", a.precision], env))
            if a.with_fp32:
                ours32.append(run_json(ours_cmd + ["--precision", "fp32"], env))
            print(f"  {name} repeat {r + 1}: PyTorch {theirs[-1]['images_per_s']:.1f} img/s, "
                  f"ours {ours[-1]['images_per_s']:.1f} img/s"
                  + (f", ours fp32 {ours32[-1]['images_per_s']:.1f} img/s" if ours32 else ""), flush=True)
        t_ips = statistics.median(x["images_per_s"] for x in theirs)
        o_ips = statistics.median(x["images_per_s"] for x in ours)
        ratios = [o["images_per_s"] / t["images_per_s"] for o, t in zip(ours, theirs)]
        rows.append({"config": name, "width": w, "size": s, "batch": n, "torch_images_per_s": t_ips,
                     "ours_images_per_s": o_ips, "ratio": o_ips / t_ips, "ratio_min": min(ratios),
                     "ratio_max": max(ratios), "torch_mib": max(x.get(mem, 0) for x in theirs),
                     "ours_mib": max(x.get(mem, 0) for x in ours), "memory": mem, "device": a.device,
                     "threads": a.threads, "precision": a.precision,
                     "ours_fp32_images_per_s": statistics.median(x["images_per_s"] for x in ours32) if ours32 else None,
                     "ours_fp32_mib": max(x.get(mem, 0) for x in ours32) if ours32 else None,
                     "torch_version": theirs[0]["torch"]})
    extra = a.with_fp32
    print(f"\n{'config':28} {'PyTorch img/s':>13} {'ours img/s':>10} {'ratio':>6} {'(range)':>13} "
          f"{'PyTorch MiB':>11} {'ours MiB':>8}" + (f" {'ours fp32 img/s':>15} {'bf16/fp32':>9} {'fp32 MiB':>8}" if extra else "")
          + f"   ({a.device}, {a.precision}; MiB: {'peak device memory' if a.device == 'cuda' else 'peak resident memory'})")
    for r in rows:
        label = f"{r['config']} (w={r['width']}, {r['size']}², b{r['batch']})"
        print(f"{label:28} {r['torch_images_per_s']:13.1f} {r['ours_images_per_s']:10.1f} {r['ratio']:6.2f} "
              f"{r['ratio_min']:6.2f}–{r['ratio_max']:<6.2f} {r['torch_mib']:11.0f} {r['ours_mib']:8.0f}"
              + (f" {r['ours_fp32_images_per_s']:15.1f} {r['ours_images_per_s'] / r['ours_fp32_images_per_s']:9.2f}"
                 f" {r['ours_fp32_mib']:8.0f}" if extra else ""))
    print(f"(PyTorch {rows[0]['torch_version']}{' under autocast(bfloat16)' if a.precision == 'bf16' else ''}, "
          f"{a.threads} threads each, median of {a.repeats} alternating repeats of the median of {a.steps} steps)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
