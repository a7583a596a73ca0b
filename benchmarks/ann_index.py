"""Search at scale: each kind of ``geosiam.mining.ann`` index against exact FAISS, side by side.

Descriptors are clustered like real ones, not uniform noise: a mixture of Gaussians on the unit
sphere (one cluster per 1,000 descriptors, each with its own spread, varying mostly within a
32-dimensional subspace as a network's descriptors do), and the queries are
database rows moved by a small perturbation (the same place in another year). For each size and
kind: build time and the peak of the process's anonymous memory above its level before the build
(sampled every 20 ms), query latency p50/p99 for 1 query and for a batch of 1,000, and recall@5
against the exact top 5. Approximate indexes are tuned (nprobe, efSearch) on a separate set of
200 queries to the smallest setting reaching recall@5 >= 0.995 there (a margin over the 0.99
target), then measured on the 1,000. At 10^7 the batch of 1,000 is timed once (exact takes
minutes), single queries 20 times.

Each (size, kind) runs in a child process on the same memory-mapped database, one at a time, so
that memory is freed between indexes and measured from a clean start. 10^7 (5 GB) is behind
``--large``, so that ``make bench`` stays short; HNSW construction is limited to
``--hnsw-up-to`` descriptors (its build is the slowest by far on a small CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from benchmarks.common import print_table

DIM = 128
K = 5
TUNE_QUERIES = 200
PER_CLUSTER = 1000
QUERY_NOISE = 0.02  # per dimension: a query keeps a cosine of about 0.97 with its place
CHUNK = 1_000_000
SUBSPACE = 32
SPREAD = (0.02, 0.06)  # per subspace dimension: a cluster keeps a cosine of 0.95-0.99 to its centre
ISOTROPIC = 0.01


def make_database(path: Path, rows: int, seed: int) -> None:
    """Clustered unit descriptors written chunk by chunk into a .npy memory map.

    Like a network's descriptors, they vary mostly along a few directions: each point is its
    cluster's centre moved within a shared 32-dimensional subspace (each cluster with its own
    spread), plus a little isotropic noise in all 128 dimensions.
    """
    from geosiam.ranking import l2_normalise

    rng = np.random.default_rng(seed)
    clusters = max(100, rows // PER_CLUSTER)
    centres = l2_normalise(rng.standard_normal((clusters, DIM), dtype=np.float32))
    basis = np.linalg.qr(rng.standard_normal((DIM, SUBSPACE)))[0].T.astype(np.float32)
    spreads = rng.uniform(SPREAD[0], SPREAD[1], clusters).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, DIM))
    for start in range(0, rows, CHUNK):
        stop = min(start + CHUNK, rows)
        labels = rng.integers(clusters, size=stop - start)
        moves = rng.standard_normal((stop - start, SUBSPACE), dtype=np.float32) @ basis
        noise = ISOTROPIC * rng.standard_normal((stop - start, DIM), dtype=np.float32)
        out[start:stop] = l2_normalise(centres[labels] + spreads[labels, None] * moves + noise)
    out.flush()
    del out


def make_queries(database: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Database rows, perturbed: the same places seen in another year."""
    from geosiam.ranking import l2_normalise

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(database), count, replace=False))
    return l2_normalise(database[rows] + QUERY_NOISE * rng.standard_normal((count, DIM), dtype=np.float32))


class PeakMemory:
    """The peak of RssAnon (anonymous resident memory) while the block runs, sampled every 20 ms."""

    def __enter__(self):
        self.start = self.peak = _rss_anon()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_anon())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_anon())

    @property
    def delta_gb(self) -> float:
        return (self.peak - self.start) / 2**30


