"""The base of the optimizers: parameter groups, per-parameter state,
:meth:`~Optimizer.zero_grad` and :meth:`~Optimizer.state_dict` /
:meth:`~Optimizer.load_state_dict`, as in torch.optim.Optimizer.

A parameter's state holds arrays of its own library, device and dtype; a
step never writes into them (it rebinds new arrays), so a state dict holds
the arrays of the moment it was taken.

>>> import xpgrad
>>> w = xpgrad.tensor([1.0, -2.0], requires_grad=True)
>>> b = xpgrad.tensor([0.5], requires_grad=True)
>>> opt = xpgrad.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
>>> [group["lr"] for group in opt.param_groups]
[0.1, 0.5]
>>> opt.param_groups[1]["momentum"]  # filled from the constructor
0.9
"""

from __future__ import annotations

import copy
import math
import numbers

import numpy as np

from .._backend import LIBS, adapter_of, convert, dtype_info, resolve
from .._libs import Chunked
from .._shapes import fmt
from ..tensor import Tensor, _refresh_views, enable_grad, no_grad

__all__ = ["Optimizer"]

# How error messages name the param groups of a state dict being loaded.
_SAVED_GROUPS = "state_dict['param_groups']"


class Optimizer:
    """What every optimizer shares, as ``torch.optim.Optimizer``: parameter
    groups, per-parameter state, :meth:`zero_grad`, :meth:`add_param_group`,
    :meth:`state_dict` and :meth:`load_state_dict`. Subclasses write
    :meth:`step` and check their options in ``_check_options``.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        Leaf tensors that require grad, each listed once; or param groups:
        dicts with a ``"params"`` entry (a Tensor or a list of them) and any
        options to set for that group only (``{"params": [b], "lr": 0.1}``).
    defaults : dict
        The options a group starts from; a group's own entries override them.

    Attributes
    ----------
    param_groups : list of dict
        One dict per group: ``"params"`` (a list of Tensors) and every option.
        Change an option (``group["lr"] = 0.01``) and the next step uses it.
    defaults : dict
    state : dict
        Per parameter (keyed by the Tensor itself): its arrays and counters,
        made on its first step.

    Raises
    ------
    TypeError
        If ``params`` is a single Tensor or a set, mixes Tensors and dicts, or
        one of its items is not a Tensor that requires grad.
    ValueError
        If ``params`` is empty, lists a tensor twice (in one group or two), or
        holds a tensor that an op computed (not a leaf: it never receives
        ``.grad``); or a group's option is out of range.
    """

    # The keys of a parameter's state: those it always has once made, and
    # those it may have. load_state_dict refuses any other.
    _state_keys: tuple[str, ...] = ()
    _optional_state_keys: tuple[str, ...] = ()

    def __init__(self, params, defaults) -> None:
        name = type(self).__name__
        if not isinstance(defaults, dict):
            raise TypeError(
                f"{name}: defaults must be a dict of the options each param group starts "
                f"from; got {_what(defaults)}"
            )
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict] = {}
        self.param_groups: list[dict] = []
        if isinstance(params, (Tensor, dict)) or not _iterable(params):
            raise TypeError(
                f"{name}: params must be an iterable of Tensors (a list such as [w, b]) or of "
                f"param group dicts; got {_what(params)}"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(
                f"{name}: params is a set, whose order changes from run to run (and "
                f"state_dict() numbers the parameters in order); pass a list"
            )
        params = list(params)
        if not params:
            raise ValueError(
                f"{name}: params is empty; pass the tensors to train, created with "
                f"requires_grad=True"
            )
        dicts = [isinstance(p, dict) for p in params]
        if all(dicts):
            for k, group in enumerate(params):
                self._add_group(group, name, f"params[{k}]")
        elif any(dicts):
            raise TypeError(
                f"{name}: params mixes Tensors and dicts; pass a list of Tensors, or a list of "
                f"param group dicts such as {{'params': [w], 'lr': 0.1}}"
            )
        else:
            self._add_group({"params": params}, name, None)

    # -- groups ---------------------------------------------------------------

    @property
    def params(self) -> list[Tensor]:
        """Every parameter, group after group (a new list)."""
        return [p for group in self.param_groups for p in group["params"]]

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with options of its own, as torch's.

        Parameters
        ----------
        param_group : dict
            ``"params"`` (a Tensor or a list of them, none already in a group)
            and the options to override; the others come from :attr:`defaults`.
            The dict is copied, not kept.
        """
        self._add_group(param_group, f"{type(self).__name__}.add_param_group", "param_group")

    def _add_group(self, group, op: str, where: str | None) -> None:
        # where: how the error messages name the group ("params[1]"), or None
        # for a plain list of Tensors given to the constructor ("params").
        what = where or "params"
        if not isinstance(group, dict):
            raise TypeError(
                f"{op}: {what} must be a dict with a 'params' entry (a param group); got "
                f"{_what(group)}"
            )
        if "params" not in group:
            raise ValueError(
                f"{op}: {what} has no 'params' entry; a param group is a dict such as "
                f"{{'params': [w], 'lr': 0.1}}"
            )
        params = group["params"]
        label = "params" if where is None else f"{where}['params']"
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(
                f"{op}: {label} is a set, whose order changes from run to run; pass a list"
            )
        elif isinstance(params, dict) or not _iterable(params):
            raise TypeError(f"{op}: {label} must be a Tensor or a list of Tensors; got {_what(params)}")
        params = list(params)
        taken = {id(p): k for k, g in enumerate(self.param_groups) for p in g["params"]}
        seen = set()
        for i, p in enumerate(params):
            if type(p) is not Tensor:
                raise TypeError(
                    f"{op}: {label}[{i}] is {_what(p)}, not an xpgrad Tensor; wrap the array "
                    f"with xpgrad.tensor(..., requires_grad=True)"
                )
            if not p.requires_grad:
                raise TypeError(
                    f"{op}: {label}[{i}] does not require grad, so it never gets a gradient; "
                    f"create it with xpgrad.tensor(..., requires_grad=True) or leave it out"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"{op}: {label}[{i}] was computed by an op (it is not a leaf), so "
                    f"backward() fills no .grad for it; pass the tensors it was computed from"
                )
            if id(p) in seen:
                raise ValueError(
                    f"{op}: {label}[{i}] is listed twice (it would be updated twice per "
                    f"step); list each tensor once"
                )
            if id(p) in taken:
                raise ValueError(
                    f"{op}: {label}[{i}] is already in param group {taken[id(p)]}; a tensor "
                    f"belongs to one group"
                )
            seen.add(id(p))
        new = {"params": params}
        new.update(self.defaults)
        new.update((k, v) for k, v in group.items() if k != "params")
        self._check_options(new, op, where)
        self.param_groups.append(new)

    def _check_options(self, group: dict, op: str, where: str | None) -> None:
        """Check a group's options and normalize them in place (a subclass's)."""

    # -- steps ----------------------------------------------------------------

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient before the next ``backward()``.

        Parameters
        ----------
        set_to_none : bool, default True
            Set ``p.grad`` to None (``backward()`` then allocates it afresh, and
            :meth:`step` skips a parameter whose gradient stays None). With
            False, a gradient that exists becomes an array of zeros of its
            shape, dtype and device (a new array, not an in-place fill).
        """
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:  # (a Tensor after backward(create_graph=True): zeros of its data)
                    g = p.grad.data if type(p.grad) is Tensor else p.grad
                    xp, scope = resolve(f"{type(self).__name__}.zero_grad", g)
                    with scope:
                        p.grad = xp.zeros_like(g)

    def step(self, closure=None):
        """Update every parameter whose ``.grad`` is set (the others are skipped).

        Parameters
        ----------
        closure : callable, optional
            Called first (it may recompute the loss and its gradients); its
            result is returned.
        """
        loss = self._closure(closure)
        with no_grad():
            for k, group in enumerate(self.param_groups):
                self._update(k, group)
            self._settle()
        self._stepped = True  # a scheduler's first step() asks (see LRScheduler.step)
        return loss

    def _update(self, k: int, group: dict) -> None:
        """One step of param group ``k`` (a subclass's), under ``no_grad``."""
        raise NotImplementedError(
            f"{type(self).__name__}.step: a subclass must define step() or _update(k, group)"
        )

    def _settle(self) -> None:
        """End a step on lazy libraries (dask, cubed): the parameters and their
        state are computed together, so that the next step's graph starts from
        their values instead of growing with every step (``Library.settle``)."""
        found: dict = {}
        for group in self.param_groups:
            for p in group["params"]:
                lib = LIBS.get(type(p.data))
                if lib is None or not lib.adapter.lazy:
                    continue
                slots = [(p, None)] + [(p, name) for name, v in self.state.get(p, {}).items()
                                       if type(v) is type(p.data)]
                found.setdefault(lib.adapter, []).extend(slots)
        for adapter, slots in found.items():
            values = adapter.settle([p.data if name is None else self.state[p][name]
                                     for p, name in slots])
            for (p, name), v in zip(slots, values):
                if name is None:
                    p.data = v
                    _refresh_views(p)
                else:
                    self.state[p][name] = v

    def _grads(self, k: int, group: dict, op: str):
        """(param, grad, xp, scope) for each parameter of group ``k`` whose
        ``.grad`` is set; the grad as a native array of the parameter's dtype."""
        single = len(self.param_groups) == 1
        for i, p in enumerate(group["params"]):
            g = p.grad
            if g is None:
                continue
            if isinstance(g, Tensor):  # left by backward(create_graph=True)
                g = g.data
            data = p.data
            xp, scope = resolve(op, data, g)
            if tuple(g.shape) != tuple(data.shape):
                label = f"params[{i}]" if single else f"param_groups[{k}]['params'][{i}]"
                raise ValueError(
                    f"{op}: {label}.grad has shape {fmt(g.shape)}, but the parameter has "
                    f"shape {fmt(data.shape)}; a gradient must match its parameter"
                )
            if g.dtype != data.dtype:
                pi, gi = dtype_info(xp, data.dtype), dtype_info(xp, g.dtype)
                if not gi.inexact or gi.complex != pi.complex:
                    label = f"params[{i}]" if single else f"param_groups[{k}]['params'][{i}]"
                    kind = "complex" if pi.complex else "real"
                    raise TypeError(
                        f"{op}: {label}.grad has dtype {_dtype_name(g.dtype)}, but the parameter "
                        f"has dtype {_dtype_name(data.dtype)}; a gradient must be {kind} "
                        f"floating point, as its parameter"
                    )
                # Another precision: the step computes in the parameter's dtype.
                with scope:
                    g = xp.astype(g, data.dtype)
            yield p, g, xp, scope

    def _closure(self, closure):
        if closure is None:
            return None
        with enable_grad():  # it records its loss's graph, even inside no_grad()
            return closure()

    # -- saving and loading ---------------------------------------------------

    def state_dict(self) -> dict:
        """The optimizer's state, to save and give to :meth:`load_state_dict`.

        As torch's: ``{"state": {index: {...}}, "param_groups": [{...,
        "params": [index, ...]}]}``, the parameters numbered from 0 in the
        order of the groups. The state's arrays are the optimizer's own (a
        step rebinds new ones and never writes into them); the group dicts are
        copies.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            i = index.get(id(p))
            if i is not None:
                state[i] = dict(s)
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Take the options and state that :meth:`state_dict` returned.

        The optimizer must have as many groups, with as many parameters each,
        as the one that saved it; the parameters are matched by position. Each
        state array becomes a copy in its parameter's library, device and
        dtype (so a state saved from NumPy arrays loads into torch or JAX
        parameters), and a run resumes bit for bit. Nothing changes when an
        error is raised.

        Raises
        ------
        TypeError
            If ``state_dict`` is not a dict of the form above.
        ValueError
            If its groups or their sizes do not match this optimizer's, a state
            array's shape differs from its parameter's, a state has entries this
            optimizer does not keep (or lacks one), or an option is out of range.
        """
        name = type(self).__name__
        op = f"{name}.load_state_dict"
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            got = (
                f"a dict with entries {sorted(map(str, state_dict))}"
                if isinstance(state_dict, dict)
                else _what(state_dict)
            )
            raise TypeError(
                f"{op}: expected a dict with 'state' and 'param_groups' entries, as "
                f"state_dict() returns; got {got}"
            )
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not all(isinstance(g, dict) for g in saved_groups):
            raise TypeError(f"{op}: state_dict['param_groups'] must be a list of dicts")
        if not isinstance(saved_state, dict):
            raise TypeError(f"{op}: state_dict['state'] must be a dict")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{op}: the state dict has {len(saved_groups)} param group(s), but this optimizer "
                f"has {len(self.param_groups)}; load a state dict saved from an optimizer built "
                f"with the same groups"
            )
        by_index: dict = {}
        groups = []
        for k, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            ids = saved.get("params")
            if not isinstance(ids, (list, tuple)):
                raise TypeError(f"{op}: state_dict['param_groups'][{k}]['params'] must be a list of indices")
            if len(ids) != len(group["params"]):
                raise ValueError(
                    f"{op}: param group {k} of the state dict has {len(ids)} parameter(s), but "
                    f"this optimizer's has {len(group['params'])}; load a state dict saved from "
                    f"an optimizer built with the same groups"
                )
            for i, p in zip(ids, group["params"]):
                if i in by_index:
                    raise ValueError(f"{op}: the state dict lists parameter {i!r} twice")
                by_index[i] = p
            new = {"params": group["params"]}
            new.update(self.defaults)
            new.update(copy.deepcopy({key: v for key, v in saved.items() if key != "params"}))
            self._check_options(new, op, f"{_SAVED_GROUPS}[{k}]")
            groups.append(new)
        state = {}
        for i, saved in saved_state.items():
            if i not in by_index:
                raise ValueError(
                    f"{op}: the state dict has state for parameter {i!r}, which none of its "
                    f"param groups lists"
                )
            state[by_index[i]] = self._load_param_state(op, f"state_dict['state'][{i!r}]", by_index[i], saved)
        self.param_groups = groups
        self.state = state

    def _load_param_state(self, op: str, label: str, p: Tensor, saved) -> dict:
        if not isinstance(saved, dict):
            raise TypeError(f"{op}: {label} must be a dict; got {_what(saved)}")
        name = type(self).__name__
        known = self._state_keys + self._optional_state_keys
        unknown = sorted(str(k) for k in saved if k not in known)
        missing = [k for k in self._state_keys if k not in saved]
        if unknown or missing:
            what = f"has {', '.join(unknown)}" if unknown else f"lacks {', '.join(missing)}"
            raise ValueError(
                f"{op}: {label} {what}; a {name} state has {', '.join(known) or 'nothing'}"
                f"{' (' + ', '.join(self._optional_state_keys) + ' optional)' if self._optional_state_keys else ''}"
                f"; was it saved from another optimizer?"
            )
        out = {}
        for key, value in saved.items():
            where = f"{label}['{key}']"
            if key == "step":
                out[key] = _step_count(op, where, value)
            elif value is None:
                out[key] = None
            else:
                out[key] = _like_param(op, where, p, value)
        return out

    # The options live in param_groups, as in torch: opt.lr = 0.01 would
    # otherwise set an attribute that no step reads.
    def __getattr__(self, name: str):
        if name in self.__dict__.get("defaults", ()):
            raise AttributeError(_option_hint(self, name))
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value) -> None:
        if name in self.__dict__.get("defaults", ()) and name not in self.__dict__:
            raise AttributeError(_option_hint(self, name))
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for k, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {k}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        lines.append(")")
        return "\n".join(lines)


