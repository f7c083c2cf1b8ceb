"""The trusted side: load models the child saved, measure them, train them, predict.

Run as ``python -I -m autograder.worker spec.json`` by :mod:`autograder.sandbox`. No student
code is imported here: models are loaded with ``keras.saving.load_model(safe_mode=True)``,
which rebuilds built-in Keras layers from their config and refuses to run embedded Python
(``Lambda`` layers) or unknown custom classes. Training gets inputs and training labels only;
holdout labels never reach this process, it returns probabilities and the parent scores them.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from autograder.assignments import worker_modules
from autograder.generative_models import KINDS as GENERATIVE_KINDS
from autograder.keras_inspect import (  # noqa: F401 - RELOAD_RULE, Rule: the worker's words
    RELOAD_RULE,
    Rule,
    describe_layer,
    embedding_summary,
    flat_layers,
    fresh_model,
    load,
)
from autograder.worker_runs import within_declared_sizes

load = within_declared_sizes(load)  # huge declared sizes fail with a sentence, before building


def inspect_model(task: dict) -> dict:
    """Layers, parameter counts, embedding vs the given matrix, outputs on probe inputs."""
    model = load(task["model"])
    matrix = np.load(task["matrix"], allow_pickle=False)
    layers = [describe_layer(layer) for layer in flat_layers(model)]  # nested blocks seen through
    embedding = embedding_summary(model, matrix)
    rng = np.random.default_rng(0)
    probes = []
    for batch, length in task["probes"]:
        x = rng.integers(1, matrix.shape[0], size=(batch, length)).astype("int32")
        try:
            y = np.asarray(model.predict_on_batch(x), dtype=np.float64)
            probes.append({"batch": batch, "length": length, "shape": list(y.shape),
                           "finite": bool(np.isfinite(y).all()),
                           "min": float(np.nanmin(y)), "max": float(np.nanmax(y)),
                           "spread": float(np.nanstd(y))})
        except Exception as exc:  # a model that cannot take this length
            probes.append({"batch": batch, "length": length,
                           "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
    loss = getattr(model, "loss", None)
    loss_name = getattr(loss, "name", None) or (loss if isinstance(loss, str) else repr(loss))
    return {
        "layers": layers, "params": int(model.count_params()),
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "embedding": embedding, "probes": probes, "compiled": bool(model.compiled),
        "loss": loss_name, "n_inputs": len(model.inputs), "n_outputs": len(model.outputs),
    }


def train_model(task: dict) -> dict:
    """The fixed recipe: seed, rebuild the student's architecture with fresh weights (see
    :func:`fresh_model`; the embedding from the given matrix, trainable only if the case's
    ``trainable_embeddings`` says so), compile with Adam + BCE, fit, predict holdout inputs."""
    import keras

    from seqlab.devices import accelerator, placement
    from seqlab.train import seed_everything

    recipe = task["recipe"]
    seed_everything(int(recipe["seed"]), deterministic=True)
    built = load(task["model"])
    matrix = np.load(task["matrix"], allow_pickle=False)
    built_as = {"params": int(built.count_params()),
                "embedding": embedding_summary(built, matrix)}
    # The grader trains what it scores: the student's architecture, started afresh.
    model = fresh_model(built, embedding_matrix=matrix,
                        trainable_embeddings=bool(task.get("trainable_embeddings", False)))
    data = np.load(task["data"], allow_pickle=False)
    if "y_test" in data.files:
        raise RuntimeError("holdout labels must not be sent to the worker")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=recipe["learning_rate"]),
                  loss="binary_crossentropy", metrics=["accuracy"])
    fit_options = {}
    if recipe.get("patience") and "x_val" in data.files:  # the labs' early stopping
        fit_options = {"validation_data": (data["x_val"], data["y_val"]), "callbacks": [
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=recipe["patience"],
                                          restore_best_weights=True)]}
    start = time.perf_counter()
    history = model.fit(data["x_train"], data["y_train"], epochs=recipe["epochs"],
                        batch_size=recipe["batch_size"], shuffle=True, verbose=0, **fit_options)
    seconds = time.perf_counter() - start
    probabilities = np.asarray(model.predict(data["x_test"], batch_size=512, verbose=0))
    device = accelerator()
    where = placement(model)
    return {"probabilities": probabilities.reshape(-1).round(6).tolist(),
            "shape": list(probabilities.shape), "train_seconds": seconds,
            "epochs_run": len(history.history.get("loss", [])),
            "device": {"platform": device.platform, "name": device.name},
            "placement": where.summary, "on_accelerator": where.on_accelerator,
            "built_as": built_as}


def predict_model(task: dict) -> dict:
    """Probabilities of a submitted, already trained model on holdout inputs."""
    model = load(task["model"])
    data = np.load(task["data"], allow_pickle=False)
    # Batches of 128: a lab 4 GRU on 400-token reviews keeps each batch's per-step outputs,
    # and 512 took the worker from 355 to 660 MB, too much for Gradescope's default 768 MB
    # container with a 25,000-review holdout (128: 483 MB, measured).
    probabilities = np.asarray(model.predict(data["x_test"], batch_size=128, verbose=0))
    return {"probabilities": probabilities.reshape(-1).round(6).tolist(),
            "shape": list(probabilities.shape)}


def keras_recurrent(task: dict) -> dict:
    """A real ``keras.layers.LSTM``/``GRU`` on given weights: the reference for hand-made cells.

    ``task["data"]`` is an ``.npz`` with ``x (batch, T, d)``, ``kernel``, ``recurrent_kernel``,
    ``bias`` (``get_weights()`` order) and optionally the start state ``h0`` (and ``c0`` for
    an LSTM); ``task["cell"]`` is ``"lstm"`` or ``"gru"``. Returns every step's output and the
    final state(s), as Keras computes them (float32, the layer's defaults).
    """
    import keras

    with np.load(task["data"], allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    x = arrays["x"].astype("float32")
    weights = [arrays[k].astype("float32") for k in ("kernel", "recurrent_kernel", "bias")]
    units = weights[1].shape[0]
    layer_class = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[task["cell"]]
    layer = layer_class(units, return_sequences=True, return_state=True)
    layer.build(x.shape)
    layer.set_weights(weights)
    state = [arrays[k].astype("float32") for k in ("h0", "c0") if k in arrays]
    result = layer(x, initial_state=state) if state else layer(x)
    outputs, *final = (np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64)
                       for v in result)
    return {"outputs": outputs.tolist(), "h": final[0].tolist(),
            "c": final[1].tolist() if len(final) > 1 else None}


KINDS = {"inspect": inspect_model, "train": train_model, "predict": predict_model,
         "keras_recurrent": keras_recurrent,
         "probe": lambda task: {"keras": __import__("keras").__version__}}  # preflight

KINDS.update(GENERATIVE_KINDS)
for _module in worker_modules():  # e.g. autograder/assignments/captioning_worker.py
    KINDS.update(_module.KINDS)


def main() -> int:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    out = os.fdopen(int(os.environ["SEQLAB_RESULT_FD"]), "w", buffering=1)

    def emit(**event) -> None:
        out.write(json.dumps(event) + "\n")
        out.flush()

    import keras  # noqa: F401 - import once, before the first task's timeout starts

    emit(event="ready")
    for task in spec["tasks"]:
        emit(event="start", id=task["id"])
        try:
            emit(event="done", id=task["id"], status="ok", data=KINDS[task["kind"]](task))
        except Exception as exc:
            text = str(exc).strip().splitlines()[0][:400] if str(exc).strip() else ""
            emit(event="done", id=task["id"], status="error",
                 message=f"{type(exc).__name__}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
