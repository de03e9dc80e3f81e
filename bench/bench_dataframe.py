"""Rows per second from 100,000 cached pe_features outputs into a pandas DataFrame: Arrow path, dict path, floor.

100,000 distinct synthetic samples (type_tag exe), each with a stored ``pe_features`` output: the real outputs
of the PE files in ../shared/data, varied per synthetic md5 (file_size, compile_date, checksum, entropy), all
written through the store's bulk path (store_samples/store_outputs) with the chain version the server
computes, so every row is a cache hit. One workbench-server. Side by side, rounds alternating, the same slab
(``subkeys=['pe_features.dense_features']``, the README example):

- Arrow path: ``batch_dataframe(client, 'pe_features', subkeys=[...], type_tag='exe')`` (batch_arrow stream);
- dict path: the same slab as msgpack dicts, lists of 100 (``to_dataframe(batch_stream(...))``, the path
  ``batch_dataframe`` took before);
- Arrow, first request: the first batch_arrow after the outputs were written reads the stored JSON and starts
  the worker's slab file (planning/slab_cache.py: JSON parsed once, a columnar copy beside the db) in the
  background; timed as stream -> bytes only, reported on its own line with the time the slab file took; the
  rounds after it are served from the file;
- floor: a bare zerorpc server replaying the very same Arrow IPC messages, read by plain pyarrow
  (``open_stream`` + ``Table.from_batches`` + ``to_pandas``), no Workbench code on either side.

Targets (issue 14): Arrow >= 10x dict, >= 0.6x floor; client peak memory <= 1.5x the final DataFrame's
``memory_usage(deep=True)`` (measured in a child process: peak RSS over its RSS before the call).

    python3 bench/bench_dataframe.py [--results 100000] [--reps 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
from typing import Any

import pandas as pd
import pyarrow as pa
from harness import REPO_ROOT, machine_line, median, pe_files, print_rows, start_bare, start_workbench, temp_dir

from workbench.clients import slabs
from workbench.clients.dataframes import batch_dataframe, batch_stream, to_dataframe
from workbench.server.data_store import open_store
from workbench.server.planning.plugin_manager import PluginManager
from workbench.testing import make_workbench

SUBKEYS = ["pe_features.dense_features"]
CHUNK = 10_000


def real_outputs() -> list[dict[str, Any]]:
    """pe_features of every PE in ../shared/data (parsed in this process, never executed)."""
    with tempfile.TemporaryDirectory(prefix="bench-df-") as tmp:
        workbench = make_workbench(tmp)
        try:
            outputs = []
            for path in pe_files():
                md5 = workbench.store_sample(path.read_bytes(), path.name, "exe")
                outputs.append(workbench.work_request("pe_features", md5)["pe_features"])
            return outputs
        finally:
            workbench.close()


def fill(uri: str, count: int, outputs: list[dict[str, Any]]) -> float:
    """``count`` synthetic exe samples, each with a varied real pe_features output; seconds taken."""
    chain_version, versions = PluginManager().chain_version("pe_features")
    rng = random.Random(14)
    store = open_store(uri)
    started = time.perf_counter()
    try:
        for start in range(0, count, CHUNK):
            samples, rows = [], []
            for i in range(start, min(count, start + CHUNK)):
                data = rng.randbytes(64)
                md5 = hashlib.md5(data).hexdigest()
                base = outputs[i % len(outputs)]
                dense = dict(base["dense_features"])
                dense.update(file_size=dense["file_size"] + i, compile_date=dense["compile_date"] + i,
                             check_sum=rng.randrange(1 << 32),
                             section_entropy_max=round(dense["section_entropy_max"] * rng.uniform(0.9, 1.0), 6))
                samples.append((data, md5, f"s{i}.exe", "exe"))
                output = {**base, "md5": md5, "dense_features": dense}  # the sample's own md5, as a real output
                rows.append((md5, "pe_features", chain_version, versions, output))
            store.store_samples(samples)
            store.store_outputs(rows)
    finally:
        store.close()
    return time.perf_counter() - started


def floor_frame(messages: Any) -> pd.DataFrame:
    """Plain pyarrow, no Workbench code: each message read in place, one table, to_pandas."""
    batches = [pa.ipc.open_stream(pa.py_buffer(m)).read_next_batch() for m in messages]
    return pa.Table.from_batches(batches).to_pandas(split_blocks=True, self_destruct=True)


def same_form(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by md5, columns by name, an all-missing column (no error anywhere) as float64 on every path."""
    frame = frame.sort_values("md5").reset_index(drop=True)[sorted(frame.columns)]
    return frame.astype({name: "float64" for name in frame.columns if frame[name].isna().all()})


def timed(build) -> tuple[float, pd.DataFrame]:  # noqa: ANN001 - a zero-argument callable returning a DataFrame
    started = time.perf_counter()
    frame = build()
    return len(frame) / (time.perf_counter() - started), frame


MEMORY_PROBE = """
import json, sys
import zerorpc
from workbench.clients.dataframes import batch_dataframe, batch_stream, to_dataframe

def status(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key + ":")) * 1024

port, path, subkeys = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
client = zerorpc.Client(timeout=600, heartbeat=5)
client.connect(f"tcp://127.0.0.1:{port}")
some = client.get_sample_set(client.generate_sample_set(None, "exe"))[:500]
build = {"arrow": lambda **s: batch_dataframe(client, "pe_features", subkeys=subkeys, **s),
         "dict": lambda **s: to_dataframe(batch_stream(client, "pe_features", subkeys=subkeys, **s))}[path]
build(md5_list=some)                                    # warm-up: imports, first allocations
before = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")            # reset the peak (VmHWM) to the current RSS
frame = build(type_tag="exe")
print(json.dumps({"rows": len(frame), "peak": status("VmHWM") - before,
                  "frame": int(frame.memory_usage(deep=True).sum())}))
"""