def _option_hint(opt: Optimizer, name: str) -> str:
    return (
        f"{type(opt).__name__}.{name}: each param group has its own {name}, as in torch; read or "
        f"set opt.param_groups[k][{name!r}] (for every group: for g in opt.param_groups: "
        f"g[{name!r}] = ...)"
    )


_HOST = np.empty(0)  # convert(v, like=_HOST): v's values as NumPy's


def _like_param(op: str, where: str, p: Tensor, value):
    """``value`` as a new array of ``p``'s library, device, dtype and shape."""
    data = p.data
    adapter = adapter_of(resolve(op, data)[0])
    chunked = isinstance(adapter, Chunked)  # through the host to the parameter's chunks and
    try:  # cubed's spec, which convert's default one would not mix with ("same spec")
        v = convert(value, like=_HOST if chunked else data)
    except TypeError:
        raise TypeError(f"{op}: {where} is {_what(value)}, not an array") from None
    if tuple(v.shape) != tuple(data.shape):
        raise ValueError(
            f"{op}: {where} has shape {fmt(v.shape)}, but its parameter has shape "
            f"{fmt(data.shape)}; was the state dict saved with other parameters?"
        )
    if chunked:
        v = adapter.as_chunks(v, tuple(data.chunks), data)
    xp, scope = resolve(op, data)
    with scope:
        if dtype_info(xp, v.dtype).complex and not dtype_info(xp, data.dtype).complex:
            raise TypeError(
                f"{op}: {where} is complex ({_dtype_name(v.dtype)}), but its parameter is "
                f"{_dtype_name(data.dtype)}"
            )
        return xp.astype(v, data.dtype, copy=True)


