"""Docstrings of the namespace's functions, from the rules they record.

``help(xp.exp)`` shows which function of the standard it is, and the rule's
derivative with its conventions at the edges; the functions that compose
rules, and those without gradients, say so in the same form.
"""

from __future__ import annotations

import inspect

__all__ = ["composed", "document", "no_gradient", "records"]


def document(function, summary: str, body: str = ""):
    """Give ``function`` the docstring ``name(signature): summary`` and ``body``."""
    name = function.__name__
    signature = str(inspect.signature(function)).replace("'", '"')
    text = f"{name}{signature}: {summary}"
    function.__doc__ = text + (f"\n\n{inspect.cleandoc(body)}" if body else "")
    function.__module__ = "xpgrad.array_api"
    return function


def records(rule, note: str = ""):
    """Decorator: ``function`` is the standard's function that records ``rule``."""

    def decorate(function):
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
    """Decorator: ``function`` composes rules; ``math`` says how, and so what its gradient is."""

    def decorate(function):
        return document(
            function, f"the Array API standard's ``{function.__name__}``, recording its gradient.", math
        )

    return decorate


def no_gradient(why: str):
    """Decorator: ``function``'s result records no gradient, for the reason ``why``."""

    def decorate(function):
        return document(function, f"the Array API standard's ``{function.__name__}``. {why}")

    return decorate
