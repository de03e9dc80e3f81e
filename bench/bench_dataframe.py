"""Rows per second from a stream of 100,000 results into a pandas DataFrame.

100,000 small synthetic samples with a stored ``meta`` output each (bulk path), one workbench-server; the
client builds the frame with ``workbench.clients.dataframes.batch_dataframe`` (batch stream, lists of
stream_batch_size on the wire, flat rows, chunked DataFrame build). Baseline, same run, rounds alternating:
the same client code over a bare zerorpc stream of the same result dicts in lists of 100 (no Workbench on
the server side). For reference: the same DataFrame built from results already in memory (no RPC at all).

    python3 bench/bench_dataframe.py [--results 100000] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import time

from bench_store import fill
from harness import machine_line, median, print_rows, start_bare, start_workbench, temp_dir

from workbench.clients.dataframes import batch_dataframe, to_dataframe


def timed_frame(build) -> tuple[float, int]:  # noqa: ANN001 - a zero-argument callable returning a DataFrame
    """(rows per second, rows) of one DataFrame build."""
    started = time.perf_counter()
    frame = build()
    return len(frame) / (time.perf_counter() - started), len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=100_000, help="results streamed (default 100000)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args()
    print(machine_line())
    folder = temp_dir()
    uri = f"sqlite:///{folder}/workbench.db"
    _, seconds = fill(uri, args.results, seed=3)
    print(f"stored {args.results:,} samples with meta outputs in {seconds:.1f} s (bulk path)")
    workbench, bare = start_workbench(folder, 1, uri), start_bare(folder)
    wb, raw = workbench.client(), bare.client()
    in_memory = list(wb.batch_work_request("meta", {"batch_size": 1000}))
    results = [r for chunk in in_memory for r in chunk]
    assert len(results) == args.results
    item = results[0]

    figures: dict[str, list[float]] = {"workbench": [], "bare": [], "memory": []}
    for rep in range(args.reps):
        rate, rows = timed_frame(lambda: batch_dataframe(wb, "meta"))
        assert rows == args.results, f"frame has {rows} rows, expected {args.results}"
        figures["workbench"].append(rate)
        figures["bare"].append(timed_frame(lambda: to_dataframe(raw.item_lists(args.results, 100, item)))[0])
        figures["memory"].append(timed_frame(lambda: to_dataframe(results))[0])
        print(f"round {rep + 1}: " + ", ".join(f"{k} {v[-1]:,.0f} rows/s" for k, v in figures.items()))

    med = {k: median(v) for k, v in figures.items()}
    frame = batch_dataframe(wb, "meta")
    print_rows(f"medians of {args.reps} rounds, {args.results:,} results -> DataFrame of {frame.shape[0]:,} rows x "
               f"{frame.shape[1]} columns ({os.cpu_count()} cores)", [
        ("source", "rows/s", "vs baseline"),
        ("workbench batch_dataframe(client, 'meta')", f"{med['workbench']:,.0f}",
         f"{med['workbench'] / med['bare']:.2f}x"),
        ("bare zerorpc stream, lists of 100, same dicts -> to_dataframe", f"{med['bare']:,.0f}", "baseline"),
        ("  reference: to_dataframe over results already in memory", f"{med['memory']:,.0f}",
         f"{med['memory'] / med['bare']:.2f}x"),
    ])
    print(f"RESULT dataframe_rows_per_s={med['workbench']:,.0f} ({med['workbench'] / med['bare']:.2f}x the bare "
          "zerorpc stream into the same DataFrame code)")
    workbench.stop()
    bare.stop()


if __name__ == "__main__":
    main()
