"""The examples in the docstrings and the README run and say what they claim."""

from __future__ import annotations

import doctest
import importlib
import pathlib
import re

import pytest

MODULES = [
    "xpgrad._device",
    "xpgrad._backend",
    "xpgrad._shapes",
    "xpgrad.ops",
    "xpgrad.ops.linalg",
    "xpgrad.ops.reduction",
    "xpgrad.ops.elementwise",
    "xpgrad.tensor",
    "xpgrad.testing",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_readme_quickstart_runs():
    readme = pathlib.Path(__file__).resolve().parents[1] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], str(readme), "exec"), namespace)
    W = namespace["W"]
    # loss = mean((x W^T + b)^2) with x = ones(4, 3), W = 0.5, b = [0, 1]:
    # y = [1.5, 2.5] per row, dL/dy = 2y/8, dL/db = sum over 4 rows = y, dL/dW = y[:, None] * 1.
    assert W.grad.tolist() == [[1.5] * 3, [2.5] * 3]
    assert namespace["b"].grad.tolist() == [1.5, 2.5]
