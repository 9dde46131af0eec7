"""benchmarks/gpu.sh, the prepared GPU run: its CPU dry run ends with a full record, and the FLOPs bound
reads the right peak for a device name. No timing is asserted (speed targets live in benchmarks/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import gpu  # noqa: E402


@pytest.mark.parametrize("name, tflops", [("NVIDIA H200", 989.4), ("NVIDIA H100 80GB HBM3", 989.4),
                                           ("NVIDIA H100 PCIe", 756.0), ("NVIDIA A100-SXM4-80GB", 312.0),
                                           ("NVIDIA L4", 121.0), ("NVIDIA L40S", 362.0), ("Tesla T4", 65.0),
                                           ("Some Future GPU", None)])
def test_peak_fp16_rate_by_device_name(name, tflops):
    assert gpu.peak_tflops(name) == tflops
    assert gpu.peak_tflops(name, override=100.0) == 100.0


@pytest.mark.slow
def test_gpu_script_cpu_dry_run(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "PYTHON": sys.executable, "IDG_WHEELS": str(tmp_path / "no-wheels")}
    res = subprocess.run(["bash", "benchmarks/gpu.sh", "--device", "cpu", "--k", "16", "--images", "1",
                          "--json", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["device"] == "cpu" and record["k"] == 16 and record["dtype"] == "float32"
    assert record["skipped"] == [] and record["peak_fp16_tflops"] is None
    cases = {c["case"]: c for c in record["cases"]}
    assert set(cases) == {"prototype", "engine eager batch 1"}  # batch sizes above --images dropped, no compile
    for case in cases.values():
        assert case["images"] == 1 and case["images_per_s"] > 0 and case["split_s_per_image"]["unet"] > 0
        assert case["peak_gpu_memory_gib"] is None and case["fraction_of_flops_bound"] is None
    # forest_fire's first image has an object: the prototype inpaints the full 768 px frame, the engine a crop
    assert record["objects_per_image"] >= 1
    assert record["gflop_per_image"]["prototype"] > record["gflop_per_image"]["engine"] > 0
    assert "engine eager batch 1" in res.stdout