def _step_count(op: str, where: str, value) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        n = int(value) if isinstance(value, numbers.Integral) else float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {where} must be a step count (an integer); got {_what(value)}") from None
    if not float(n).is_integer() or n < 0:
        raise ValueError(f"{op}: {where} must be a step count, an integer >= 0; got {value!r}")
    return int(n)


def _iterable(x) -> bool:
    try:
        iter(x)
    except TypeError:
        return False
    return True


def _what(x) -> str:
    t = type(x)
    return f"a {t.__name__}" if t.__module__ == "builtins" else f"a {t.__module__}.{t.__qualname__}"


def _dtype_name(dtype) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def _label(where: str | None, key: str) -> str:
    """How an error message names option ``key`` of a group."""
    return key if where is None else f"{where}['{key}']"


def _lr(op: str, where: str | None, value) -> float:
    """A group's learning rate: >= 0 where it is given (the constructor,
    ``add_param_group``), as torch checks it; any real number in a state dict
    (``where`` names one), which holds what a scheduler set: LinearLR's
    decay to 0 can end at -3e-19 in round-off, in torch as here, and torch's
    ``load_state_dict`` takes it."""
    loading = where is not None and where.startswith(_SAVED_GROUPS)
    return _number(op, _label(where, "lr"), value, low=-math.inf if loading else 0.0)


