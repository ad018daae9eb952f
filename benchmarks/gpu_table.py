"""The exact neighbour table on a GPU: its time against the GPU's float32 matrix-product peak, and its ids
against the CPU table, near-ties aside.

    # here, on the CPU: the reference tables, as one digest per row (small enough to send to a GPU machine)
    .venv/bin/python benchmarks/gpu_table.py reference use-multilingual-v3 multilingual-e5-small --out ref/
    # there: the GPU tables, at several block heights, checked against them and against float64 sums
    python3 benchmarks/gpu_table.py run use-multilingual-v3 multilingual-e5-small --random 250000x4096 \\
        --reference ref/ --blocks 4096,16384 --out result/

A model is a name for ``precompute.sources.load_model`` or a ``.npy`` matrix (named by its file's stem, so
that a matrix written from a model on another machine meets that model's reference). ``--random NxD`` adds a
standard-normal float32 matrix (seed 0), which has no CPU reference: it is checked against float64 sums alone.

Prints, and writes to ``OUT/gpu_table.json``:
1. the GPU's float32 matrix-product rate: 8192³ (the peak) and each table's own product shape (b x d x b),
   TF32 off, as the table runs (the mean of 10 after 3 warm-ups);
2. per matrix and block height: the table's time (the CPU's preparation, the products and selection on the
   GPU, the finish) against the symmetric bound N²·d·2 / 2 / peak;
3. the rows whose ids equal the CPU table's (per-row digests), and for the rows that differ, plus a sample
   of the others, the check that settles ties: every listed neighbour's float64 similarity lies within
   2·γ_d of the float64 similarity of the true neighbour of that rank (γ_d = d·u / (1 − d·u), u = 2⁻²⁴, the
   error bound of a float32 dot product of unit rows), so that a difference is a near-tie that either
   side's rounding may break. The differing rows' GPU lists go to ``OUT/NAME_differ.npz``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import precompute  # noqa: E402, F401  before NumPy: its page advice, as in a build

# isort: split
import numpy as np  # noqa: E402
import torch  # noqa: E402

from precompute.contract.indices import valid_rows  # noqa: E402
from precompute.knn.neighbors import _exact_top_k, prepare_search, top_k_neighbors  # noqa: E402

K = 100
#: Rows whose float64 check is done beside the differing ones.
SAMPLE_ROWS = 2000
#: Differing rows written back at most (their GPU lists), per matrix.
DIFFER_ROWS_KEPT = 20000
_U32 = 2.0**-24


def named_matrix(spec: str) -> tuple[str, np.ndarray]:
    """(name, (N, d) float32 matrix) for a model name, a ``.npy`` path, or ``random:NxD``."""
    if spec.startswith("random:"):
        n, d = (int(x) for x in spec.removeprefix("random:").split("x"))
        return f"random-{n}x{d}", np.random.default_rng(0).standard_normal((n, d), dtype=np.float32)
    if spec.endswith(".npy"):
        return Path(spec).stem, np.load(spec)
    from precompute.sources import load_model

    return spec, np.ascontiguousarray(load_model(spec).embeddings, dtype=np.float32)


def matrix_digest(matrix: np.ndarray) -> str:
    """SHA-256 of the matrix's float32 bytes: both machines must search the same bits."""
    return hashlib.sha256(np.ascontiguousarray(matrix, dtype=np.float32).data).hexdigest()


def row_digests(ids: np.ndarray) -> np.ndarray:
    """One 64-bit polynomial hash per row of an (N, k) id table (wrapping arithmetic)."""
    h = np.zeros(ids.shape[0], dtype=np.uint64)
    for column in ids.T:
        h = h * np.uint64(1_000_003) + column.astype(np.int64).astype(np.uint64)
    return h


def tie_tolerance(d: int) -> float:
    """2·γ_d: two float32 dot products of unit d-vectors, each within γ_d of the truth, may order two
    entries whose true similarities differ by less than this either way."""
    gamma = d * _U32 / (1 - d * _U32)
    return 2 * gamma


