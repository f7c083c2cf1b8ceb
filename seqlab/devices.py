"""Which accelerator the Keras backend sees, and proof that a model's weights live on it.

Works for the TensorFlow, JAX and PyTorch backends without importing the other two.

>>> accelerator()                      # on a laptop
DeviceInfo(backend='tensorflow', platform='cpu', name='CPU', count=0)
>>> placement(model).summary           # on a Colab GPU
'all 7 weights on gpu (Tesla T4)'
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class DeviceInfo:
    """The accelerator a backend would use: ``platform`` is ``"gpu"``, ``"tpu"`` or ``"cpu"``.

    ``name`` is the device's marketing name (e.g. ``"NVIDIA H100 80GB HBM3"``) and ``count``
    the number of accelerators visible (0 on a CPU-only machine).
    """

    backend: str
    platform: str
    name: str
    count: int

    @property
    def is_gpu(self) -> bool:
        return self.platform == "gpu"


def accelerator(backend: str | None = None) -> DeviceInfo:
    """What the current (or given) Keras backend would train on."""
    backend = backend or keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return DeviceInfo(backend, "gpu", details.get("device_name", gpus[0].name), len(gpus))
    elif backend == "jax":
        import jax

        devices = [d for d in jax.devices() if d.platform != "cpu"]
        if devices:
            return DeviceInfo(backend, devices[0].platform, devices[0].device_kind, len(devices))
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return DeviceInfo(backend, "gpu", torch.cuda.get_device_name(0),
                              torch.cuda.device_count())
    return DeviceInfo(backend, "cpu", "CPU", 0)


def weight_platform(variable) -> str:
    """``"gpu"``, ``"tpu"`` or ``"cpu"``: where one Keras variable's storage lives."""
    value = variable.value
    backend = keras.backend.backend()
    if backend == "jax":
        platforms = {d.platform for d in value.devices()}
        return platforms.pop() if len(platforms) == 1 else "mixed"
    if backend == "torch":
        return "gpu" if value.is_cuda else value.device.type
    device = (getattr(value, "device", "") or "").upper()
    if "GPU" in device:
        return "gpu"
    if "TPU" in device:
        return "tpu"
    return "cpu"


@dataclass(frozen=True)
class Placement:
    """Where a model's weights are: ``counts`` maps platform to number of weights."""

    counts: dict[str, int]
    device: DeviceInfo

    @property
    def on_accelerator(self) -> bool:
        """True when every weight is on a GPU or TPU (and there is at least one weight)."""
        return bool(self.counts) and set(self.counts) <= {"gpu", "tpu"}

    @property
    def summary(self) -> str:
        total = sum(self.counts.values())
        if len(self.counts) == 1:
            (platform,) = self.counts
            where = f" ({self.device.name})" if platform in ("gpu", "tpu") else ""
            return f"all {total} weights on {platform}{where}"
        parts = ", ".join(f"{n} on {p}" for p, n in sorted(self.counts.items()))
        return f"weights split across devices: {parts}"


def placement(model: keras.Model) -> Placement:
    """Count where each of ``model``'s weights lives (build the model first)."""
    counts = Counter(weight_platform(v) for v in model.weights)
    return Placement(dict(counts), accelerator())
