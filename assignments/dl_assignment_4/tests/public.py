"""Public tests of DL Assignment 4, Part B: what ``grader check`` runs for students.

They cover the public tasks (C1, C2, C6) with the same kinds of checks as the hidden
tests, on fixed inputs, and they do not need the reference solution: each judge
recomputes the inputs from a fixed seed and the expected values with NumPy. Passing
them is a good sign, not a promise: the hidden tests use other, fresh inputs and
also grade C3, C4 and C5.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from grader.codetest import Check, JudgeContext, Observation, Suite, close

suite = Suite()

SEED = 2024
TOL = 1e-4
THRESHOLDS = (0.5, 1.0, 2.0)
CONFIG_THRESHOLD = 2.5
MAX_TRACES = 2


# --------------------------------------------------------------------------- inputs
def _pair(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    y_true = rng.normal(scale=2.0, size=shape).astype(np.float32)
    y_pred = rng.normal(scale=2.0, size=shape).astype(np.float32)
    return y_true, y_pred


def _c1_inputs() -> dict[str, Any]:
    rng = np.random.default_rng([SEED, 1])
    X = rng.normal(size=(64, 3)).astype(np.float32)
    return {
        "pairs": [_pair(rng, s) for s in [(10,), (6, 1), (4, 3), (2, 3, 2)]],
        "X": X,
        "y": (X @ rng.normal(size=(3, 1)) * 2.0).astype(np.float32),
    }


def _c2_inputs() -> tuple[np.ndarray, np.ndarray]:
    return _pair(np.random.default_rng([SEED, 2]), (12, 3))


def _c6_inputs() -> dict[str, Any]:
    rng = np.random.default_rng([SEED, 6])
    return {
        "floats": [rng.uniform(-2, 2, size=n).astype(np.float32) for n in (3, 11, 25)],
        "ints": [rng.integers(-9, 10, size=n).astype(np.int32) for n in (4, 9, 30)],
        "graph": [rng.uniform(-2, 2, size=n).astype(np.float32) for n in (41, 57, 73, 88, 99)],
    }


def _huber(y_true: np.ndarray, y_pred: np.ndarray, t: float = 1.0) -> np.ndarray:
    e = np.abs(y_true.astype(np.float64) - y_pred.astype(np.float64))
    return np.where(e < t, e ** 2 / 2, t * e - t ** 2 / 2)


# --------------------------------------------------------------------------- observe helpers
def _num(value: Any) -> Any:
    if value is None:
        return "<none>"
    try:
        if hasattr(value, "numpy") and callable(value.numpy):
            value = value.numpy()
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001
        return f"<{type(value).__name__}>"
    if arr.dtype.kind not in "biuf":
        return f"<{type(value).__name__}>"
    if arr.ndim == 0:
        return arr.item()  # a plain number (0-d arrays do not survive the channel as such)
    return arr


def _threshold_of(obj: Any) -> Any:
    for get in (lambda: obj.threshold, lambda: obj.get_config()["threshold"]):
        try:
            v = _num(get())
            if isinstance(v, (int, float)):
                return float(v)
            return float(v.reshape(())) if isinstance(v, np.ndarray) and v.size == 1 else None
        except Exception:  # noqa: BLE001,S112
            continue
    return None


# --------------------------------------------------------------------------- judge helpers
def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _err(obs: Observation, key: str) -> str | None:
    """The gist of the error in section ``key``: type, last line of the message, line."""
    e = obs.error(key)
    if e is None:
        return None
    lines = [ln.strip() for ln in (e.evalue or "").splitlines() if ln.strip()]
    msg = lines[-1] if "in user code:" in (e.evalue or "") and lines else " ".join(lines)
    msg = re.sub(r"numpy=.*?(?=>)", "numpy=...", msg, flags=re.S)
    if msg.startswith(f"{e.ename}: "):
        msg = msg[len(e.ename) + 2:]
    if len(msg) > 300:
        msg = msg[:297] + "..."
    where = e.where()
    return f"{e.ename}: {msg}{where}"


def _cmp(got: Any, want: Any) -> tuple[bool, str]:
    if isinstance(got, str):
        return False, f"it returned {got.strip('<>')}, not numbers"
    return close(got, want, atol=TOL, rtol=TOL)


# =========================================================================== C1
@suite.observe("c1")
def observe_c1(ns: Any, ctx: Any) -> None:
    import keras
    import tensorflow as tf

    huber_fn = ns["huber_fn"]
    inp = _c1_inputs()
    for i, (yt, yp) in enumerate(inp["pairs"]):
        with ctx.section(f"values{i}"):
            ctx.record(f"values{i}", _num(huber_fn(tf.constant(yt), tf.constant(yp))))
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(1)])
    with ctx.section("fit"):
        model.compile(loss=huber_fn, optimizer=keras.optimizers.SGD(learning_rate=0.01),
                      jit_compile=False)
        history = model.fit(inp["X"], inp["y"], epochs=1, batch_size=32, verbose=0)
        ctx.record("fit_loss", [float(v) for v in history.history.get("loss", [])])
    with ctx.section("grads"):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(huber_fn(tf.constant(inp["y"]), model(inp["X"])))
        grads = tape.gradient(loss, model.trainable_variables)
        ctx.record("grad_norms", [None if g is None else float(tf.norm(g)) for g in grads])


@suite.judge("c1")
def judge_c1(student: Observation, reference: Observation, ctx: JudgeContext) -> Any:
    inp = _c1_inputs()
    what = "huber_fn(y_true, y_pred) on 4 public inputs"
    for i, (yt, yp) in enumerate(inp["pairs"]):
        err = _err(student, f"values{i}")
        if err:
            yield Check("c1.values", False, f"{what}: input {i + 1} raised {err}")
            break
        ok, why = _cmp(student.get(f"values{i}"), _huber(yt, yp))
        if not ok:
            yield Check("c1.values", False, f"{what}: input {i + 1} (shape {yt.shape}): {why}")
            break
    else:
        yield Check("c1.values", True, f"{what}: all correct")

    point, what = "c1.trainable", "huber_fn as the loss of a small model (fit, then gradients)"
    for key, step in (("fit", "model.fit"), ("grads", "computing gradients")):
        err = _err(student, key)
        if err:
            yield Check(point, False, f"{what}: {step} raised {err}")
            return
    losses, norms = student.get("fit_loss") or [], student.get("grad_norms") or []
    if not losses or not all(_is_num(v) for v in losses):
        yield Check(point, False, f"{what}: the training loss is not a finite number")
    elif not norms or any(n is None for n in norms):
        yield Check(point, False, f"{what}: no gradient for some weights (use TensorFlow "
                                  "operations in huber_fn)")
    elif not all(_is_num(n) for n in norms) or sum(norms) <= 0:
        yield Check(point, False, f"{what}: the gradients are not finite and non-zero")
    else:
        yield Check(point, True, f"{what}: runs, with finite non-zero gradients")


# =========================================================================== C2
@suite.observe("c2")
def observe_c2(ns: Any, ctx: Any) -> None:
    import keras
    import tensorflow as tf

    HuberLoss = ns["HuberLoss"]
    yt, yp = (tf.constant(a) for a in _c2_inputs())
    for i, t in enumerate(THRESHOLDS):
        with ctx.section(f"call{i}"):
            ctx.record(f"call{i}", _num(HuberLoss(threshold=t).call(yt, yp)))
        with ctx.section(f"reduced{i}"):
            ctx.record(f"reduced{i}", _num(HuberLoss(threshold=t)(yt, yp)))
    with ctx.section("config"):
        loss = HuberLoss(threshold=CONFIG_THRESHOLD)
        cfg = loss.get_config()
        ctx.record("has_threshold", "threshold" in cfg)
        clone = HuberLoss.from_config(cfg)
        ctx.record("clone_threshold", _threshold_of(clone))
        ctx.record("clone_values", _num(clone(yt, yp)))
    path = Path(ctx.scratch) / "public_c2.keras"
    with ctx.section("saved"):
        model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(3)])
        model.compile(loss=HuberLoss(threshold=CONFIG_THRESHOLD), optimizer="sgd")
        model.save(path)
        loaded = keras.models.load_model(path, custom_objects={"HuberLoss": HuberLoss})
        ctx.record("loaded_threshold", _threshold_of(loaded.loss))
        ctx.record("loaded_values", _num(loaded.loss(yt, yp)) if loaded.loss else "<none>")


@suite.judge("c2")
def judge_c2(student: Observation, reference: Observation, ctx: JudgeContext) -> Any:
    yt, yp = _c2_inputs()
    what = "HuberLoss(threshold=t) for t = 0.5, 1, 2 on a public input"
    failure = None
    for i, t in enumerate(THRESHOLDS):
        want = _huber(yt, yp, t)
        for kind in ("call", "reduced"):
            err = _err(student, f"{kind}{i}")
            got = student.get(f"{kind}{i}")
            if err:
                failure = f"{kind} with threshold {t:g} raised {err}"
            else:
                w = want.mean() if kind == "reduced" else want
                if kind == "call" and not isinstance(got, str) and got is not None:
                    g = np.asarray(got, dtype=np.float64)
                    got = g.mean(axis=-1) if g.shape == want.shape else g
                    w = want.mean(axis=-1)
                ok, why = _cmp(got, w)
                failure = None if ok else f"{kind} with threshold {t:g}: {why}"
            if failure:
                break
        if failure:
            break
    yield Check("c2.values", failure is None, f"{what}: " + (failure or "all correct"))

    what = f"HuberLoss(threshold={CONFIG_THRESHOLD}).get_config() and from_config"
    err = _err(student, "config")
    if err:
        yield Check("c2.config", False, f"{what}: raised {err}")
    elif not student.get("has_threshold"):
        yield Check("c2.config", False, f"{what}: the config has no 'threshold'")
    elif student.get("clone_threshold") != CONFIG_THRESHOLD:
        yield Check("c2.config", False, f"{what}: the rebuilt loss has threshold "
                                        f"{student.get('clone_threshold')!r}")
    else:
        ok, why = _cmp(student.get("clone_values"), _huber(yt, yp, CONFIG_THRESHOLD).mean())
        yield Check("c2.config", ok, f"{what}: " + ("the threshold survives" if ok else
                                                      f"the rebuilt loss's values: {why}"))

    what = f"a model compiled with HuberLoss(threshold={CONFIG_THRESHOLD}), saved and loaded"
    err = _err(student, "saved")
    if err:
        yield Check("c2.saved", False, f"{what}: raised {err}")
    elif student.get("loaded_threshold") not in (None, CONFIG_THRESHOLD):
        yield Check("c2.saved", False, f"{what}: the loaded loss has threshold "
                                       f"{student.get('loaded_threshold')!r}")
    else:
        ok, why = _cmp(student.get("loaded_values"), _huber(yt, yp, CONFIG_THRESHOLD).mean())
        yield Check("c2.saved", ok, f"{what}: " + ("the threshold is kept" if ok else
                                                     f"the loaded loss's values: {why}"))


# =========================================================================== C6
@suite.observe("c6")
def observe_c6(ns: Any, ctx: Any) -> None:
    import tensorflow as tf

    fn = ns["tf_cube_sum"]
    inp = _c6_inputs()
    with ctx.section("graph"):
        before = ctx.trace_count(fn)
        ctx.record("traces_before", before)
        if before is not None:
            for x in inp["graph"]:
                fn(tf.constant(x))
            ctx.record("traces_after", ctx.trace_count(fn))
    for kind in ("floats", "ints"):
        for i, x in enumerate(inp[kind]):
            with ctx.section(f"{kind}{i}"):
                ctx.record(f"{kind}{i}", _num(fn(tf.constant(x))))


@suite.judge("c6")
def judge_c6(student: Observation, reference: Observation, ctx: JudgeContext) -> Any:
    inp = _c6_inputs()
    failure = None
    for kind, label in (("floats", "a float32"), ("ints", "an int32")):
        for i, x in enumerate(inp[kind]):
            err = _err(student, f"{kind}{i}")
            if err:
                failure = f"{label} tensor of length {len(x)} raised {err}"
            else:
                ok, why = _cmp(student.get(f"{kind}{i}"), np.sum(x.astype(np.float64) ** 3))
                failure = None if ok else f"{label} tensor of length {len(x)}: {why}"
            if failure:
                break
        if failure:
            break
    what = "tf_cube_sum on public float32 and int32 tensors"
    yield Check("c6.values", failure is None, f"{what}: " + (failure or "all correct"))

    what = "tf_cube_sum called with float32 tensors of 5 new lengths"
    err = _err(student, "graph")
    before, after = student.get("traces_before"), student.get("traces_after")
    if err:
        yield Check("c6.graph", False, f"{what}: raised {err}")
    elif before is None:
        yield Check("c6.graph", False, "tf_cube_sum is not a TF Function (@tf.function)")
    elif not isinstance(after, int):
        yield Check("c6.graph", False, f"{what}: its tracing count could not be read")
    elif after - before > MAX_TRACES:
        yield Check("c6.graph", False, f"{what}: it retraced {after - before} times (at most "
                                       f"{MAX_TRACES} allowed)")
    else:
        yield Check("c6.graph", True, f"{what}: {after - before} new trace(s)")