def _rss_anon() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def latencies(fn, count: int) -> tuple[float, float]:
    """p50 and p99 of ``count`` timed calls of ``fn``, in milliseconds."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def wait_for_truth(path: Path) -> dict:
    """The exact answers (written by the flat child), waiting for them when an approximate index
    was built in parallel with the exact one (its build is measured alone either way)."""
    while True:
        try:
            with np.load(path) as truth:
                return {name: truth[name] for name in truth.files}
        except (OSError, ValueError, EOFError):  # not written yet, or being written
            time.sleep(5)


def measure(work: Path, rows: int, kind: str, threads: int, target: float) -> dict:
    """Build one index of the memory-mapped database and measure it (runs in a child process)."""
    import faiss

    from geosiam.mining import ann

    faiss.omp_set_num_threads(threads)
    database = np.load(work / f"db_{rows}.npy", mmap_mode="r")
    queries, tune_queries = np.load(work / f"q_{rows}.npy"), np.load(work / f"qt_{rows}.npy")
    started = time.perf_counter()
    with PeakMemory() as memory:
        index = ann.build_index(database, kind)
    build_s = time.perf_counter() - started
    vectors = database if kind == "ivfpq" else None
    truth_file = work / f"exact_{rows}.npz"
    if kind == "flat":
        tuning = ann.tune(index, tune_queries, ann.search(index, tune_queries, K)[1])
    else:
        truth = wait_for_truth(truth_file)
        tuning = ann.tune(index, tune_queries, truth["tune"], vectors, target)
    singles = 50 if rows <= 1_000_000 else 20
    one = iter(np.tile(queries, (2, 1)))
    p50_1, p99_1 = latencies(lambda: ann.search(index, next(one)[None, :], K, vectors), singles)
    batches = 5 if rows <= 1_000_000 else 1
    answers = []
    p50_k, p99_k = latencies(lambda: answers.append(ann.search(index, queries, K, vectors)[1]), batches)
    found = answers[-1]
    if kind == "flat":
        np.savez(truth_file, exact=found, tune=ann.search(index, tune_queries, K)[1])
    exact = wait_for_truth(truth_file)["exact"]
    return {
        "rows": rows,
        "kind": kind,
        "build_s": build_s,
        "memory_gb": memory.delta_gb,
        "setting": f"{tuning.parameter}={tuning.value}" if tuning.parameter else "exact",
        "p50_1_ms": p50_1,
        "p99_1_ms": p99_1,
        "p50_1000_ms": p50_k,
        "p99_1000_ms": p99_k,
        "recall5": ann.recall_at_k(found, exact),
        "singles": singles,
        "batches": batches,
        "threads": threads,
        "tuned_to": target,
        "lists": ann.nlist_of(index) if kind in ("ivf", "ivfpq") else 0,
    }


def run_child(work: Path, rows: int, kind: str, threads: int, target: float) -> dict | None:
    """:func:`measure` in a fresh process, so that its memory is freed and measured alone."""
    command = [sys.executable, "-m", "benchmarks.ann_index", "--child", str(work), str(rows), kind]
    command += ["--threads", str(threads), "--tune-target", str(target)]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=root, env=env)
    if done.returncode:
        print(f"  {rows} {kind}: failed\n{done.stderr[-2000:]}", flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def format_rows(results: list[dict]) -> list[tuple]:
    """Table rows with the speed-up of 1,000 queries over exact at the same size."""
    exact = {r["rows"]: r["p50_1000_ms"] for r in results if r["kind"] == "flat"}
    return [
        (
            f"{r['rows']:.0e}",
            r["kind"],
            r["setting"] + (f", {r['lists']} lists" if r.get("lists") else ""),
            r["build_s"],
            r["memory_gb"],
            r["p50_1_ms"],
            r["p99_1_ms"],
            r["p50_1000_ms"],
            r["p99_1000_ms"],
            exact[r["rows"]] / r["p50_1000_ms"] if r["rows"] in exact else "",
            r["recall5"],
        )
        for r in results
    ]


HEADERS = (
    "database",
    "kind",
    "setting",
    "build s",
    "build GB",
    "1 q p50 ms",
    "1 q p99 ms",
    "1000 q p50 ms",
    "1000 q p99 ms",
    "x exact (1000 q)",
    "recall@5",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--large", action="store_true", help="add 10^7 descriptors (5 GB; long)")
    parser.add_argument("--kinds", nargs="+", default=["flat", "ivf", "ivfpq", "hnsw"])
    parser.add_argument("--hnsw-up-to", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="FAISS threads (OpenMP)")
    parser.add_argument(
        "--tune-target", type=float, default=0.995, help="recall@5 the 200 tuning queries must reach"
    )
    parser.add_argument("--work", type=Path, help="folder for the databases, kept (default: a temporary one)")
    parser.add_argument("--jsonl", type=Path, help="append each result to this file as it comes")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        work, rows, kind = args.child
        print(json.dumps(measure(Path(work), int(rows), kind, args.threads, args.tune_target)))
        return
    sizes = args.sizes + ([10_000_000] if args.large else [])
    kinds = ["flat"] + [k for k in args.kinds if k != "flat"]  # exact first: the ground truth
    with tempfile.TemporaryDirectory() if args.work is None else nullcontext(args.work) as tmp:
        work = Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = []
        for rows in sizes:
            started = time.perf_counter()
            make_database(work / f"db_{rows}.npy", rows, seed=rows)
            database = np.load(work / f"db_{rows}.npy", mmap_mode="r")
            np.save(work / f"q_{rows}.npy", make_queries(database, args.queries, seed=1))
            np.save(work / f"qt_{rows}.npy", make_queries(database, TUNE_QUERIES, seed=2))
            del database
            print(f"  {rows} descriptors made in {time.perf_counter() - started:.0f} s", flush=True)
            for kind in kinds:
                if kind == "hnsw" and rows > args.hnsw_up_to:
                    print(f"  {rows} hnsw: skipped (construction beyond --hnsw-up-to)", flush=True)
                    continue
                result = run_child(work, rows, kind, args.threads, args.tune_target)
                if result is None:
                    continue
                results.append(result)
                print(f"  {rows} {kind}: {json.dumps(result)}", flush=True)
                if args.jsonl:
                    with open(args.jsonl, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(result) + "\n")
            if args.work is None:
                (work / f"db_{rows}.npy").unlink()
    print_table(
        f"FAISS indexes, {DIM}-d clustered descriptors, {args.queries} queries, recall@5 vs exact, "
        f"{args.threads} FAISS thread(s)",
        format_rows(results),
        HEADERS,
    )


if __name__ == "__main__":
    main()
