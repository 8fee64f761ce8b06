"""The examples in the docstrings and the README run, and the README's API
reference names every public function, class, method and property.

Every ```python block of README.md runs, each in a fresh namespace. A block
with an ``if __name__ == "__main__":`` guard is a script (the Dask example
starts worker processes): it runs as a file in a subprocess, with the
repository root on PYTHONPATH. A block that imports a library that is not
installed skips with a reason. Blocks of other languages are not run.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import importlib.util
import inspect
import os
import pathlib
import pkgutil
import re
import subprocess
import sys

import pytest

import xpgrad
from xpgrad._backend import _SIGNATURES

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)


def _modules():
    names = []
    for info in pkgutil.walk_packages(xpgrad.__path__, "xpgrad."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return ["xpgrad"] + sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


# -- the README's code blocks ---------------------------------------------------


def _line(offset: int) -> int:
    return TEXT.count("\n", 0, offset) + 1


def _section(title: str) -> tuple[int, str]:
    """Offset and text of the README's ``## title`` section, up to the next ``## ``."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", TEXT, re.S | re.M)
    assert match, f"README.md has no '## {title}' section"
    return match.start(1), match.group(1)


def _python_blocks(start: int = 0, end: int | None = None) -> list[tuple[int, str]]:
    """(first line, code) of every ```python block between two offsets."""
    return [
        (_line(m.start()), m.group(2))
        for m in FENCE.finditer(TEXT, start, len(TEXT) if end is None else end)
        if m.group(1) == "python"
    ]


BLOCKS = _python_blocks()


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 5


def test_readme_hides_no_python_under_another_fence_tag():
    tags = {m.group(1) for m in FENCE.finditer(TEXT)}
    assert not tags & {"py", "python3", "pycon", "ipython"}, (
        f"fence tags {sorted(tags)}: tag Python examples ```python so that they run"
    )


def _is_script(code: str) -> bool:
    return re.search(r'^if __name__ == "__main__":', code, re.M) is not None


