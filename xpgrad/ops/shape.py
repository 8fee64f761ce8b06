"""Rules that move data without arithmetic: reshape, permute_dims, to_device."""

from __future__ import annotations

import operator

from .._backend import device_of, resolve
from .._backend import to_device as _to_device
from .._shapes import fmt, normalize_axis
from ._common import Ctx, differentiable

__all__ = ["reshape", "permute_dims", "to_device"]


def _check(op, g, shape):
    if tuple(g.shape) != shape:
        raise ValueError(f"{op}.backward: grad_out has shape {fmt(g.shape)}, expected {fmt(shape)}")


class reshape:
    """``out = reshape(x, shape)``; dx = reshape(G, x.shape)."""

    @staticmethod
    def forward(x, shape):
        xp, scope = resolve("reshape", x)
        with scope:
            try:
                out = xp.reshape(x, tuple(shape))
            except (ValueError, RuntimeError):  # torch says RuntimeError
                raise ValueError(
                    f"reshape: cannot reshape x of shape {fmt(x.shape)} to {tuple(shape)!r}"
                ) from None
        return out, Ctx(xp, scope, (tuple(x.shape), tuple(out.shape)), (differentiable(xp, x),))

    @staticmethod
    def backward(grad_out, ctx):
        x_shape, out_shape = ctx.saved
        _check("reshape", grad_out, out_shape)
        if not ctx.needs_input_grad[0]:
            return (None,)
        with ctx.scope:
            return (ctx.xp.reshape(grad_out, x_shape),)


class permute_dims:
    """``out = permute_dims(x, axes)``; dx = permute_dims(G, inverse(axes))."""

    @staticmethod
    def forward(x, axes):
        xp, scope = resolve("permute_dims", x)
        given = tuple(axes)
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
        return out, Ctx(xp, scope, (inverse, tuple(out.shape)), (differentiable(xp, x),))

    @staticmethod
    def backward(grad_out, ctx):
        inverse, out_shape = ctx.saved
        _check("permute_dims", grad_out, out_shape)
        if not ctx.needs_input_grad[0]:
            return (None,)
        with ctx.scope:
            return (ctx.xp.permute_dims(grad_out, inverse),)


class to_device:
    """``out = x`` on another device; dx = G moved back to x's device."""

    @staticmethod
    def forward(x, device):
        xp, scope = resolve("to_device", x)
        source = device_of(x)
        out = _to_device(x, device)
        return out, Ctx(xp, scope, (source, tuple(x.shape)), (differentiable(xp, x),))

    @staticmethod
    def backward(grad_out, ctx):
        source, shape = ctx.saved
        _check("to_device", grad_out, shape)
        if not ctx.needs_input_grad[0]:
            return (None,)
        return (_to_device(grad_out, source),)
