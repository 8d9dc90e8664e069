#!/usr/bin/python3
"""The seed's Python code, one mode per way it uses multiprocessing.Pool.

    seed_pool.py MODE -o OUT [--npy PATH] [--rows N] [--chunksize N] [--n N]

MODE is one of

    serial          the plain loop:  for row in data: howmany_within_range(row, minimum=4, maximum=8)
    apply           [pool.apply(howmany_within_range, args=(row, 4, 8)) for row in data]
    apply_async     pool.apply_async(howmany_within_range2, args=(i, row, 4, 8),
                    callback=collect_result) per row, close, join, sort by i
    map             pool.map(howmany_within_range_rowonly, [row for row in data])
    starmap         pool.starmap(howmany_within_range, [(row, 4, 8) for row in data])
    imap_unordered  pool.imap_unordered over (i, row, 4, 8), results as they finish
    trivial         not the seed: pool.starmap(f, [(x,) for x in range(N)]) with f(x) = x + 1,
                    the Python reference of the trivial-kernel row of the benchmark

The data is what the seed computes with: the rows of data/seed.npy as Python
lists (`data = np.load(...).tolist()`). The pool is `mp.Pool(mp.cpu_count())`
as in the seed; it is closed and joined before the results are written, so
the whole-process time includes the workers' exit.

OUT gets one result per line. In input order for every mode except
imap_unordered, whose lines are "i,result" in completion order (as kpool's
`order = completion` writes them); apply_async sorts by i as the seed does
(its "Step 5") and writes the results only.

On stderr the script prints one line, `seed_pool: MODE rows=N inner_s=T`,
where T is the time of the Pool part alone (pool creation to join, or the
serial loop), without the interpreter start, the numpy import, the data load
and the output writing; run.sh reports it next to the whole-process time.

Run it with /usr/bin/python3 (Debian's, which has python3-numpy).
"""
import argparse
import multiprocessing as mp
import sys
import time


# ---- The seed's functions, as the seed writes them. ----

def howmany_within_range(row, minimum, maximum):
    """Returns how many numbers lie within `maximum` and `minimum` in a given `row`"""
    count = 0
    for n in row:
        if minimum <= n <= maximum:
            count = count + 1
    return count


def howmany_within_range_rowonly(row, minimum=4, maximum=8):
    count = 0
    for n in row:
        if minimum <= n <= maximum:
            count = count + 1
    return count


def howmany_within_range2(i, row, minimum, maximum):
    """Returns how many numbers lie within `maximum` and `minimum` in a given `row`"""
    count = 0
    for n in row:
        if minimum <= n <= maximum:
            count = count + 1
    return (i, count)


# imap_unordered passes one argument; this unpacks the seed's (i, row, 4, 8).
def howmany_within_range2_packed(args):
    return howmany_within_range2(*args)


# The trivial kernel of the benchmark's "trivial kernel" row (not the seed's).
def add1(x):
    return x + 1


results = []


def collect_result(result):
    global results
    results.append(result)


# ---- One function per mode; each returns the lines to write. ----

def run_serial(data, chunksize):
    out = []
    for row in data:
        out.append(howmany_within_range(row, minimum=4, maximum=8))
    return out


def run_apply(data, chunksize):
    pool = mp.Pool(mp.cpu_count())
    out = [pool.apply(howmany_within_range, args=(row, 4, 8)) for row in data]
    pool.close()
    pool.join()
    return out


def run_apply_async(data, chunksize):
    global results
    results = []
    pool = mp.Pool(mp.cpu_count())
    for i, row in enumerate(data):
        pool.apply_async(howmany_within_range2, args=(i, row, 4, 8), callback=collect_result)
    pool.close()
    pool.join()
    results.sort(key=lambda x: x[0])
    return [r for i, r in results]


def run_map(data, chunksize):
    pool = mp.Pool(mp.cpu_count())
    out = pool.map(howmany_within_range_rowonly, [row for row in data], chunksize)
    pool.close()
    pool.join()
    return out


def run_starmap(data, chunksize):
    pool = mp.Pool(mp.cpu_count())
    out = pool.starmap(howmany_within_range, [(row, 4, 8) for row in data], chunksize)
    pool.close()
    pool.join()
    return out


def run_imap_unordered(data, chunksize):
    pool = mp.Pool(mp.cpu_count())
    out = ["%d,%d" % (i, r) for i, r in
           pool.imap_unordered(howmany_within_range2_packed,
                               [(i, row, 4, 8) for i, row in enumerate(data)],
                               chunksize or 1)]
    pool.close()
    pool.join()
    return out


def run_trivial(n, chunksize):
    pool = mp.Pool(mp.cpu_count())
    out = pool.starmap(add1, [(x,) for x in range(n)], chunksize)
    pool.close()
    pool.join()
    return out


MODES = {
    "serial": run_serial,
    "apply": run_apply,
    "apply_async": run_apply_async,
    "map": run_map,
    "starmap": run_starmap,
    "imap_unordered": run_imap_unordered,
    "trivial": run_trivial,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=sorted(MODES))
    ap.add_argument("-o", "--output", required=True, help="result file, one result per line")
    ap.add_argument("--npy", default="/work/main/data/seed.npy", help="the seed's rows")
    ap.add_argument("--rows", type=int, default=None, help="use only the first N rows")
    ap.add_argument("--chunksize", type=int, default=None,
                    help="Pool chunksize (default: Python's own; imap_unordered: 1)")
    ap.add_argument("--n", type=int, default=2000000, help="trivial: the tasks range(N)")
    a = ap.parse_args()

    if a.mode == "trivial":
        what, count = a.n, a.n
    else:
        import numpy as np
        data = np.load(a.npy).tolist()
        if a.rows is not None:
            data = data[:a.rows]
        what, count = data, len(data)

    t0 = time.perf_counter()
    out = MODES[a.mode](what, a.chunksize)
    inner = time.perf_counter() - t0

    if len(out) != count:
        sys.exit("seed_pool: %s returned %d results for %d tasks" % (a.mode, len(out), count))
    with open(a.output, "w") as f:
        if out:
            f.write("\n".join(map(str, out)))
            f.write("\n")
    print("seed_pool: %s rows=%d inner_s=%.6f" % (a.mode, count, inner), file=sys.stderr)


if __name__ == "__main__":
    main()
