"""Docstrings of the namespace's functions, from the rules they record.

``help(xp.exp)`` shows which function of the standard it is, and the rule's
derivative with its conventions at the edges; the functions that compose
rules, and those without gradients, say so in the same form.
"""

from __future__ import annotations

import functools
import inspect

__all__ = ["checked", "composed", "document", "no_gradient", "records"]

#: The names the standard gives its array arguments: ``checked`` checks these.
_ARRAY_NAMES = ("x", "x1", "x2")


def checked(function):
    """``function`` with its array arguments (the positional-only ``x``,
    ``x1``, ``x2``) checked first, as the rules check theirs: a non-array, or
    arrays of two libraries or devices, raise naming the function and the
    argument, before the composition's own code reads them."""
    from .._backend import declare, resolve
    from ..tensor import Tensor

    params = list(inspect.signature(function).parameters.values())
    names = [p.name for p in params if p.kind is p.POSITIONAL_ONLY and p.name in _ARRAY_NAMES]
    if not names:
        return function
    name, count = function.__name__, len(names)
    declare(name, tuple(names))

    @functools.wraps(function)
    def check_then_call(*args, **kwargs):
        arrays = args[:count]
        if any([type(a) is not Tensor for a in arrays]):
            resolve(name, *[a.data if type(a) is Tensor else a for a in arrays])
        return function(*args, **kwargs)

    return check_then_call


def document(function, summary: str, body: str = ""):
    """Give ``function`` the docstring ``name(signature): summary`` and ``body``."""
    name = function.__name__
    signature = str(inspect.signature(function)).replace("'", '"')
    text = f"{name}{signature}: {summary}"
    function.__doc__ = text + (f"\n\n{inspect.cleandoc(body)}" if body else "")
    function.__module__ = "xpgrad.array_api"
    return function


def records(rule, note: str = "", check: bool = False):
    """Decorator: ``function`` is the standard's function that records ``rule``
    (its arguments :func:`checked` first with ``check``, for a function that
    reads them before the rule does)."""

    def decorate(function):
        if check:
            function = checked(function)
        body = inspect.cleandoc(rule.__doc__ or "")
        if note:
            body += f"\n\n{note}"
        body += (
            f"\n\nThe rule is :class:`xpgrad.ops.{rule.__name__}`; its ``forward`` and "
            f"``backward`` also work on plain arrays."
        )
        return document(
            function, f"the Array API standard's ``{function.__name__}``, recording its gradient.", body
        )

    return decorate


def composed(math: str):
    """Decorator: ``function`` composes rules; ``math`` says how, and so what
    its gradient is. Its array arguments are :func:`checked` first."""

    def decorate(function):
        function = checked(function)
        return document(
            function, f"the Array API standard's ``{function.__name__}``, recording its gradient.", math
        )

    return decorate


def no_gradient(why: str):
    """Decorator: ``function``'s result records no gradient, for the reason ``why``."""

    def decorate(function):
        return document(function, f"the Array API standard's ``{function.__name__}``. {why}")

    return decorate
