"""tinyhw-tensor: numpy-like lazy tensors that fuse into kernels and run on any tinyhw device.

    from tinyhw_tensor import Tensor
    x = Tensor([[1.0, 2.0], [3.0, 4.0]])          # on tinyhw.Device() (TINYHW_DEVICE, else the best)
    y = (x * 2 + 1).relu().sum(axis=1)            # lazy: builds a graph
    print(y.numpy())                              # one fused kernel runs here: [ 8. 16.]

Operations build a lazy graph; the scheduler fuses it into kernels of tinyhw's kernel IR, which
the device's renderer and compiler turn into machine code (cached in memory and on disk).
`tinyhw_tensor.jit.jit(fn)` records the kernels a function of tensors launches and replays them.
`TINYHW_DEBUG=1` prints every kernel launched, `=2` also its IR and source.
"""

from tinyhw_tensor.dtypes import DType, bfloat16, bool_, float16, float32, float64, int8, int16, int32, int64, uint8
from tinyhw_tensor.tensor import Tensor  # isort: split

from tinyhw_tensor.creation import (
    arange,
    empty,
    eye,
    full,
    full_like,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    zeros,
    zeros_like,
)
from tinyhw_tensor.elementwise import where
from tinyhw_tensor.movement import cat, stack
from tinyhw_tensor.reduce import matmul
from tinyhw_tensor.runtime import counters
from tinyhw_tensor.shapes import AxisError

__version__ = "0.1.0"

__all__ = [
    "Tensor",
    "DType",
    "bool_",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "arange",
    "empty",
    "eye",
    "full",
    "full_like",
    "linspace",
    "manual_seed",
    "ones",
    "ones_like",
    "rand",
    "randint",
    "randn",
    "zeros",
    "zeros_like",
    "where",
    "cat",
    "stack",
    "matmul",
    "counters",
    "AxisError",
]
