"""Cosimulation speed: the cocotb testbench against the same design free-running in Verilator.

Both run the same input words (built-in test samples of both modalities) through
the same Verilated macro of a demo bundle; the free-running harness is a small
C++ main that streams the words from memory with no Python at all.  Prints
simulated cycles per second of each and the ratio (target >= 50 %); writes
``runs/bench/cosim.json``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import write

HARNESS = r"""
#include "Vrramlsm_macro.h"
#include "verilated.h"
#include <chrono>
#include <cstdio>
#include <vector>
// Verilator escapes the double underscore of Amaranth's port names: inp__valid -> inp___05Fvalid.
int main(int argc, char** argv) {
    // argv[1]: words file (one line per sample: modality count w0 w1 ...)
    FILE* f = fopen(argv[1], "r");
    std::vector<std::pair<int, std::vector<unsigned>>> samples;
    int mod, n;
    while (fscanf(f, "%d %d", &mod, &n) == 2) {
        std::vector<unsigned> w(n);
        for (int i = 0; i < n; i++) fscanf(f, "%u", &w[i]);
        samples.push_back({mod, w});
    }
    fclose(f);
    VerilatedContext ctx;
    Vrramlsm_macro top(&ctx);
    unsigned long long cycles = 0;
    auto tick = [&]() { top.clk = 0; top.eval(); top.clk = 1; top.eval(); cycles++; };
    top.rst = 1; tick(); tick(); top.rst = 0;
    top.out___05Fready = 1;
    auto t0 = std::chrono::steady_clock::now();
    for (auto& s : samples) {
        top.bus_addr = 1; top.bus_wdata = s.first | 2; top.bus_we = 1; tick(); top.bus_we = 0;
        size_t i = 0; bool done = false;
        while (!done) {
            top.inp___05Fvalid = i < s.second.size();
            if (i < s.second.size()) top.inp___05Fpayload = s.second[i];
            top.clk = 0; top.eval();
            bool take = top.inp___05Fvalid && top.inp___05Fready;
            bool last = top.out___05Fvalid && ((top.out___05Fpayload >> 35) & 1);
            top.clk = 1; top.eval(); cycles++;
            if (take) i++;
            if (last) done = true;
        }
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("%llu %.6f\n", cycles, s);
    return 0;
}
"""


def main() -> int:
    from rramlsm.cosim.build import BUILD_ARGS, verilator_env
    from rramlsm.cosim.run import run_cosim, verilog_for
    from rramlsm.hw.host import pack_input
    from rramlsm.hw.program import encode_frames
    from rramlsm.sw.bundle import load_bundle
    from rramlsm.sw.features import sample_frames

    bundle_dir = Path(os.environ.get("RRAMLSM_BENCH_BUNDLE", "runs/demo/bundle"))
    if not (bundle_dir / "manifest.json").exists():
        # `make bench` builds the demo bundle first; run on its own, say why and move on.
        print(f"bench cosim: skipped, no bundle at {bundle_dir} (`make bench` builds one with "
              f"the demo; or set RRAMLSM_BENCH_BUNDLE)")
        return 0
    n = 5 if os.environ.get("RRAMLSM_BENCH_QUICK") else 20
    frames = sample_frames(load_bundle(bundle_dir), {"visual": "digits", "audio": "speech"}, n)
    cocotb_run = run_cosim(bundle_dir, frames)
    verilog = verilog_for(bundle_dir, lanes=16, head_lanes=16)
    work = Path(tempfile.mkdtemp(prefix="rramlsm-free-"))
    (work / "main.cpp").write_text(HARNESS)
    lines = []
    for m, f in frames.items():
        for sample in f:
            words = [pack_input(k, r) for k, r in encode_frames(sample)]
            lines.append(f"{0 if m == 'visual' else 1} {len(words)} " + " ".join(map(str, words)))
    (work / "words.txt").write_text("\n".join(lines) + "\n")
    env = {**os.environ, **verilator_env()}
    t0 = time.perf_counter()
    subprocess.run(["verilator", "--cc", "--exe", "--build", "-j", "2", *BUILD_ARGS,
                    "--top-module", "rramlsm_macro", "-o", "free", str(verilog), "main.cpp"],
                   cwd=work, env=env, check=True, capture_output=True)
    build_s = time.perf_counter() - t0
    out = subprocess.run([str(work / "obj_dir" / "free"), str(work / "words.txt")],
                         capture_output=True, text=True, check=True).stdout.split()
    cycles, secs = int(out[0]), float(out[1])
    free = cycles / secs
    ratio = cocotb_run["sim_cycles_per_s"] / free
    # What the rate leaves out: the simulator's start (Python, the testbench's imports, the
    # golden model's setup) before the first test and its end after the last.
    startup = cocotb_run["wall_seconds"] - sum(r["wall_s"] for r in cocotb_run["runs"].values())
    print(f"cocotb testbench: {cocotb_run['sim_cycles_per_s'] / 1e3:.0f} k cycles/s "
          f"({cocotb_run['samples']} samples, {cocotb_run['mismatches']} mismatches); "
          f"start and end {startup:.1f} s")
    print(f"free-running Verilator: {free / 1e3:.0f} k cycles/s ({cycles} cycles in {secs:.2f} s; "
          f"build {build_s:.0f} s)")
    print(f"ratio {100 * ratio:.0f} % (target >= 50 %)")
    write("cosim", {"samples_per_modality": n, "cocotb_sim_cycles_per_s":
                    cocotb_run["sim_cycles_per_s"], "free_running_cycles_per_s": free,
                    "ratio": ratio, "mismatches": cocotb_run["mismatches"],
                    "startup_s": startup,
                    "cycles_per_sample_mean": float(np.mean(cocotb_run["cycles_per_sample_mean"]))})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
