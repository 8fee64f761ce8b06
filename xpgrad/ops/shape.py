"""Rules that move data without arithmetic: reshape, permute_dims, to_device."""

from __future__ import annotations

import operator
from typing import NamedTuple

from .._backend import device_of, resolve
from .._backend import to_device as _to_device
from .._shapes import as_shape, fmt, normalize_axis
from ._common import Ctx, Rule, check_grad, differentiable
from .elementwise import Unary

__all__ = ["reshape", "permute_dims", "to_device"]


class Reshaped(NamedTuple):
    x_shape: tuple
    x_dtype: object


class reshape(Unary):
    """``out = reshape(x, shape)``; dx = reshape(G, x.shape)."""

    @staticmethod
    def forward(x, shape):
        xp, scope = resolve("reshape", x)
        shape = as_shape(shape, "reshape")
        with scope:
            try:
                out = xp.reshape(x, shape)
            except (ValueError, RuntimeError, TypeError):  # torch: RuntimeError, JAX: TypeError
                raise ValueError(
                    f"reshape: cannot reshape x of shape {fmt(x.shape)} to {shape!r}"
                ) from None
        needs = (differentiable(xp, x),)
        return out, Ctx("reshape", xp, scope, Reshaped(tuple(x.shape), x.dtype), needs, tuple(out.shape))

    @staticmethod
    def grad(xp, g, s):
        return xp.reshape(g, s.x_shape)


class Permuted(NamedTuple):
    inverse: tuple  # the permutation that undoes axes
    x_dtype: object


class permute_dims(Unary):
    """``out = permute_dims(x, axes)``; dx = permute_dims(G, inverse(axes))."""

    @staticmethod
    def forward(x, axes):
        xp, scope = resolve("permute_dims", x)
        try:
            given = tuple(axes)
        except TypeError:
            raise TypeError(f"permute_dims: axes must be a tuple of ints; got {axes!r}") from None
        nd = x.ndim
        if len(given) != nd:
            raise ValueError(
                f"permute_dims: axes {given!r} are not a permutation of the {nd} axes "
                f"of x of shape {fmt(x.shape)}"
            )
        # normalize_axis checks types and range, and rejects repeats.
        normalize_axis(given, nd, "permute_dims", x.shape)
        axes = tuple(operator.index(a) % nd for a in given)
        with scope:
            out = xp.permute_dims(x, axes)
        inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
        needs = (differentiable(xp, x),)
        return out, Ctx("permute_dims", xp, scope, Permuted(inverse, x.dtype), needs, tuple(out.shape))

    @staticmethod
    def grad(xp, g, s):
        return xp.permute_dims(g, s.inverse)


class Moved(NamedTuple):
    source: object  # x's Device
    out_xp: object  # out's namespace, which grad_out must have


class to_device(Rule):
    """``out = x`` on another device; dx = G moved back to x's device."""

    args = ("x",)

    @staticmethod
    def forward(x, device):
        xp, scope = resolve("to_device", x)
        source = device_of(x)
        out = _to_device(x, device)
        # out may be another library's array (NumPy -> CuPy): grad_out is checked
        # against out's namespace, and the gradient goes back to x's.
        out_xp, _ = resolve("to_device", out)
        needs = (differentiable(xp, x),)
        return out, Ctx("to_device", xp, scope, Moved(source, out_xp), needs, tuple(x.shape))

    @staticmethod
    def backward(grad_out, ctx):
        # grad_out belongs to out's library: read it from ctx once ctx is known good.
        mine = type(ctx) is Ctx and ctx.op == "to_device"
        check_grad("to_device", grad_out, ctx, xp=ctx.saved.out_xp if mine else None)
        if not ctx.needs_input_grad[0]:
            return (None,)
        return (_to_device(grad_out, ctx.saved.source),)