class Float64Truth:
    """The matrix's rows as float64 unit vectors on ``device``, uploaded once per matrix, and the check that
    tells near-ties from wrong neighbours (:meth:`gaps`)."""

    def __init__(self, matrix: np.ndarray, device: torch.device) -> None:
        self.keep = torch.from_numpy(valid_rows(matrix)).to(device)
        unit = torch.from_numpy(matrix).to(device, torch.float64)
        self.unit = unit / unit.norm(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)

    def gaps(self, rows: np.ndarray, ids: np.ndarray, chunk: int = 256) -> np.ndarray:
        """For each of ``rows``: the largest gap, over ranks j, between the float64 similarity of the row's
        listed j-th neighbour (``ids[row, j]``) and that of its true j-th neighbour (float64 sums, itself
        and invalid rows excluded). 0 means the list is exact; below ``tie_tolerance`` it differs by
        near-ties."""
        device = self.unit.device
        gaps = np.empty(len(rows))
        for lo in range(0, len(rows), chunk):
            part = torch.from_numpy(rows[lo : lo + chunk]).to(device)
            sims = self.unit[part] @ self.unit.T
            sims[:, ~self.keep] = -torch.inf
            sims[torch.arange(len(part), device=device), part] = -torch.inf
            truth = torch.topk(sims, ids.shape[1], dim=1).values
            listed = sims.gather(1, torch.from_numpy(ids[rows[lo : lo + chunk]]).to(device, torch.int64))
            gaps[lo : lo + chunk] = (listed - truth).abs().amax(dim=1).cpu().numpy()
        return gaps


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a GPU's kernels run after the call that queued them returns)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def product_rate(m: int, d: int, n: int, device: torch.device, repeats: int = 10) -> float:
    """float32 TFLOP/s of an (m, d) x (d, n) product on ``device``: the mean of ``repeats`` after 3 warm-ups."""
    a = torch.randn(m, d, device=device)
    b = torch.randn(n, d, device=device)
    out = torch.empty(m, n, device=device)
    for _ in range(3):
        torch.mm(a, b.T, out=out)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b.T, out=out)
    synchronize(device)
    return 2 * m * d * n * repeats / (time.perf_counter() - start) / 1e12


def timed_table(matrix: np.ndarray, block: int, device: torch.device) -> tuple[np.ndarray, dict[str, float]]:
    """The exact top-K table on ``device`` with ``block`` rows per block (0: as a build picks it), and its
    block height and times: the CPU's preparation (normalisation, locality order), the products and
    selection, the finish."""
    t0 = time.perf_counter()
    search = prepare_search(matrix, K, device=device.type, block_size=block, products="float32")
    t1 = time.perf_counter()
    values, labels = _exact_top_k(search.unit, search.width, labels=search.order, block_size=search.block,
                                  device=search.device, progress=False, products=search.products, backend="torch")
    synchronize(device)
    t2 = time.perf_counter()
    ids, _ = search.finish(values, labels)
    t3 = time.perf_counter()
    return ids, {"block": search.block, "prepare_s": t1 - t0, "products_and_selection_s": t2 - t1,
                 "finish_s": t3 - t2, "total_s": t3 - t0}


def matching_reference(folder: Path | None, name: str, matrix: np.ndarray) -> tuple[np.lib.npyio.NpzFile | None, str]:
    """The CPU reference saved for ``name`` in ``folder``, and a line saying what it is or why there is
    none: a missing file, or one made from other input bits (its ids would not be comparable)."""
    path = folder / f"{name}.npz" if folder else None
    if path is None or not path.exists():
        return None, ("none: checked against float64 sums alone" if path is None
                      else f"none (no {path.name} in {folder}: run `reference` for {name})")
    ref = np.load(path)
    if str(ref["sha256"]) != matrix_digest(matrix):
        return None, f"not used: {path.name} was made from other input bits (another checkpoint or revision)"
    return ref, f"{float(ref['cpu_seconds']):.1f} s on the CPU, same input bits"


def reference(args: argparse.Namespace) -> None:
    """The CPU tables (as a build computes them on this machine), saved as per-row digests."""
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in args.models:
        name, matrix = named_matrix(spec)
        start = time.perf_counter()
        ids, _ = top_k_neighbors(matrix, K, device="cpu", progress=True)
        seconds = time.perf_counter() - start
        np.savez(args.out / f"{name}.npz", digests=row_digests(ids), sha256=matrix_digest(matrix), k=K,
                 cpu_seconds=seconds)
        print(f"{name}: {matrix.shape[0]} x {matrix.shape[1]}, CPU table {seconds:.1f} s -> {args.out / name}.npz")


