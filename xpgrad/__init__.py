"""xpgrad: forward/backward rules written once for NumPy, CuPy and any Array
API namespace, a Tensor that records them, and ``xpgrad.array_api``, the
namespace through which Array API code gets gradients.

Layers, each importing only the ones above it in this list:

- ``_dtypes``: the namespace's dtype objects;
- ``_device``: :class:`Device`, :func:`devices`, :func:`default_device`;
- ``_backend``: :func:`get_namespace`, :func:`device_of`, :func:`to_device`,
  :func:`convert`, and the argument checks every rule goes through;
- ``_shapes``: :func:`sum_to`, :func:`broadcast_axes`;
- ``ops``: the rules, ``ops.<op>.forward`` / ``ops.<op>.backward``;
- ``tensor``: :class:`Tensor`, :func:`apply` and the engine that records and
  walks graphs;
- ``testing``: :func:`testing.gradcheck`, :func:`testing.assert_close`;
- ``optim``: :class:`optim.SGD`, :class:`optim.Adam`, :class:`optim.AdamW`
  and the learning-rate schedulers;
- ``array_api``: the Array API namespace of Tensors, which records gradients
  (it registers itself with ``tensor`` for the recorded backward);
- ``autograd``: :func:`autograd.grad`, gradients of given inputs to any order;
- ``transforms``: :func:`grad`, :func:`value_and_grad`, :func:`vjp`,
  :func:`jvp`, :func:`jacobian`, :func:`hessian`, :func:`hvp`,
  :func:`custom_vjp`, :func:`checkpoint`.

``import xpgrad`` never imports CuPy.
"""

from . import ops, testing
from ._backend import convert, device_of, get_namespace, to_device, to_numpy
from ._device import Device, default_device, devices, get_default_device, synchronize
from ._shapes import broadcast_axes, sum_to
from .tensor import (
    Tensor,
    add_bias,
    apply,
    enable_grad,
    is_grad_enabled,
    linear,
    matmul,
    no_grad,
    sum,
    tensor,
)
from . import optim
from . import array_api  # the namespace of Tensors, t.__array_namespace__()
from . import autograd
from .transforms import (
    checkpoint,
    custom_vjp,
    grad,
    hessian,
    hvp,
    jacobian,
    jvp,
    value_and_grad,
    vjp,
)

__version__ = "0.1.0"

__all__ = [
    "Device",
    "Tensor",
    "add_bias",
    "apply",
    "autograd",
    "checkpoint",
    "custom_vjp",
    "broadcast_axes",
    "convert",
    "default_device",
    "device_of",
    "devices",
    "enable_grad",
    "get_default_device",
    "get_namespace",
    "grad",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "jacobian",
    "jvp",
    "linear",
    "matmul",
    "no_grad",
    "ops",
    "optim",
    "sum",
    "sum_to",
    "synchronize",
    "tensor",
    "testing",
    "to_device",
    "to_numpy",
    "value_and_grad",
    "vjp",
]
