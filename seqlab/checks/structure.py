"""One structural view of a Keras model, shared by the public checks and the grader.

The public checks (:mod:`seqlab.checks`) and the grader's trusted worker
(:mod:`autograder.keras_inspect`) both read a model's layers through :func:`flat_layers`,
so a model written with nested ``keras.Sequential`` blocks or nested ``keras.Model``\\ s
(keras.io idioms) is judged by the layers it holds, the same way on both sides.
Keras is imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations


def flat_layers(model) -> list:
    """Every layer of ``model`` in order, each nested model (``Sequential`` block or
    functional ``Model``) replaced by its own flat layers; a ``Bidirectional`` wrapper
    stays one layer (its halves are ``layer.forward_layer`` / ``layer.backward_layer``)."""
    import keras

    found = []
    for layer in model.layers:
        found += flat_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return found


def every_layer(model) -> list:
    """``model`` itself and every layer inside it, once each: nested models' layers and
    wrappers' inner layers too (``Bidirectional``'s halves, ``TimeDistributed``'s layer, an
    ``RNN``'s cell). For rules about what a model is made of, not its layer order."""
    import keras

    found, todo, seen = [], [model], set()
    while todo:
        layer = todo.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        found.append(layer)
        todo += list(getattr(layer, "layers", None) or [])
        todo += [getattr(layer, key) for key in ("forward_layer", "backward_layer", "layer",
                                                 "cell")
                 if isinstance(getattr(layer, key, None), keras.layers.Layer)]
    return found


RELOAD_RULE = ("the grader reloads your saved model without running your code, so build it "
               "from built-in Keras layers only (keras.Input, keras.layers.*, keras.Model or "
               "keras.Sequential): no Lambda layers, no subclassed layers or models")


def reload_sentence(classes) -> str:
    """The reload rule's sentence for a model that uses ``classes`` (sorted, once each)."""
    return f"it uses {', '.join(sorted(set(classes)))}; {RELOAD_RULE}"


def reload_problem(model) -> str | None:
    """The reload rule's sentence when ``model`` holds ``Lambda`` layers or classes defined
    outside Keras (a subclassed model or layer), else None: what a safe reload refuses."""
    unsafe = [type(layer).__name__ for layer in every_layer(model)
              if type(layer).__name__ == "Lambda"
              or not type(layer).__module__.startswith("keras")]
    return reload_sentence(unsafe) if unsafe else None


CONSTANT_LIMIT = 256
"""The most numbers a model's graph may carry as constants outside its layers' weights."""

CONSTANT_RULE = ("the grader trains your architecture from its own fresh start, so keep "
                 "every learned number in a layer's weights: constant arrays passed to "
                 f"keras.ops calls in the model may hold at most {CONSTANT_LIMIT} numbers "
                 "in total")


def graph_constants(config) -> int:
    """How many numbers a serialized model's graph carries as constants: NumPy arrays and
    tensors given to its operations (``{"class_name": "__numpy__" | "__tensor__"}`` in the
    ``inbound_nodes`` of ``keras.saving.serialize_keras_object(model)``), nested models too."""
    import numpy as np

    def count(node, in_nodes: bool) -> int:
        if isinstance(node, (list, tuple)):
            return sum(count(item, in_nodes) for item in node)
        if not isinstance(node, dict):
            return 0
        if in_nodes and node.get("class_name") in ("__numpy__", "__tensor__"):
            value = (node.get("config") or {}).get("value")
            return int(np.size(np.asarray(value, dtype=object))) if value is not None else 0
        return sum(count(value, in_nodes or key == "inbound_nodes")
                   for key, value in node.items())

    return count(config, False)


def constant_problem(config) -> str | None:
    """The rule's sentence with expected vs got, when a serialized model breaks it."""
    found = graph_constants(config)
    if found <= CONSTANT_LIMIT:
        return None
    return (f"the model's graph carries {found:,} constant numbers outside its layers' "
            f"weights (expected at most {CONSTANT_LIMIT}): {CONSTANT_RULE}")
