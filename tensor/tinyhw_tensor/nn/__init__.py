"""Neural-network building blocks on tinyhw tensors, with PyTorch's names.

    import tinyhw_tensor as tt
    from tinyhw_tensor import nn
    import tinyhw_tensor.nn.functional as F

    class Net(nn.Module):
        def __init__(self):
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv(x)), 2)
            return self.fc(x.mean((2, 3)))

    tt.manual_seed(0)
    net = Net()
    net.load_state_dict(nn.safetensors.load_file("net.safetensors"))  # PyTorch's names load unchanged

`functional` holds the functions (linear, conv2d, pooling, norms, embedding, attention, dropout,
activations); `Module` and the layers hold parameters; `safetensors` reads and writes weights.
"""

from tinyhw_tensor.nn import functional, init, safetensors
from tinyhw_tensor.nn.layers import Conv2d, Embedding, LayerNorm, Linear
from tinyhw_tensor.nn.module import IncompatibleKeys, Module, StateDictError

__all__ = [
    "functional",
    "init",
    "safetensors",
    "Module",
    "StateDictError",
    "IncompatibleKeys",
    "Linear",
    "Conv2d",
    "LayerNorm",
    "Embedding",
]