def _skip_unless_importable(code: str, line: int) -> None:
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            roots = [alias.name.partition(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots = [node.module.partition(".")[0]]
        else:
            continue
        for root in roots:
            if importlib.util.find_spec(root) is None:
                pytest.skip(f"the README example at line {line} needs {root}, which is not installed")


@pytest.mark.parametrize("line, code", BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_readme_example_runs(line, code, tmp_path):
    _skip_unless_importable(code, line)
    if _is_script(code):
        script = tmp_path / f"readme_line{line}.py"
        script.write_text(code, encoding="utf-8")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        done = subprocess.run(
            [sys.executable, str(script)], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, (
            f"README example at line {line} failed:\n{done.stdout}\n{done.stderr}"
        )
    else:
        # Blank lines so that a traceback points at the README's own line numbers.
        source = "\n" * line + code
        exec(compile(source, str(README), "exec"), {"__name__": f"readme_line{line}"})


def test_readme_quickstart_values_by_hand():
    start, body = _section("Quickstart")
    line, code = _python_blocks(start, start + len(body))[0]
    namespace: dict = {"__name__": "readme_quickstart"}
    exec(compile("\n" * line + code, str(README), "exec"), namespace)
    # x = [[1, 2, 3], [4, 5, 6]], w = 0.5 everywhere, b = [0, 1]:
    # y = x @ w.T + b = [[3, 4], [7.5, 8.5]]; loss = mean(y ** 2) = 153.5 / 4.
    # dL/dy = 2 y / 4 = [[1.5, 2], [3.75, 4.25]]; dL/dw = (dL/dy).T @ x; dL/db = column sums.
    assert namespace["loss"].item() == 38.375
    assert namespace["w"].grad.tolist() == [[16.5, 21.75, 27.0], [19.0, 25.25, 31.5]]
    assert namespace["b"].grad.tolist() == [5.25, 6.25]


def test_readme_dask_example_is_a_script():
    start, body = _section("Beyond one machine")  # its first example is dask's
    blocks = _python_blocks(start, start + len(body))
    assert blocks and _is_script(blocks[0][1]), (
        "the Dask example starts worker processes: it must run under if __name__ == '__main__':"
    )


# -- the README's API reference --------------------------------------------------


def _plain(sig: inspect.Signature, drop_self: bool = False) -> str:
    # Parameters named with a leading underscore are private (Tensor's _node).
    params = [
        p.replace(annotation=inspect.Parameter.empty)
        for p in sig.parameters.values()
        if not p.name.startswith("_")
    ]
    if drop_self:
        params = params[1:]
    text = str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))
    return text.replace('"', "'")


def _reference_spans() -> set[str]:
    _, body = _section("API reference")
    return {span.replace('"', "'") for span in re.findall(r"`([^`\n]+)`", body)}


def _expected_entries() -> list[str]:
    """What the reference must show: a call with its full signature, or a name."""
    entries = []
    for name in xpgrad.__all__:
        obj = getattr(xpgrad, name)
        if inspect.ismodule(obj):
            entries.append(f"xpgrad.{name}")
            for member_name in obj.__all__:
                member = getattr(obj, member_name)
                rule = callable(getattr(member, "forward", None)) and member_name in _SIGNATURES
                if rule:  # a rule: its forward's arguments (the templates declare no op)
                    entries.append(f"{name}.{member_name}{_plain(inspect.signature(member.forward))}")
                elif inspect.isclass(member) and name == "ops":  # Ctx, Rule, templates: not calls
                    entries.append(f"{name}.{member_name}")
                else:
                    entries.append(f"{name}.{member_name}{_plain(inspect.signature(member))}")
        else:
            entries.append(f"xpgrad.{name}{_plain(inspect.signature(obj))}")
    for name, attr in vars(xpgrad.Tensor).items():
        if name.startswith("_"):
            continue
        if inspect.isfunction(attr):
            entries.append(f"Tensor.{name}{_plain(inspect.signature(attr), drop_self=True)}")
        else:  # a property, or a __slots__ attribute such as data and grad
            entries.append(f"Tensor.{name}")
    return entries


def test_api_reference_names_every_public_name_with_its_signature():
    spans = _reference_spans()
    missing = [entry for entry in _expected_entries() if entry not in spans]
    assert not missing, (
        "README.md's API reference lacks these (write each in backticks, signatures as "
        f"inspect.signature prints them without annotations): {missing}"
    )


def test_api_reference_checks_the_names_that_were_once_missing():
    # The check above must really cover these: a reference without them failed a user once.
    entries = set(_expected_entries())
    for needed in (
        "Tensor.backward(grad=None, *, retain_graph=None, create_graph=False)",
        "xpgrad.to_numpy(array)",
        "xpgrad.get_default_device()",
        "xpgrad.is_grad_enabled()",
        "Tensor.item()",
    ):
        assert needed in entries


_OPERATORS = {
    "__matmul__": "@", "__rmatmul__": "@", "__add__": "+", "__radd__": "+",
    "__sub__": "-", "__rsub__": "-", "__mul__": "*", "__rmul__": "*",
    "__truediv__": "/", "__rtruediv__": "/", "__pow__": "**", "__rpow__": "**",
    "__neg__": "-", "__pos__": "+", "__floordiv__": "//", "__rfloordiv__": "//",
    "__mod__": "%", "__rmod__": "%", "__abs__": "abs", "__lt__": "<", "__le__": "<=",
    "__gt__": ">", "__ge__": ">=", "__getitem__": "[]", "__and__": "&", "__or__": "|",
}


def test_api_reference_lists_every_tensor_operator():
    _, body = _section("API reference")
    row = next((r for r in body.splitlines() if r.startswith("| `@")), "")
    # A | inside a table cell is written \| (it would end the cell).
    symbols = set(re.findall(r"`([^`]+)`", row)[0].replace("\\|", "|").split()) if row else set()
    defined = [name for name in vars(xpgrad.Tensor) if name in _OPERATORS]
    assert defined, "Tensor defines no operators: this test looks in the wrong place"
    missing = sorted({_OPERATORS[name] for name in defined} - symbols)
    assert not missing, f"the README's operator row (| `@ + ...` |) lacks {missing}"


def test_readme_lists_every_differentiable_function():
    from xpgrad.array_api import (
        _elementwise, _indexing, _linear_algebra, _manipulation, _statistical, fft, linalg,
    )

    _, body = _section("Differentiating Array API code")
    listed = set(re.findall(r"`(\w+)`", body))
    modules = (_elementwise, _statistical, _linear_algebra, _manipulation, _indexing, linalg, fft)
    missing = sorted({name for m in modules for name in m.__all__} - listed)
    assert not missing, f"the README's list of differentiable functions lacks {missing}"


_DIGITS_DATA = "xpgrad.tensor(digits.data / 16.0)"


@pytest.mark.parametrize("library", ["numpy", "torch", "jax"])
def test_readme_digits_classifier_learns(library):
    start, body = _section("Differentiating Array API code")
    blocks = [(line, code) for line, code in _python_blocks(start, start + len(body))
              if "load_digits" in code]
    assert blocks, "the README has no digits classifier example"
    line, code = blocks[0]
    _skip_unless_importable(code, line)
    namespace: dict = {"__name__": "readme_digits"}
    if library != "numpy":  # the variants the text after the example gives, as written there
        _, after = _section("Differentiating Array API code")
        wrap = {"torch": "xpgrad.tensor(torch.asarray(digits.data / 16.0))",
                "jax": "xpgrad.tensor(jax.numpy.asarray(digits.data / 16.0))"}[library]
        assert f"`X = {wrap}`" in after, f"the README no longer gives the {library} variant"
        assert _DIGITS_DATA in code
        namespace[library] = pytest.importorskip(library)
        if library == "jax":
            import jax.numpy  # noqa: F401 - the variant reads jax.numpy
        code = code.replace(_DIGITS_DATA, wrap)
    exec(compile("\n" * line + code, str(README), "exec"), namespace)
    assert type(namespace["X"].data).__module__.split(".")[0] == {"jax": "jaxlib"}.get(library, library)
    # The README quotes these; torch.optim.Adam on the same loss reaches them too.
    if namespace["X"].data.dtype == namespace["X"].dtype and str(namespace["X"].dtype) == "float64":
        assert round(float(namespace["loss"]), 4) == 0.0871
        assert round(namespace["accuracy"], 3) == 0.983
    else:  # JAX without x64: float32, the same training to float32's precision
        assert abs(float(namespace["loss"]) - 0.0871) < 1e-3
        assert abs(namespace["accuracy"] - 0.983) < 2e-3


# -- the install commands ------------------------------------------------------


def _bash_lines(section: str) -> list[str]:
    start, body = _section(section)
    return [
        line.split("#")[0].strip()
        for m in FENCE.finditer(TEXT, start, start + len(body))
        if m.group(1) == "bash"
        for line in m.group(2).splitlines()
        if line.strip()
    ]


def test_ci_runs_the_readme_test_command():
    readme = _bash_lines("Install")
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "python -m pytest tests" in readme
    assert "python -m pytest tests" in ci
    assert 'python -m pip install -e ".[test]"' in readme


def test_readme_torch_pin_matches_the_torch_extra():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert "torch" not in " ".join(extras["test"]), "the test extra must install without torch"
    (pin,) = extras["torch"]
    commands = [line for line in _bash_lines("Install") if "download.pytorch.org/whl/cpu" in line]
    assert commands and all(f'"{pin}"' in line for line in commands), (pin, commands)
