"""SGD: stochastic gradient descent with optional (Nesterov) momentum, as
torch.optim.SGD."""

from __future__ import annotations

from .._backend import declare
from .optimizer import Optimizer, _as_array, _label, _lr, _number, _rebind

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (torch.optim.SGD).

    With ``g = grad`` (``-grad`` when ``maximize``), on each step::

        g = g + weight_decay * p
        b = g  (first step),  b = momentum * b + (1 - dampening) * g  (later)
        g = g + momentum * b  (nesterov),  g = b  (otherwise; when momentum != 0)
        p = p - lr * g

    Complex parameters take the same update in complex arithmetic, as torch's.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        Leaf tensors that require grad, or param groups (see
        :class:`Optimizer`) whose entries override the options below.
    lr : float, default 1e-3
        Learning rate, >= 0 (torch 2.x's default).
    momentum, dampening, weight_decay : float, default 0
        Each >= 0.
    nesterov : bool, default False
        Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
    maximize : bool, default False
        Ascend the objective instead of descending it.

    Raises
    ------
    TypeError, ValueError
        See :class:`Optimizer`; ValueError also for a negative option or
        ``nesterov`` without momentum, in the constructor or in a group.

    Examples
    --------
    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optim.SGD([w], lr=0.5, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w * w).sum().backward()
    ...     opt.step()
    >>> w.data  # 1 - 0.5*2 = 0; then b = 0.9*2 + 0 = 1.8, 0 - 0.5*1.8
    array([-0.9])
    """

    _optional_state_keys = ("momentum_buffer",)

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0.0,
        dampening=0.0,
        weight_decay=0.0,
        nesterov=False,
        maximize=False,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        self._check_options(defaults, "SGD", None)
        super().__init__(params, defaults)

    def _check_options(self, group: dict, op: str, where: str | None) -> None:
        group["lr"] = _lr(op, where, group["lr"])
        for key in ("momentum", "dampening", "weight_decay"):
            group[key] = _number(op, _label(where, key), group[key])
        group["nesterov"] = bool(group["nesterov"])
        group["maximize"] = bool(group["maximize"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            prefix = "" if where is None else f"{where}: "
            raise ValueError(
                f"{op}: {prefix}nesterov=True needs momentum > 0 and dampening == 0; got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def _update(self, k: int, group: dict) -> None:
        lr, mu, wd = float(group["lr"]), float(group["momentum"]), float(group["weight_decay"])
        damp, nesterov, maximize = float(group["dampening"]), group["nesterov"], group["maximize"]
        for p, g, xp, scope in self._grads(k, group, "SGD.step"):
            with scope:
                if maximize:
                    g = -g
                if wd != 0:
                    g = g + wd * p.data
                if mu != 0:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = xp.asarray(g, copy=True)
                    else:
                        buf = mu * buf + (1 - damp) * g
                    state["momentum_buffer"] = buf = _as_array(buf, p.data, xp)
                    g = g + mu * buf if nesterov else buf
                _rebind(p, p.data - lr * g, xp)


declare("SGD.step", ("param", "grad"))