def _number(name: str, arg: str, value, *, low: float = 0.0, high: float | None = None) -> float:
    """``value`` as a float in [low, high) (or [low, inf)), else the error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: {arg} must be a real number; got {_what(value)} ({value!r})")
    value = float(value)
    if not (value >= low and (high is None or value < high)):
        where = (f"in [{low:g}, {high:g})" if high is not None
                 else f">= {low:g}" if low > -math.inf else "a number, not NaN")
        raise ValueError(f"{name}: {arg} must be {where}; got {value!r}")
    return value


def _as_array(new, like, xp):
    """``new`` as an array of ``like``'s type: NumPy turns the result of
    arithmetic on a 0-d array into a scalar (a 0-d parameter's state too)."""
    return new if type(new) is type(like) else xp.asarray(new)


def _rebind(p: Tensor, new, xp) -> None:
    """Give ``p`` its new values, as an array of its type and dtype."""
    data = p.data
    new = _as_array(new, data, xp)
    if new.dtype != data.dtype:
        new = xp.astype(new, data.dtype)
    if getattr(p, "_view", None) is not None:
        # p is itself a view (p = buf[0]; p.requires_grad = True): the step writes
        # through to its root, as torch's in-place step does, and p reads it back
        p[...] = new
        return
    p.data = new
    _refresh_views(p)  # a view of the parameter (row = W[0]) reads the new values
