"""Trusted helpers that load and look at saved Keras models (the worker's tools).

No student code is imported here: :func:`load` reloads a ``.keras`` file with
``keras.saving.load_model(safe_mode=True)``, which rebuilds built-in layers from their config
and refuses ``Lambda`` layers and unknown classes; :func:`fresh_model` rebuilds an
architecture with the grader's own initialisation; :func:`describe_layer` and
:func:`embedding_summary` turn layers into the plain data the checks judge.
"""

from __future__ import annotations

import json

import numpy as np

from seqlab.checks.structure import (  # one view for the checks and the grader
    RELOAD_RULE,
    constant_problem,
    flat_layers,
    reload_sentence,
)

CONFIG_KEYS = ("units", "activation", "recurrent_activation", "recurrent_dropout", "dropout",
               "unroll", "use_bias", "reset_after", "return_sequences", "go_backwards",
               "kernel_size", "filters", "rate", "input_dim", "output_dim", "mask_zero",
               "merge_mode", "strides", "padding", "use_cudnn")


def describe_layer(layer) -> dict:
    """Class, name, trainability, parameter count and the config keys graders look at."""
    config = layer.get_config()
    info = {"class": type(layer).__name__, "module": type(layer).__module__,
            "name": layer.name, "trainable": bool(layer.trainable),
            "params": int(layer.count_params()) if layer.built else 0,
            "config": {k: _plain(config[k]) for k in CONFIG_KEYS if k in config}}
    if hasattr(layer, "forward_layer"):  # Bidirectional
        info["inner"] = [describe_layer(layer.forward_layer), describe_layer(layer.backward_layer)]
    return info


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k in ("class_name", "config")}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


__all__ = ["RELOAD_RULE", "Rule", "describe_layer", "embedding_summary", "fresh_model", "load",
           "unsafe_classes"]


class Rule(Exception):
    """A contract rule the student's model breaks; its message is shown as it is."""


def unsafe_classes(path: str) -> list[str]:
    """The classes in a saved ``.keras`` model that a safe reload refuses: ``Lambda`` layers
    and classes not from Keras itself (subclassed layers and models)."""
    import zipfile

    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            name, module = node.get("class_name"), str(node.get("module") or "")
            if isinstance(name, str) and isinstance(node.get("config"), dict) and (
                    name == "Lambda" or (module and not module.startswith("keras"))
                    or node.get("registered_name") not in (None, name)):
                found.append(name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    try:
        with zipfile.ZipFile(path) as archive:
            walk(json.loads(archive.read("config.json")))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return []
    return sorted(set(found))


def load(path: str):
    import keras

    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=True)
    except Exception:
        unsafe = unsafe_classes(path)
        if unsafe:  # the rule in one sentence, not Keras' advice on trusting the file
            raise Rule(reload_sentence(unsafe)) from None
        raise
    # Weights trained elsewhere could ride in the graph as constants (keras.ops on NumPy
    # arrays), past fresh_model's re-initialisation: the public checks' rule, refused here.
    problem = constant_problem(keras.saving.serialize_keras_object(model))
    if problem:
        raise Rule(problem)
    return model


def _fresh_config(node, trainable_embeddings: bool, class_name: str | None = None):
    """A serialized model with every initializer the student chose removed (so each layer
    class's own default applies) and every layer and nested model trainable, but for
    ``Embedding`` layers, trainable exactly when ``trainable_embeddings`` says."""
    if isinstance(node, list):
        return [_fresh_config(item, trainable_embeddings) for item in node]
    if not isinstance(node, dict):
        return node
    if "class_name" in node and isinstance(node.get("config"), dict):
        fresh = {k: _fresh_config(v, trainable_embeddings) for k, v in node.items()
                 if k not in ("config", "compile_config")}
        fresh["config"] = _fresh_config(node["config"], trainable_embeddings,
                                        node["class_name"])
        return fresh
    fresh = {}
    for key, value in node.items():
        if class_name is not None and key.endswith("_initializer"):
            continue  # the class default, not the student's (e.g. Constant(solution))
        if class_name is not None and key == "trainable":
            value = trainable_embeddings if class_name == "Embedding" else True
        fresh[key] = _fresh_config(value, trainable_embeddings)
    return fresh


def fresh_model(model, *, embedding_matrix: np.ndarray | None = None,
                trainable_embeddings: bool = True):
    """The grader's own copy of ``model``'s architecture, as the training recipe starts it.

    Rebuilt from its config (built-in layers only, ``safe_mode``) with every weight freshly
    initialised by the class defaults under the grader's seed (call ``seed_everything``
    first), never the values or initializers the student's code left: weights trained
    elsewhere and frozen earn nothing. Every layer is trainable; ``Embedding`` layers are
    trainable exactly when ``trainable_embeddings`` says, and start from
    ``embedding_matrix`` where given (every embedding of that shape).
    """
    import keras

    config = _fresh_config(keras.saving.serialize_keras_object(model), trainable_embeddings)
    fresh = keras.saving.deserialize_keras_object(config, safe_mode=True)
    if embedding_matrix is not None:
        for layer in flat_layers(fresh):
            if type(layer).__name__ == "Embedding" and \
                    tuple(layer.embeddings.shape) == embedding_matrix.shape:
                layer.set_weights([embedding_matrix.astype("float32")])
    return fresh


def embedding_summary(model, matrix: np.ndarray) -> dict:
    """How the model's embedding compares with ``matrix`` (empty when it has none)."""
    embeddings = [layer for layer in flat_layers(model) if type(layer).__name__ == "Embedding"]
    embedding: dict = {}
    if embeddings:
        weights = np.asarray(embeddings[0].get_weights()[0])
        same_shape = weights.shape == matrix.shape
        embedding = {
            "count": len(embeddings), "shape": list(weights.shape),
            "trainable": bool(embeddings[0].trainable),
            "equal": bool(same_shape and np.array_equal(weights, matrix)),
            "max_abs_diff": float(np.max(np.abs(weights - matrix))) if same_shape else None,
        }
    return embedding
