"""How long a DEAP-sized ``synthetic:realistic`` set takes to generate (32 subjects x 40 trials x 63 s).

    python -m benchmarks.realistic_speed [--profiles ccnn-deap,eegnet-deap] [--workers 2]

Prints, per profile, the wall time, the CPU time of this process and its worker processes, and the 1-minute load
average before and after (other work on the machine stretches the wall time; CPU time / workers is what the same
run takes on idle cores). Nothing is cached: it measures generation, not the cache.
"""

from __future__ import annotations

import argparse
import os
import resource
import time


def _cpu() -> float:
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", default="ccnn-deap,eegnet-deap")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    from eegdeploy.config import load_profile
    from eegdeploy.data.realistic import RealisticConfig, load_realistic

    for name in [p.strip() for p in args.profiles.split(",") if p.strip()]:
        load0, cpu0, t0 = os.getloadavg()[0], _cpu(), time.time()
        X, *_ = load_realistic(load_profile(name), RealisticConfig(), cache=False, workers=args.workers)
        wall, cpu = time.time() - t0, _cpu() - cpu0
        print(f"{name}: {X.shape[0]} inputs {tuple(X.shape[1:])} ({X.nbytes / 1e9:.2f} GB) in {wall:.1f} s wall, "
              f"{cpu:.1f} s CPU over {args.workers} worker(s) (= {cpu / args.workers:.1f} s on idle cores); "
              f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
        del X
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
