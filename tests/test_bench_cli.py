"""Smoke test of ``xpgrad bench``: the CLI runs in-process on a tiny preset
(2x2 and 8x8 only, one repeat) and writes its table and JSON."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("xpgrad") is None:  # a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xpgrad.bench import runtime  # noqa: E402
from xpgrad.bench.cli import main  # noqa: E402
from xpgrad.bench.report import COLUMNS  # noqa: E402

TINY = ["--quick", "--ops", "matmul", "--dtypes", "float64", "--max-size", "8", "--repeat", "1",
        "--min-time", "0.0005", "--pause", "0", "--no-progress"]


@pytest.fixture
def without(monkeypatch):
    """``without("torch")`` makes ``import torch`` fail for the rest of the test."""

    def block(name):
        monkeypatch.setitem(sys.modules, name, None)
        if name == "torch":
            monkeypatch.setattr(runtime, "_TORCH", {})

    return block


def _check_results(data, expect_torch):
    assert data["meta"]["preset"] == "quick"
    assert data["meta"]["environment"]["numpy"]
    results = data["results"]
    assert results
    for r in results:
        for key in ("op", "kind", "phase", "api", "shape", "shapes", "dtype", "device", "flops",
                    "impls", "ratios", "unavailable", "grad_bytes"):
            assert key in r, key
        assert r["op"] == "matmul" and r["dtype"] == "float64" and r["device"] == "cpu"
        assert r["flops"] > 0
        mine = r["impls"]["xpgrad"]
        assert mine["median_s"] > 0 and mine["gflops"] > 0
        assert mine["peak_backward_bytes"] > 0 and r["grad_bytes"] > 0
        assert r["impls"]["ideal"]["median_s"] > 0
        assert r["ratios"]["ideal"] > 0
        if expect_torch:
            assert r["ratios"]["torch"] > 0
        else:
            assert r["unavailable"]["torch"] == "n/a: torch not installed"


def test_table_and_json_without_torch(tmp_path, capsys, without):
    without("torch")
    path = tmp_path / "bench.json"
    assert main(TINY + ["--json", str(path)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("op "))
    assert header.split() == [w for c in COLUMNS for w in c.split()]
    assert "(2,2)@(2,2)" in out and "(8,8)@(8,8)" in out
    assert "n/a: torch not installed" in out
    data = json.loads(path.read_text())
    _check_results(data, expect_torch=False)
    assert {r["kind"] for r in data["results"]} == {"dispatch", "chain"}


def test_torch_column(tmp_path, capsys):
    pytest.importorskip("torch")
    path = tmp_path / "bench.json"
    assert main(TINY + ["--kinds", "chain", "--json", str(path)]) == 0
    _check_results(json.loads(path.read_text()), expect_torch=True)


def test_plot_without_matplotlib(tmp_path, capsys, without):
    without("matplotlib")
    png = tmp_path / "bench.png"
    assert main(TINY + ["--kinds", "dispatch", "--no-torch", "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    assert "matplotlib is not installed" in captured.err
    assert not png.exists()


def test_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "bench.png"
    assert main(TINY + ["--kinds", "dispatch", "--no-torch", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv", [["--ops", "conv"], ["--dtypes", "int8"], ["--devices", "tpu"],
                                  ["--kinds", "gemm", "--max-size", "8"]])
def test_bad_arguments(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err
