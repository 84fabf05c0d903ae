"""How fast is this book? Benchmarks of the training machinery, as ratios measured in one run.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/run.py [--device cuda] [--threads N]``).
Prints a table and writes ``benchmarks/latest.json``. Every timing is repeated and summarised by its
minimum and median; ratios use the minima (least disturbed by other processes on a shared machine)
and the medians are printed next to them.

What is measured (issue 8):

1. ``step_vs_gemm``: one training step of the paper's MLP (batch 4000, input 37, width 1000, SGD) in
   the lean loop (sampling + hand-written forward/backward + update), its achieved FLOP/s, and its
   ratio to the same two GEMMs timed alone and to a large square matmul; a plain PyTorch step
   (nn.Sequential + autograd + torch.optim.SGD + task.sample) for comparison.
2. ``ensemble_vs_loop``: the width sweep of the parameter experiment (widths 1..20 x 10 seeds, batch
   4000, Adam): one ensemble step against a Python loop over the 200 plain PyTorch models, per step.
3. ``sampling_fraction``: data sampling throughput (samples/s) and its share of a training step.
4. ``multilinear_loss``: ``multilinear.loss`` over 10^5 skills x 200 times, wall time.
5. ``memory``: peak resident memory of the default-scale experiments (each in a fresh subprocess).
6. ``transformer``: a step of the vmap ensemble of transformers against a Python loop over its members.
7. ``compile``: ``torch.compile`` on the autograd MLP step, against eager.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from skillkit import multilinear  # noqa: E402
from skillkit.data import MultitaskSparseParity, Sampler  # noqa: E402
from skillkit.models import MLPEnsemble, SparseParityTransformer, TransformerConfig  # noqa: E402
from skillkit.train import Run, TrainConfig  # noqa: E402

DIM, N_SKILLS, N_BITS = 37, 5, 32


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn, device, repeat=7, warmup=1, inner=1):
    """Minimum and median seconds per call of ``fn`` over ``repeat`` timings of ``inner`` calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        _sync(device)
        ts.append((time.perf_counter() - t0) / inner)
    return min(ts), statistics.median(ts)


def timeit_paired(fns, device, repeat=7, warmup=1, inner=1):
    """Time several functions interleaved (A B C A B C ...), so that a burst of load from other
    processes hits all of them alike; returns (min, median) seconds per call for each."""
    for f in fns:
        for _ in range(warmup):
            f()
    _sync(device)
    ts = [[] for _ in fns]
    for _ in range(repeat):
        for j, f in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(inner):
                f()
            _sync(device)
            ts[j].append((time.perf_counter() - t0) / inner)
    return [(min(t), statistics.median(t)) for t in ts]


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