def memory(port: int, path: str) -> dict[str, int]:
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(port), path, json.dumps(SUBKEYS)],
                          capture_output=True, text=True, timeout=900, cwd=REPO_ROOT)
    if done.returncode:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=100_000, help="cached rows streamed (default 100000)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args()
    print(machine_line())
    outputs = real_outputs()
    folder = temp_dir()
    uri = f"sqlite:///{folder}/workbench.db"
    seconds = fill(uri, args.results, outputs)
    print(f"stored {args.results:,} samples with varied pe_features outputs (from {len(outputs)} real PEs, "
          f"{len(json.dumps(outputs[0])):,} bytes of JSON each) in {seconds:.1f} s (bulk path)")
    workbench, bare = start_workbench(folder, 1, uri), start_bare(folder)
    wb, raw = workbench.client(), bare.client()
    started = time.perf_counter()
    messages = list(slabs.batch_messages(wb, "pe_features", SUBKEYS, type_tag="exe"))
    first = time.perf_counter() - started
    while not wb.info()["counters"].get("slab_builds"):  # the slab is built in the background meanwhile
        time.sleep(0.05)
    built = time.perf_counter() - started
    print(f"first Arrow request (the stored JSON; starts the slab build in the background; stream to bytes, no "
          f"DataFrame): {first:.1f} s, {args.results / first:,.0f} rows/s; slab file ready {built:.1f} s after "
          f"the request began ({args.results / built:,.0f} outputs/s)")
    print(f"Arrow stream: {len(messages)} messages, {sum(map(len, messages)) / 2**20:.1f} MiB of IPC; bare server "
          f"holds {raw.hold(messages)} of them")
    del messages

    figures: dict[str, list[float]] = {"arrow": [], "dict": [], "floor": []}
    frames: dict[str, pd.DataFrame] = {}
    for rep in range(args.reps):
        rate, frames["arrow"] = timed(lambda: batch_dataframe(wb, "pe_features", subkeys=SUBKEYS, type_tag="exe"))
        figures["arrow"].append(rate)
        rate, frames["dict"] = timed(lambda: to_dataframe(batch_stream(wb, "pe_features", SUBKEYS, type_tag="exe")))
        figures["dict"].append(rate)
        rate, frames["floor"] = timed(lambda: floor_frame(raw.replay()))
        figures["floor"].append(rate)
        assert all(len(f) == args.results for f in frames.values()), {k: len(f) for k, f in frames.items()}
        print(f"round {rep + 1}: " + ", ".join(f"{k} {v[-1]:,.0f} rows/s" for k, v in figures.items()))
    ordered = {k: same_form(f) for k, f in frames.items()}
    pd.testing.assert_frame_equal(ordered["arrow"], ordered["dict"])
    pd.testing.assert_frame_equal(ordered["arrow"], ordered["floor"])
    counters = wb.info()["counters"]
    print(f"server counters after the rounds: slab_builds={counters.get('slab_builds', 0)}, "
          f"slab_rows={counters.get('slab_rows', 0):,}, cache_hits={counters.get('cache_hits', 0):,}")
    ints = sum(str(t) == "int64" for t in frames["arrow"].dtypes)
    shape = frames["arrow"].shape
    del frames, ordered

    mem = {path: memory(workbench.port, path) for path in ("arrow", "dict")}
    med = {k: median(v) for k, v in figures.items()}
    print_rows(f"medians of {args.reps} rounds: {args.results:,} cached rows -> DataFrame of {shape[0]:,} x "
               f"{shape[1]} ({ints} int64 columns); equal frames on all three paths", [
        ("path", "rows/s", "vs dict", "vs floor"),
        ("Arrow: batch_dataframe(client, 'pe_features', subkeys=[dense_features])", f"{med['arrow']:,.0f}",
         f"{med['arrow'] / med['dict']:.1f}x", f"{med['arrow'] / med['floor']:.2f}x"),
        ("Arrow, first request: the stored JSON, slab built meanwhile (bytes only)", f"{args.results / first:,.0f}",
         f"{args.results / first / med['dict']:.1f}x", f"{args.results / first / med['floor']:.2f}x"),
        ("dict: to_dataframe(batch_stream(...)), msgpack lists of 100", f"{med['dict']:,.0f}", "1.0x",
         f"{med['dict'] / med['floor']:.2f}x"),
        ("floor: bare zerorpc replay of the same IPC bytes -> pyarrow -> pandas", f"{med['floor']:,.0f}",
         f"{med['floor'] / med['dict']:.1f}x", "1.00x"),
    ])
    for path, m in mem.items():
        print(f"client memory, {path} path: peak +{m['peak'] / 2**20:.0f} MiB for a frame of "
              f"{m['frame'] / 2**20:.0f} MiB (memory_usage deep): {m['peak'] / m['frame']:.2f}x")
    print(f"RESULT arrow_rows_per_s={med['arrow']:,.0f} ({med['arrow'] / med['dict']:.1f}x dict, target 10x; "
          f"{med['arrow'] / med['floor']:.2f}x floor, target 0.6x); client peak "
          f"{mem['arrow']['peak'] / mem['arrow']['frame']:.2f}x the frame (target 1.5x)")
    workbench.stop()
    bare.stop()


if __name__ == "__main__":
    main()