def run(args: argparse.Namespace) -> None:
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("torch sees no GPU: this benchmark times the CUDA table (--device cpu tries the script "
                         "with the same selection on the CPU)")
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False  # the table's products are IEEE float32 (torch's default)
    args.out.mkdir(parents=True, exist_ok=True)
    blocks = [int(b) for b in args.blocks.split(",")]
    peak = product_rate(*(3 * [args.peak_size]), device)
    gpu_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "none (CPU)"
    figures: dict = {"gpu": gpu_name, "torch": torch.__version__,
                     "cpu_cores": os.cpu_count(), "peak_size": args.peak_size, "peak_tflops": peak, "matrices": {}}
    print(f"{figures['gpu']}, torch {torch.__version__}, {os.cpu_count()} CPU cores; "
          f"float32 peak ({args.peak_size}³, TF32 off): {peak:.1f} TFLOP/s", flush=True)
    top_k_neighbors(np.random.default_rng(1).standard_normal((3000, 64), dtype=np.float32), 10, device=device.type,
                    progress=False)  # CUDA context and cuBLAS handles, outside the timings
    for spec in args.models + [f"random:{r}" for r in args.random]:
        name, matrix = named_matrix(spec)
        n, d = matrix.shape
        rows = np.flatnonzero(valid_rows(matrix))
        tol = tie_tolerance(d)
        entry: dict = {"rows": n, "dim": d, "valid_rows": int(rows.size), "tie_tolerance": tol, "runs": []}
        figures["matrices"][name] = entry
        ref, why = matching_reference(None if spec.startswith("random:") else args.reference, name, matrix)
        entry["reference"] = why
        if ref is not None:
            entry["cpu_seconds"] = float(ref["cpu_seconds"])
        print(f"\n{name}: {n} x {d} ({rows.size} valid); CPU reference: {why}", flush=True)
        truth = Float64Truth(matrix, device)
        sample = np.random.default_rng(2).choice(rows, min(SAMPLE_ROWS, rows.size), replace=False)
        bound = rows.size**2 * d / (peak * 1e12)  # N²·d·2 flops, halved by symmetry
        for block in blocks:
            ids, times = timed_table(matrix, block, device)
            run_figures = {**times, "bound_s": bound, "time_over_bound": times["total_s"] / bound,
                           "gpu_part_over_bound": times["products_and_selection_s"] / bound,
                           "shape_tflops": product_rate(times["block"], d, times["block"], device)}
            differ = (np.flatnonzero(row_digests(ids) != ref["digests"]) if ref is not None
                      else np.array([], dtype=np.int64))
            gaps_differ, gaps_sample = truth.gaps(differ, ids), truth.gaps(sample, ids)
            run_figures.update(
                differ_within_ties=int((gaps_differ <= tol).sum()), differ_max_gap=float(gaps_differ.max(initial=0)),
                sample_rows=int(sample.size), sample_within_ties=int((gaps_sample <= tol).sum()),
                sample_exact=int((gaps_sample == 0).sum()), sample_max_gap=float(gaps_sample.max()))
            if ref is not None:
                run_figures.update(rows_equal=int(n - differ.size), rows_differ=int(differ.size))
            entry["runs"].append(run_figures)
            print("  block {block:>6}: {total_s:6.2f} s (prepare {prepare_s:.2f}, GPU {products_and_selection_s:.2f}, "
                  "finish {finish_s:.2f}); bound {bound_s:.3f} s, time / bound {time_over_bound:.1f} (GPU part "
                  "{gpu_part_over_bound:.1f}); b x d x b products at {shape_tflops:.1f} TFLOP/s".format(**run_figures))
            if ref is not None:
                print("    ids equal to the CPU table in {rows_equal} of {n} rows; of the {rows_differ} that differ, "
                      "{differ_within_ties} are near-ties (largest float64 gap {differ_max_gap:.2e}, tolerance "
                      "{tol:.2e})".format(n=n, tol=tol, **run_figures))
            print("    float64 check on {sample_rows} sampled rows: {sample_exact} exact, {sample_within_ties} within "
                  "ties, largest gap {sample_max_gap:.2e}".format(**run_figures), flush=True)
            if block == blocks[0] and differ.size:
                kept = differ[:DIFFER_ROWS_KEPT]
                np.savez(args.out / f"{name}_differ.npz", rows=kept, ids=ids[kept], gaps=gaps_differ[: kept.size])
        del truth  # its float64 copy (8 GB for 250,000 x 4,096) before the next matrix's
        (args.out / "gpu_table.json").write_text(json.dumps(figures, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ref = sub.add_parser("reference", help="CPU tables as per-row digests")
    ref.add_argument("models", nargs="+")
    ref.add_argument("--out", type=Path, required=True)
    gpu = sub.add_parser("run", help="GPU tables, timed and checked")
    gpu.add_argument("models", nargs="*", default=[])
    gpu.add_argument("--random", action="append", default=[], metavar="NxD", help="a seeded random matrix")
    gpu.add_argument("--reference", type=Path, help="folder of `reference` digests")
    gpu.add_argument("--blocks", default="0", help="comma-separated block heights (rows per block; 0: as a build "
                     "picks it)")
    gpu.add_argument("--out", type=Path, required=True)
    gpu.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                     help="cpu: a dry run of the script with the GPU's selection (torch) on the CPU")
    gpu.add_argument("--peak-size", type=int, default=8192, help="the square product that measures the peak")
    args = parser.parse_args()
    (reference if args.command == "reference" else run)(args)


if __name__ == "__main__":
    main()
