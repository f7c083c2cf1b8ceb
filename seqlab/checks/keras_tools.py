"""Small Keras helpers for the public checks: layers, compile settings, eager calls.

Keras is imported inside the functions, so importing :mod:`seqlab.checks` stays light for the
NumPy labs.
"""

from __future__ import annotations

import json

import numpy as np

from seqlab.checks.core import Mismatch, describe


def expect_model(value, call: str):
    """``value`` if it is a ``keras.Model`` made of built-in layers whose graph keeps to the
    constants rule (:data:`seqlab.checks.structure.RELOAD_RULE` and ``CONSTANT_RULE``, in
    the grader's words), else a :class:`Mismatch`."""
    import keras

    from seqlab.checks.structure import (
        CONSTANT_LIMIT,
        constant_problem,
        graph_constants,
        reload_problem,
    )

    if not isinstance(value, keras.Model):
        raise Mismatch(f"{call}: expected a keras.Model", "keras.Model", describe(value))
    unsafe = reload_problem(value)
    if unsafe:
        raise Mismatch(f"{call}: {unsafe}", "built-in Keras layers only",
                       unsafe.split(";")[0].removeprefix("it uses "))
    config = keras.saving.serialize_keras_object(value)
    problem = constant_problem(config)  # the grader's rule, in the grader's words
    if problem:
        raise Mismatch(f"{call}: {problem}", f"at most {CONSTANT_LIMIT} constant numbers",
                       f"{graph_constants(config):,}")
    return value


def all_layers(model) -> list:
    """Every layer of ``model`` as the grader sees it (:func:`seqlab.checks.structure.
    flat_layers`: nested models seen through), plus ``Bidirectional``'s two halves."""
    import keras

    from seqlab.checks.structure import flat_layers

    found = []
    for layer in flat_layers(model):
        found.append(layer)
        if isinstance(layer, keras.layers.Bidirectional):
            found += [layer.forward_layer, layer.backward_layer]
    return found


def layers_of(model, *classes: str) -> list:
    """The layers of ``model`` whose class name is one of ``classes``."""
    return [layer for layer in all_layers(model) if type(layer).__name__ in classes]


def call(model, inputs) -> np.ndarray | list[np.ndarray]:
    """``model(inputs)`` in inference mode, as NumPy (a list when the model has several)."""
    import keras

    out = model(inputs, training=False)
    if isinstance(out, (list, tuple)):
        return [keras.ops.convert_to_numpy(o) for o in out]
    return keras.ops.convert_to_numpy(out)


def compile_settings(model) -> dict:
    """``{"compiled": bool, "loss": "binarycrossentropy", "from_logits": bool, "metrics": str}``."""
    if not getattr(model, "compiled", False):
        return {"compiled": False, "loss": "", "from_logits": False, "metrics": ""}
    config = model.get_compile_config() or {}
    loss = config.get("loss")
    from_logits = isinstance(loss, dict) and bool(loss.get("config", {}).get("from_logits"))
    name = loss.get("class_name", "") if isinstance(loss, dict) else str(loss)
    return {"compiled": True, "loss": name.lower().replace("_", ""), "from_logits": from_logits,
            "metrics": json.dumps(config.get("metrics")).lower()}


def expect_ids_shape(got, want: tuple, call_text: str, label: str = "output") -> np.ndarray:
    """``got`` as an array of shape ``want`` with finite values, else a :class:`Mismatch`."""
    from seqlab.checks.core import expect_shape

    array = expect_shape(got, want, label, call_text)
    if not np.all(np.isfinite(array)):
        raise Mismatch(f"{call_text}: the {label} holds NaN or infinite values", "finite values",
                       "NaN or inf")
    return array