# ----- 1. the paper's MLP step against its GEMMs ------------------------------------------------------
def bench_step(device, task, repeat):
    B, W = 4000, 1000
    net = MLPEnsemble(1, DIM, W, init_std=0.01, seed=0, device=device)
    run = Run(net, task, TrainConfig(batch=B, lr=0.02))
    smp = run.sampler
    state = {"t": 0}

    def step():                                  # skillkit.train's step: batch, gradient, torch.optim update
        run.step(state["t"])
        state["t"] += 1

    xa, y = smp.batch(0)
    x = xa[0].contiguous()
    w1 = net.w1[0].contiguous()
    G = torch.randn(B, W, device=device)

    def gemms():
        x @ w1
        x.t() @ G

    t_step, t_gemm = timeit_paired([step, gemms], device, repeat, warmup=2, inner=3)
    t_sample = timeit(lambda: smp.batch(123), device, repeat, warmup=2, inner=10)
    n = 2048 if device.type == "cpu" else 8192
    a = torch.randn(n, n, device=device)
    t_sq = timeit(lambda: a @ a, device, max(3, repeat // 2), inner=1 if device.type == "cpu" else 5)
    flops = 2 * (2 * B * (DIM + 1) * W)               # the two GEMMs of a step (forward, weight grad)
    # a plain PyTorch step, as one would write it without skillkit.train
    plain = net.model(0)
    popt = torch.optim.SGD(plain.parameters(), lr=0.02)
    gen = torch.Generator(device=task.device).manual_seed(0)

    def plain_step():
        xs, _, ys = task.sample(B, generator=gen)
        xs, ys = xs.to(device), ys.to(device)
        popt.zero_grad()
        torch.nn.functional.mse_loss(plain(xs)[:, 0], ys).backward()
        popt.step()

    t_plain = timeit(plain_step, device, repeat, warmup=2, inner=3)
    return {
        "shape": {"batch": B, "input": DIM, "width": W},
        "step_ms": [1e3 * t_step[0], 1e3 * t_step[1]],
        "gemms_alone_ms": [1e3 * t_gemm[0], 1e3 * t_gemm[1]],
        "plain_pytorch_step_ms": [1e3 * t_plain[0], 1e3 * t_plain[1]],
        "square_matmul_n": n,
        "square_matmul_gflops": 2 * n**3 / t_sq[0] / 1e9,
        "step_gflops": flops / t_step[0] / 1e9,
        "gemm_gflops": flops / t_gemm[0] / 1e9,
        "ratio_to_gemms": t_gemm[0] / t_step[0],
        "ratio_to_gemms_median": t_gemm[1] / t_step[1],
        "ratio_to_square": (flops / t_step[0]) / (2 * n**3 / t_sq[0]),
        "speedup_over_plain_pytorch": t_plain[0] / t_step[0],
        "sample_ms": [1e3 * t_sample[0], 1e3 * t_sample[1]],
    }


# ----- 2. width sweep: ensemble against a loop ----------------------------------------------------------
def bench_ensemble(device, task, repeat):
    B = 4000
    widths = [w for w in range(1, 21) for _ in range(10)]
    M = len(widths)
    out = {"n_models": M, "widths": "1..20 x 10 seeds", "batch": B, "optimizer": "adam"}

    def ensemble_step(shared):
        net = MLPEnsemble(M, DIM, widths, init_std=0.05, seed=0, device=device)
        run = Run(net, task, TrainConfig(batch=B, lr=0.05, optimizer="adam", shared_batch=shared))
        state = {"t": 0}

        def step():
            run.step(state["t"])
            state["t"] += 1
        return step, run.sampler

    step_ind, smp_ind = ensemble_step(False)
    step_sh, smp_sh = ensemble_step(True)
    # the loop: 200 plain PyTorch models, each with its own data (task.sample) and optimiser
    net = MLPEnsemble(M, DIM, widths, init_std=0.05, seed=0, device=device)
    models = [net.model(i) for i in range(M)]
    opts = [torch.optim.Adam(m.parameters(), lr=0.05) for m in models]
    gens = [torch.Generator(device=task.device).manual_seed(i) for i in range(M)]

    def loop_step():
        for m, o, g in zip(models, opts, gens):
            xs, _, ys = task.sample(B, generator=g)
            xs, ys = xs.to(device), ys.to(device)
            o.zero_grad()
            torch.nn.functional.mse_loss(m(xs)[:, 0], ys).backward()
            o.step()

    # interleaved: loop, independent, shared, loop, ... so that load bursts hit all three alike
    tl, ti, tsh = timeit_paired([loop_step, step_ind, step_sh], device, repeat=max(3, repeat // 2), warmup=1)
    si, ssh = timeit_paired([lambda: smp_ind.batch(7), lambda: smp_sh.batch(7)], device,
                            max(3, repeat // 2), warmup=1)
    out["loop_step_ms"] = [1e3 * tl[0], 1e3 * tl[1]]
    out["ensemble_independent_step_ms"] = [1e3 * ti[0], 1e3 * ti[1]]
    out["ensemble_shared_batch_step_ms"] = [1e3 * tsh[0], 1e3 * tsh[1]]
    out["sampling_independent_ms"] = [1e3 * si[0], 1e3 * si[1]]
    out["sampling_shared_batch_ms"] = [1e3 * ssh[0], 1e3 * ssh[1]]
    out["ratio_independent"] = tl[0] / ti[0]
    out["ratio_shared_batch"] = tl[0] / tsh[0]
    out["ratio_independent_median"] = tl[1] / ti[1]
    out["ratio_shared_batch_median"] = tl[1] / tsh[1]
    return out


# ----- 4. the closed form --------------------------------------------------------------------------------
def bench_multilinear(repeat):
    T = np.logspace(0, 4, 200)
    t = timeit(lambda: multilinear.loss(0.6, 100_000, T=T), torch.device("cpu"), max(3, repeat // 2))
    return {"n_skills": 100_000, "n_times": 200, "seconds": [t[0], t[1]]}


# ----- 5. memory ------------------------------------------------------------------------------------------
_MEM_SNIPPET = r"""
import os, resource, sys, torch
sys.path.insert(0, {root!r})
torch.set_num_threads({threads})
from skillkit.data import MultitaskSparseParity
from skillkit.models import MLPEnsemble
from skillkit.train import TrainConfig, train
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return float(line.split()[1])
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
try:                       # reset the peak-RSS counter after the imports (Linux >= 4.0)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
except OSError:
    pass
base = hwm()
task = MultitaskSparseParity(5, 32, 3, 0.6, 5.0, seed=0)
net = MLPEnsemble({M}, task.dim, {widths}, init_std=0.01, seed=0, device={device!r})
cfg = TrainConfig(steps={steps}, batch={batch}, D={D}, lr=0.02, optimizer={opt!r}, log_every={steps},
                  probe_n=20000, shared_batch={shared})
train(net, task, cfg, progress=False)
peak = hwm()
gpu = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
print(base / 1024, peak / 1024, gpu / 2**20)
"""

MEM_CASES = {
    "time: 10 seeds x width 1000, batch 4000": dict(M=10, widths=1000, steps=4, batch=4000, D=None, opt="sgd", shared=False),
    "width sweep: 200 models (1..20 x 10)": dict(M=200, widths=[w for w in range(1, 21) for _ in range(10)],
                                                  steps=4, batch=4000, D=None, opt="adam", shared=False),
    "data: 10 seeds x D=35000, batch 2000": dict(M=10, widths=1000, steps=4, batch=2000, D=35000, opt="sgd", shared=False),
}


def bench_memory(device, threads):
    out = {}
    for name, case in MEM_CASES.items():
        code = _MEM_SNIPPET.format(root=str(ROOT), threads=threads, device=str(device), **case)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
        if res.returncode != 0:
            out[name] = {"error": res.stderr.strip().splitlines()[-1] if res.stderr else "failed"}
            continue
        base, peak, gpu = map(float, res.stdout.split()[-3:])
        out[name] = {"peak_rss_mib": peak, "rss_after_import_mib": base, "peak_gpu_mib": gpu}
    return out


class _Generic(torch.nn.Module):
    """The paper's MLP seen as an arbitrary ensemble module (no ``loss_and_grad``): trained through autograd."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.n_models, self.seeds = inner, inner.n_models, inner.seeds

    def forward(self, x):
        return self.inner(x)


# ----- 6. the transformer ensemble (torch.func + vmap) against a loop over its members ----------------
def bench_transformer(device, task, repeat):
    """One SGD step (forward, MSE, backward, update) of chapter 7's transformers: the vmap ensemble of
    ``skillkit.models.SparseParityTransformer`` against a Python loop over the same members, each a plain
    ``ParityTransformer`` with its own optimiser and batch."""
    out = {}
    for name, (shape, M, B) in {"chapter 7 (width 32, 15 tokens, 1 block)": (TransformerConfig(15, 32, 4, 1), 6, 128),
                                "paper (width 512, 37 tokens, 1 block)": (TransformerConfig(37, 512, 4, 1), 2, 128)}.items():
        ens = SparseParityTransformer(shape, n_models=M, seed=0).to(device)
        members = [ens.member(i) for i in range(M)]
        x = torch.randint(0, 2, (M, B, shape.n_tokens), device=device).float()
        y = torch.randn(M, B, device=device)
        opt = torch.optim.SGD(ens.parameters(), lr=1e-3, momentum=0.9)
        opts = [torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for m in members]

        def ens_step():
            opt.zero_grad()
            ((ens(x) - y) ** 2).mean(1).sum().backward()
            opt.step()

        def loop_step():
            for i, (m, o) in enumerate(zip(members, opts)):
                o.zero_grad()
                ((m(x[i]) - y[i]) ** 2).mean().backward()
                o.step()

        te, tl = timeit_paired([ens_step, loop_step], device, max(3, repeat // 2), warmup=1)
        out[name] = {"n_models": M, "batch": B, "ensemble_step_ms": [1e3 * te[0], 1e3 * te[1]],
                     "loop_step_ms": [1e3 * tl[0], 1e3 * tl[1]], "speedup": tl[0] / te[0]}
    return out


# ----- 7. torch.compile on the autograd path (used for models without a hand-written backward) ---------
def bench_compile(device, task, repeat):
    B, W = 4000, 1000
    net = _Generic(MLPEnsemble(1, DIM, W, init_std=0.01, seed=0, device=device))
    smp = Sampler(task, [1], B, device=device)
    xa, y = smp.batch(0)
    x, y = xa[..., :DIM].contiguous(), y.clone()
    params = list(net.parameters())

    def make_step(f):
        def step():
            for p in params:
                p.grad = None
            ((f(x) - y) ** 2).mean(1).sum().backward()
            with torch.no_grad():
                for p in params:
                    p.sub_(0.02 * p.grad)
        return step

    eager = make_step(net)
    t0 = time.perf_counter()
    try:
        compiled = make_step(torch.compile(net))
        compiled()
        _sync(device)
    except Exception as err:                                   # noqa: BLE001
        return {"available": False, "error": f"{type(err).__name__}: {err}"[:300]}
    t_compile = time.perf_counter() - t0
    te, tc = timeit_paired([eager, compiled], device, repeat, warmup=1, inner=3)
    return {"available": True, "compile_seconds": t_compile, "eager_step_ms": [1e3 * te[0], 1e3 * te[1]],
            "compiled_step_ms": [1e3 * tc[0], 1e3 * tc[1]], "speedup": te[0] / tc[0]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available, else cpu)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: 1 on a machine with <= 2 cores shared with others, "
                         "else torch's default)")
    ap.add_argument("--repeat", type=int, default=7, help="timings per measurement (min and median)")
    ap.add_argument("--skip", nargs="*", default=[], help="sections to skip: step ensemble multilinear "
                    "memory transformer compile")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "latest.json"))
    args = ap.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    threads = args.threads or (1 if (os.cpu_count() or 1) <= 2 else torch.get_num_threads())
    torch.set_num_threads(threads)
    task = MultitaskSparseParity(N_SKILLS, N_BITS, 3, 0.6, 5.0, seed=0, device=device)
    t_start = time.perf_counter()
    results = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "device": device_name(device), "device_type": device.type, "torch": torch.__version__,
               "threads": threads, "repeat": args.repeat}
    print(f"benchmarks on {results['device']}, torch {torch.__version__}, {results['date']}", flush=True)
    if "step" not in args.skip:
        results["step_vs_gemm"] = bench_step(device, task, args.repeat)
        print("  step done", flush=True)
    if "ensemble" not in args.skip:
        results["ensemble_vs_loop"] = bench_ensemble(device, task, args.repeat)
        print("  ensemble done", flush=True)
    if "step" not in args.skip and "ensemble" not in args.skip:
        st, en = results["step_vs_gemm"], results["ensemble_vs_loop"]
        B = st["shape"]["batch"]
        results["sampling_fraction"] = {
            "samples_per_s_one_stream": B / (st["sample_ms"][0] / 1e3),
            "samples_per_s_200_streams": 200 * B / (en["sampling_independent_ms"][0] / 1e3),
            "step_consumes_samples_per_s": B / (st["step_ms"][0] / 1e3),
            "fraction_paper_step": st["sample_ms"][0] / st["step_ms"][0],
            "fraction_width_sweep_step": en["sampling_independent_ms"][0] / en["ensemble_independent_step_ms"][0],
            "fraction_width_sweep_shared": en["sampling_shared_batch_ms"][0] / en["ensemble_shared_batch_step_ms"][0],
        }
    if "multilinear" not in args.skip:
        results["multilinear_loss"] = bench_multilinear(args.repeat)
    if "memory" not in args.skip:
        results["memory"] = bench_memory(device, threads)
        print("  memory done", flush=True)
    if "transformer" not in args.skip:
        results["transformer"] = bench_transformer(device, task, args.repeat)
        print("  transformer done", flush=True)
    if "compile" not in args.skip:
        results["compile"] = bench_compile(device, task, args.repeat)
        print("  compile done", flush=True)
    results["total_seconds"] = time.perf_counter() - t_start
    Path(args.out).write_text(json.dumps(results, indent=1))
    print_table(results)
    print(f"wrote {args.out} ({results['total_seconds']:.0f} s)")
    return results


def print_table(r):
    rows = []
    if "step_vs_gemm" in r:
        s = r["step_vs_gemm"]
        rows += [
            ("MLP step (B 4000, 37 -> 1000 -> 1), lean loop", f"{s['step_ms'][0]:.1f} ms (median {s['step_ms'][1]:.1f})"),
            ("  same two GEMMs alone", f"{s['gemms_alone_ms'][0]:.1f} ms (median {s['gemms_alone_ms'][1]:.1f})"),
            ("  plain PyTorch step (autograd, torch.optim)", f"{s['plain_pytorch_step_ms'][0]:.1f} ms"),
            ("  achieved FLOP/s: step / GEMMs / square matmul",
             f"{s['step_gflops']:.0f} / {s['gemm_gflops']:.0f} / {s['square_matmul_gflops']:.0f} GFLOP/s"),
            ("  step FLOP/s as a share of its GEMMs' [target >= 0.70]", f"{s['ratio_to_gemms']:.2f} (medians {s['ratio_to_gemms_median']:.2f})"),
            ("  step FLOP/s as a share of a square matmul's", f"{s['ratio_to_square']:.2f}"),
        ]
    if "ensemble_vs_loop" in r:
        e = r["ensemble_vs_loop"]
        rows += [
            ("width sweep (200 models, B 4000, Adam): loop of PyTorch models", f"{e['loop_step_ms'][0]:.0f} ms/step"),
            ("  ensemble, independent data per model", f"{e['ensemble_independent_step_ms'][0]:.0f} ms/step"),
            ("  ensemble, one shared batch", f"{e['ensemble_shared_batch_step_ms'][0]:.0f} ms/step"),
            ("  speed-up over the loop: independent / shared [target >= 10]",
             f"{e['ratio_independent']:.1f}x / {e['ratio_shared_batch']:.1f}x "
             f"(medians {e['ratio_independent_median']:.1f}x / {e['ratio_shared_batch_median']:.1f}x)"),
        ]
    if "sampling_fraction" in r:
        f = r["sampling_fraction"]
        rows += [
            ("sampling: samples/s, 1 stream / 200 streams",
             f"{f['samples_per_s_one_stream']:.2e} / {f['samples_per_s_200_streams']:.2e}"),
            ("  paper MLP step consumes", f"{f['step_consumes_samples_per_s']:.2e} samples/s"),
            ("  share of a step: paper MLP / width sweep / sweep shared [target <= 0.10]",
             f"{f['fraction_paper_step']:.3f} / {f['fraction_width_sweep_step']:.3f} / {f['fraction_width_sweep_shared']:.3f}"),
        ]
    if "multilinear_loss" in r:
        m = r["multilinear_loss"]
        rows.append(("multilinear.loss, 1e5 skills x 200 times", f"{m['seconds'][0]:.2f} s (median {m['seconds'][1]:.2f})"))
    if "memory" in r:
        for name, v in r["memory"].items():
            val = v.get("error") or (f"{v['peak_rss_mib']:.0f} MiB peak RSS "
                                     f"({v['rss_after_import_mib']:.0f} MiB after import)") + (
                f", {v['peak_gpu_mib']:.0f} MiB GPU" if v["peak_gpu_mib"] else "")
            rows.append((f"memory, {name}", val))
    if "transformer" in r:
        for name, v in r["transformer"].items():
            rows.append((f"transformer {name}, {v['n_models']} models: vmap ensemble / loop",
                         f"{v['ensemble_step_ms'][0]:.1f} / {v['loop_step_ms'][0]:.1f} ms ({v['speedup']:.2f}x)"))
    if "compile" in r:
        c = r["compile"]
        rows.append(("torch.compile, autograd MLP step: eager / compiled (compile time)",
                     f"{c['eager_step_ms'][0]:.1f} / {c['compiled_step_ms'][0]:.1f} ms ({c['compile_seconds']:.0f} s)"
                     if c.get("available") else f"not available: {c.get('error', '')[:60]}"))
    w = max(len(a) for a, _ in rows)
    print(f"\n{'benchmark'.ljust(w)}  result")
    print("-" * (w + 40))
    for a, b in rows:
        print(f"{a.ljust(w)}  {b}")
    print(f"\ndevice: {r['device']}; torch {r['torch']}; {r['date']}")


if __name__ == "__main__":
    main()
