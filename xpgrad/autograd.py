"""Gradients of given inputs, as ``torch.autograd.grad``: the engine's walk
without touching any ``.grad``, to first or (with ``create_graph``) any order."""

from __future__ import annotations

from .tensor import Tensor, _walk, constant

__all__ = ["grad"]


def grad(outputs, inputs, grad_outputs=None, *, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs``.

    As ``torch.autograd.grad``: the sum over ``outputs`` of each output's
    vector-Jacobian product with its ``grad_outputs`` entry, for each input.
    No leaf's ``.grad`` changes.

    Parameters
    ----------
    outputs : Tensor or sequence of Tensors
        Each must require grad.
    inputs : Tensor or sequence of Tensors
        Leaves or intermediate results, each requiring grad.
    grad_outputs : array, Tensor or sequence of them (None entries allowed)
        The upstream gradient of each output, of its shape; None (for a
        single-element output) is ones. A Tensor with a graph of its own is
        differentiated through when ``create_graph`` is True.
    retain_graph : bool, optional
        Keep the graph for another backward through it; defaults to
        ``create_graph``.
    create_graph : bool, default False
        Record the gradients' own graph, so they can be differentiated again.
    allow_unused : bool, default False
        Give None for an input the outputs do not depend on, instead of raising.

    Returns
    -------
    tuple of Tensors (or None for unused inputs), one per input, each of its
    input's shape and dtype. Without ``create_graph`` they have no graph.

    Raises
    ------
    TypeError
        If an output or input is not a Tensor.
    RuntimeError
        If an output or input does not require grad, if an input is unused
        (without ``allow_unused``), or if the graph was released.

    Examples
    --------
    >>> import xpgrad
    >>> x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    >>> (g,) = xpgrad.autograd.grad((x ** 3).sum(), x, create_graph=True)
    >>> (h,) = xpgrad.autograd.grad(g.sum(), x)
    >>> h.numpy()
    array([ 6., 12.])
    """
    outs = _tensors(outputs, "outputs")
    ins = _tensors(inputs, "inputs")
    if grad_outputs is None:
        seeds = [None] * len(outs)
    elif type(grad_outputs) is Tensor or hasattr(grad_outputs, "shape"):
        if len(outs) != 1:
            raise ValueError(
                f"autograd.grad: grad_outputs must be a sequence of {len(outs)} gradients, one "
                f"per output; got one array"
            )
        seeds = [grad_outputs]
    else:
        try:
            seeds = list(grad_outputs)  # any iterable, as torch's
        except TypeError:
            raise TypeError(
                f"autograd.grad: grad_outputs must be an array, a Tensor or a sequence of them "
                f"(one per output, None for ones); got {type(grad_outputs).__name__}"
            ) from None
        if len(seeds) != len(outs):
            raise ValueError(
                f"autograd.grad: grad_outputs has {len(seeds)} entries for {len(outs)} outputs"
            )
    for i, out in enumerate(outs):
        if not out.requires_grad:
            raise RuntimeError(
                f"autograd.grad: outputs[{i}] does not require grad: it depends on no "
                f"Tensor with requires_grad=True"
            )
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(
                f"autograd.grad: inputs[{i}] does not require grad; create it with "
                f"requires_grad=True"
            )
    if retain_graph is None:
        retain_graph = create_graph
    grads = _walk(outs, seeds, ins, create_graph=create_graph, retain_graph=retain_graph,
                  op="autograd.grad")
    result = []
    for i, (t, g) in enumerate(zip(ins, grads)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"autograd.grad: inputs[{i}] was not used to compute the outputs; pass "
                    f"allow_unused=True to get None for it"
                )
            result.append(None)
            continue
        if type(g) is not Tensor:
            g = constant(g)
        result.append(g)
    return tuple(result)


def _tensors(value, what: str) -> list:
    if type(value) is Tensor:
        return [value]
    if isinstance(value, (list, tuple)) and value:
        for i, v in enumerate(value):
            if type(v) is not Tensor:
                raise TypeError(
                    f"autograd.grad: {what}[{i}] must be a Tensor; got {type(v).__name__}"
                )
        return list(value)
    raise TypeError(
        f"autograd.grad: {what} must be a Tensor or a non-empty sequence of Tensors; got "
        f"{type(value).__name__}"
    )
