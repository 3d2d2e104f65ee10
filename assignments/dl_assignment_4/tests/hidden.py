"""Hidden tests of DL Assignment 4, Part B (C1-C6, 20 points).

Written in the format of :mod:`grader.codetest`: each ``observe_*`` runs in the
student's (or the reference's) sandboxed process and only records raw observations;
each ``judge_*`` runs in the grader's process, compares the student's observations
with the reference's and yields one :class:`Check` per rubric point of the spec.

Rules kept throughout:

* every random input is drawn from ``ctx.rng`` up front, before any student code is
  called, so the reference and the student see exactly the same inputs whatever the
  student's code does;
* every call into student code sits inside ``ctx.section(...)``, so one failure costs
  only the rubric point that depends on it;
* feedback says what was tested and what went wrong, never an input or an expected
  value; ``Check.detail`` (instructor-only) has the numbers;
* C5 does not trust anything the submission reports: the judge measures accuracy and
  cross-entropy itself, in NumPy, from the weights the trained model holds.

Only NumPy and :mod:`grader.codetest` are imported at module level: TensorFlow is
imported inside the observe functions (the student's process), never by a judge.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from grader.codetest import Check, JudgeContext, Observation, Suite, close

suite = Suite()

TOL = 1e-4  # the spec's default (absolute or relative)
C4_TOL = 1e-3  # C4's own tolerance
C5_EPOCHS, C5_BATCH, C5_SEED = 5, 32, 42
C5_ACC_MARGIN = 0.05  # c5.learns: reference's accuracy minus this
C5_RETURN_TOL = 0.01  # c5.returns: reported vs measured last val_accuracy
C6_MAX_TRACES = 2

C2_THRESHOLDS = (0.5, 1.0, 2.0)


# =========================================================================== helpers
# --- used in the student's process (observe) --------------------------------------
def _num(value: Any) -> Any:
    """An observed result as a NumPy array, or a short description if it is not numeric.

    Never raises for odd return values: a description string lets the judge say "your
    function returned a dict" instead of blaming the test.
    """
    if value is None:
        return "<none>"
    try:
        if hasattr(value, "numpy") and callable(value.numpy):
            value = value.numpy()
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 -- anything odd the student returned
        return f"<{type(value).__name__}>"
    if arr.dtype.kind not in "biuf":
        return f"<{type(value).__name__}>"
    if arr.ndim == 0:
        return arr.item()  # a plain number (0-d arrays do not survive the channel as such)
    return arr


def _scalar(value: Any) -> Any:
    """A float if ``value`` is one number (tensor, array of size 1, Python number)."""
    arr = _num(value)
    if isinstance(arr, str):
        return arr
    if isinstance(arr, (int, float, bool)):
        return float(arr)
    if arr.size != 1:
        return f"<array of shape {tuple(arr.shape)}>"
    return float(arr.reshape(()))


def _series(value: Any) -> Any:
    """A list of floats from a sequence of numbers (list, tuple, array, tensor)."""
    if isinstance(value, (str, bytes)) or value is None:
        return f"<{type(value).__name__}>"
    arr = _num(value)
    if isinstance(arr, np.ndarray) and arr.ndim == 1:
        return [float(v) for v in arr]
    try:
        return [_scalar(v) for v in value]
    except TypeError:
        return f"<{type(value).__name__}>"


def _threshold_of(obj: Any) -> Any:
    """The threshold an object holds: its attribute, else its get_config()'s."""
    for get in (lambda: obj.threshold, lambda: obj.get_config()["threshold"]):
        try:
            return _scalar(get())
        except Exception:  # noqa: BLE001,S112
            continue
    return None


def _data_module(ctx: Any = None) -> Any:
    """The assignment's ``data/c5.py`` (data set, model factory, NumPy forward pass).

    In the student's process (``ctx`` given) it is loaded afresh from the data folder,
    never taken from ``sys.modules``, where the student's code could have put its own.
    """
    name = "dl_assignment_4_c5_data"
    if ctx is None and name in sys.modules:
        return sys.modules[name]
    candidates = []
    data_dir = getattr(ctx, "data_dir", None)
    if data_dir is not None:
        candidates.append(Path(data_dir) / "c5.py")
    candidates.append(Path(__file__).resolve().parent.parent / "data" / "c5.py")
    for path in candidates:
        if path.is_file():
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            if ctx is None:
                sys.modules[name] = module
            return module
    raise FileNotFoundError("data/c5.py of the assignment not found")


# --- used in the grader's process (judge) ------------------------------------------
def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _arr(x: Any) -> np.ndarray | None:
    if x is None or isinstance(x, str):
        return None
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return a


def _what(x: Any) -> str:
    """Student-safe description of an observed value (no numbers)."""
    if x is None:
        return "nothing"
    if isinstance(x, str):
        if x == "<none>":
            return "None"
        if x.startswith("<") and x.endswith(">"):
            inner = x[1:-1]
            return inner if inner.startswith("array") else f"a {inner}"
        return "a string"
    if isinstance(x, np.ndarray):
        return f"an array of shape {tuple(x.shape)} and dtype {x.dtype}"
    if isinstance(x, (list, tuple)):
        return f"a sequence of {len(x)} items"
    return f"a {type(x).__name__}"


_NUMPY_REPR = re.compile(r"numpy=.*?(?=>)", re.S)
_MAX_MESSAGE = 300


def _short_message(evalue: str) -> str:
    """The gist of an exception message, without tensor contents or library frames.

    TensorFlow errors raised inside a ``tf.function`` carry "in user code:" and a
    stack of frames; the real message is their last line. Tensors printed in a
    message (``<tf.Tensor: ... numpy=array([...])>``) would show the hidden inputs.
    """
    text = evalue or ""
    if "in user code:" in text:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        text = lines[-1] if lines else text
    text = _NUMPY_REPR.sub("numpy=...", text)
    for cut in ("Received args:", "Received arguments:"):
        if cut in text:
            text = text[: text.index(cut)].rstrip(" .") + "."
    if "Exception encountered:" in text:
        text = text[text.rindex("Exception encountered:") + len("Exception encountered:"):]
    text = " ".join(text.split())
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    return text


def _err(obs: Observation, *keys: str) -> str | None:
    """Student-facing description of the first error among these sections."""
    for key in keys:
        e = obs.error(key)
        if e is not None:
            where = e.where()
            msg = _short_message(e.evalue)
            if msg.startswith(f"{e.ename}: "):
                msg = msg[len(e.ename) + 2:]
            return f"{e.ename}: {msg}{where}" if msg else f"{e.ename}{where}"
    return None


def _err_detail(obs: Observation, *keys: str) -> str:
    out = []
    for key in keys:
        e = obs.error(key)
        if e is not None:
            out.append(f"[{key}] {e.ename}: {e.evalue}\n{e.traceback}")
    return "\n".join(out)


def _ref_missing(point: str, ref: Observation, *keys: str) -> Check | None:
    """A failed check blaming the reference when it did not produce these keys."""
    missing = [k for k in keys if not ref.has(k)]
    if not missing:
        return None
    return Check(point, False,
                 feedback="this check could not run (a problem on the grader's side; "
                          "your instructor has been told)",
                 detail=f"reference observation lacks {missing}; errors: "
                        f"{_err_detail(ref, *missing) or 'none'}; status {ref.status}")


def _fmt(x: Any) -> str:
    a = _arr(x)
    if a is None:
        return repr(x)
    return np.array2string(a, precision=6, threshold=12, edgeitems=3)


def _compare(got: Any, want: Any, atol: float = TOL, rtol: float = TOL) -> tuple[bool, str]:
    """Like codetest.close, but describes non-numeric results in student terms."""
    if isinstance(got, str) or (got is not None and _arr(got) is None):
        return False, f"it returned {_what(got)}, not numbers"
    return close(got, want, atol=atol, rtol=rtol)


# =========================================================================== C1
def _huber_inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[Any, Any]:
    # errors spread over both branches (|e| < 1 and |e| >= 1)
    y_true = rng.normal(scale=2.0, size=shape).astype(np.float32)
    y_pred = rng.normal(scale=2.0, size=shape).astype(np.float32)
    return y_true, y_pred


def _c1_shapes(rng: np.random.Generator) -> list[tuple[int, ...]]:
    n, m, k = (int(v) for v in rng.integers(3, 40, size=3))
    return [(n,), (m, 1), (n, k), (2, m // 3 + 1, k)]


@suite.observe("c1")
def observe_c1(ns: Any, ctx: Any) -> None:
    import keras
    import tensorflow as tf

    huber_fn = ns["huber_fn"]
    rng = ctx.rng
    cases = [_huber_inputs(rng, s) for s in _c1_shapes(rng)]
    X = rng.normal(size=(96, 4)).astype(np.float32)
    y = (X @ rng.normal(size=(4, 1)) * 2.0 + rng.normal(size=(96, 1))).astype(np.float32)

    for i, (y_true, y_pred) in enumerate(cases):
        with ctx.section(f"values{i}"):
            ctx.record(f"values{i}", _num(huber_fn(tf.constant(y_true), tf.constant(y_pred))))

    keras.utils.set_random_seed(ctx.seed % 2**31)
    model = keras.Sequential([
        keras.Input(shape=(4,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(1),
    ])
    with ctx.section("fit"):
        # jit_compile=False: XLA would add seconds of compilation, and test nothing more
        model.compile(loss=huber_fn, optimizer=keras.optimizers.SGD(learning_rate=0.01),
                      jit_compile=False)
        history = model.fit(X, y, epochs=1, batch_size=32, verbose=0)
        ctx.record("fit_loss", _series(history.history.get("loss")))
    with ctx.section("grads"):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(huber_fn(tf.constant(y), model(X)))
        grads = tape.gradient(loss, model.trainable_variables)
        ctx.record("grad_norms", [None if g is None else float(tf.norm(g)) for g in grads])


@suite.judge("c1")
def judge_c1(student: Observation, reference: Observation, ctx: JudgeContext) -> Any:
    # c1.values
    keys = [k for k in sorted(reference.values) if k.startswith("values")]
    check = _ref_missing("c1.values", reference, *(keys or ["values0"]))
    if check:
        yield check
    else:
        yield _values_check("c1.values", "huber_fn(y_true, y_pred)", keys, student, reference,
                            elementwise=True)

    # c1.trainable
    point = "c1.trainable"
    what = "huber_fn as the loss of a small model: one epoch of fit, then its gradients"
    err = _err(student, "fit")
    if err:
        yield Check(point, False, f"{what}: model.fit(...) with loss=huber_fn raised {err}",
                    _err_detail(student, "fit"))
        return
    losses = student.get("fit_loss")
    if not isinstance(losses, list) or not losses or not all(_is_num(v) for v in losses):
        yield Check(point, False, f"{what}: the training loss was not a finite number",
                    f"fit loss history: {losses!r}")
        return
    err = _err(student, "grads")
    if err:
        yield Check(point, False, f"{what}: computing gradients through huber_fn raised {err}",
                    _err_detail(student, "grads"))
        return
    norms = student.get("grad_norms")
    if not isinstance(norms, list) or not norms:
        yield Check(point, False, f"{what}: no gradients could be computed", repr(norms))
        return
    if any(n is None for n in norms):
        yield Check(point, False,
                    f"{what}: the loss is not differentiable (TensorFlow found no gradient for "
                    "some weights; is huber_fn computed with TensorFlow operations?)",
                    f"gradient norms: {norms}")
        return
    if not all(_is_num(n) for n in norms):
        yield Check(point, False, f"{what}: the gradients contain NaN or infinite values",
                    f"gradient norms: {norms}")
        return
    if sum(norms) <= 0:
        yield Check(point, False, f"{what}: all the gradients are zero",
                    f"gradient norms: {norms}")
        return
    yield Check(point, True, f"{what}: training runs with finite, non-zero gradients",
                f"fit loss {losses}, gradient norms {norms}")


def _values_check(point: str, call: str, keys: list[str], student: Observation,
                  reference: Observation, *, elementwise: bool = False,
                  atol: float = TOL, rtol: float = TOL, label: str = "") -> Check:
    """Compare the student's recorded results with the reference's, key by key."""
    what = f"{call} on {len(keys)} random inputs{label}"
    details = []
    for n, key in enumerate(keys, 1):
        err = _err(student, key)
        if err:
            return Check(point, False, f"{what}: input {n} of {len(keys)} raised {err}",
                         _err_detail(student, key))
        got, want = student.get(key), reference.get(key)
        ok, why = _compare(got, want, atol=atol, rtol=rtol)
        if not ok:
            g, w = _arr(got), _arr(want)
            hint = ""
            if elementwise and g is not None and w is not None and g.shape != w.shape:
                if g.size == 1:
                    hint = (" -- it looks reduced to one number; it should return the "
                            "element-wise loss, one value per element of y_true")
            feedback = f"{what}: on input {n} of {len(keys)}, {why}{hint}"
            if g is not None and w is not None and g.shape == w.shape:
                gd = getattr(got, "dtype", None)
                if gd is not None and gd.kind in "iub" and np.asarray(want).dtype.kind == "f":
                    feedback += f" (your result has the integer dtype {gd})"
            return Check(point, False, feedback,
                         f"{key}: got {_fmt(got)} want {_fmt(want)}")
        details.append(f"{key} ok")
    return Check(point, True, f"{what}: all match the reference", "; ".join(details))


# =========================================================================== C2
@suite.observe("c2")
def observe_c2(ns: Any, ctx: Any) -> None:
    import keras
    import tensorflow as tf

    HuberLoss = ns["HuberLoss"]
    rng = ctx.rng
    n, k = int(rng.integers(5, 40)), int(rng.integers(2, 6))
    y_true, y_pred = (tf.constant(a) for a in _huber_inputs(rng, (n, k)))
    t_config = round(float(rng.uniform(1.5, 3.0)), 2)
    t_saved = round(float(rng.uniform(1.5, 3.0)), 2)

    for i, t in enumerate(C2_THRESHOLDS):
        with ctx.section(f"call{i}"):
            ctx.record(f"call{i}", _num(HuberLoss(threshold=t).call(y_true, y_pred)))
        with ctx.section(f"reduced{i}"):
            ctx.record(f"reduced{i}", _num(HuberLoss(threshold=t)(y_true, y_pred)))

    with ctx.section("config"):
        loss = HuberLoss(threshold=t_config)
        cfg = loss.get_config()
        ctx.record("config_type", type(cfg).__name__)
        ctx.record("config_threshold", _scalar(cfg["threshold"]) if "threshold" in cfg else None)
    with ctx.section("from_config"):
        loss = HuberLoss(threshold=t_config)
        clone = HuberLoss.from_config(loss.get_config())
        clone_cfg = clone.get_config()
        ctx.record("clone_threshold",
                   _scalar(clone_cfg["threshold"]) if "threshold" in clone_cfg else None)
        ctx.record("clone_values", _num(clone(y_true, y_pred)))
        ctx.record("original_values", _num(loss(y_true, y_pred)))

    keras.utils.set_random_seed(ctx.seed % 2**31)
    path = Path(ctx.scratch) / "c2_model.keras"
    with ctx.section("save"):
        model = keras.Sequential([keras.Input(shape=(k,)), keras.layers.Dense(k)])
        model.compile(loss=HuberLoss(threshold=t_saved), optimizer="sgd")
        model.save(path)
    with ctx.section("load"):
        loaded = keras.models.load_model(path, custom_objects={"HuberLoss": HuberLoss})
        lf = loaded.loss
        ctx.record("loaded_type", type(lf).__name__)
        ctx.record("loaded_is_huber", isinstance(lf, HuberLoss))
        ctx.record("loaded_threshold", _threshold_of(lf))
        ctx.record("loaded_values", _num(lf(y_true, y_pred)))
        ctx.record("saved_values", _num(HuberLoss(threshold=t_saved)(y_true, y_pred)))
        ctx.record("saved_threshold", t_saved)


@suite.judge("c2")
def judge_c2(student: Observation, reference: Observation, ctx: JudgeContext) -> Any:
    yield _judge_c2_values(student, reference)
    yield _judge_c2_config(student, reference)
    yield _judge_c2_saved(student, reference)


def _judge_c2_values(student: Observation, reference: Observation) -> Check:
    point = "c2.values"
    keys = [f"{w}{i}" for i in range(len(C2_THRESHOLDS)) for w in ("call", "reduced")]
    bad = _ref_missing(point, reference, *keys)
    if bad:
        return bad
    what = "HuberLoss(threshold=t).call and HuberLoss(threshold=t)(y_true, y_pred) for t = " \
           + ", ".join(f"{t:g}" for t in C2_THRESHOLDS)
    details = []
    for i, t in enumerate(C2_THRESHOLDS):
        for kind in ("call", "reduced"):
            key = f"{kind}{i}"
            label = "call(y_true, y_pred)" if kind == "call" else "the reduced loss (__call__)"
            err = _err(student, key)
            if err:
                return Check(point, False, f"{what}: {label} with threshold {t:g} raised {err}",
                             _err_detail(student, key))
            got, want = student.get(key), reference.get(key)
            g, w = _arr(got), _arr(want)
            if kind == "call" and g is not None and w is not None:
                # element-wise, or already averaged over the last axis: compare after that
                if g.shape == w.shape:
                    got, want = g.mean(axis=-1), w.mean(axis=-1)
                elif g.shape == w.shape[:-1]:
                    want = w.mean(axis=-1)
            ok, why = _compare(got, want)
            if not ok:
                return Check(point, False, f"{what}: {label} with threshold {t:g}: {why}",
                             f"{key} (t={t}): got {_fmt(got)} want {_fmt(want)}")
            details.append(f"{key} ok")
    return Check(point, True, f"{what}: all match the reference", "; ".join(details))


def _judge_c2_config(student: Observation, reference: Observation) -> Check:
    point = "c2.config"
    bad = _ref_missing(point, reference, "config_threshold", "clone_values")
    if bad:
        return bad
    want = reference.get("config_threshold")
    what = "HuberLoss(threshold=t).get_config() and HuberLoss.from_config(config)"
    err = _err(student, "config")
    if err:
        return Check(point, False, f"{what}: get_config() raised {err}",
                     _err_detail(student, "config"))
    got = student.get("config_threshold")
    if got is None:
        return Check(point, False,
                     f"{what}: get_config() has no 'threshold' key (override get_config to "
                     "add it to the base class's config)",
                     f"config type {student.get('config_type')}")
    if not _is_num(got) or abs(got - want) > 1e-6:
        return Check(point, False,
                     f"{what}: get_config()['threshold'] is not the threshold the loss was "
                     "created with", f"got {got!r}, want {want!r}")
    err = _err(student, "from_config")
    if err:
        return Check(point, False, f"{what}: HuberLoss.from_config(loss.get_config()) raised "
                                   f"{err}", _err_detail(student, "from_config"))
    clone_t = student.get("clone_threshold")
    if not _is_num(clone_t) or abs(clone_t - want) > 1e-6:
        return Check(point, False,
                     f"{what}: the get_config() of the loss rebuilt with from_config does not "
                     "have the original threshold", f"clone threshold {clone_t!r}, want {want!r}")
    ok, why = _compare(student.get("clone_values"), student.get("original_values"),
                       atol=1e-6, rtol=1e-6)
    if not ok:
        return Check(point, False,
                     f"{what}: the rebuilt loss gives different values from the original: {why}",
                     f"clone {_fmt(student.get('clone_values'))} original "
                     f"{_fmt(student.get('original_values'))}")
    return Check(point, True, f"{what}: the threshold survives the round trip",
                 f"threshold {want}")


def _judge_c2_saved(student: Observation, reference: Observation) -> Check:
    point = "c2.saved"
    bad = _ref_missing(point, reference, "loaded_threshold")
    if bad:
        return bad
    what = ("a model compiled with HuberLoss(threshold=t), saved to .keras and loaded with "
            "custom_objects")
    for key, step in (("save", "saving the model"), ("load", "loading the model")):
        err = _err(student, key)
        if err:
            return Check(point, False, f"{what}: {step} raised {err}", _err_detail(student, key))
    t = student.get("saved_threshold")
    if not student.get("loaded_is_huber"):
        return Check(point, False,
                     f"{what}: the loaded model's loss is not a HuberLoss (it is "
                     f"{_what_type(student.get('loaded_type'))}); Keras could not rebuild it",
                     f"loaded loss type {student.get('loaded_type')!r}")
    lt = student.get("loaded_threshold")
    if lt is not None and (not _is_num(lt) or abs(lt - t) > 1e-6):
        return Check(point, False,
                     f"{what}: the loaded loss lost its threshold (it is back to another "
                     "value; get_config must return the threshold)",
                     f"loaded threshold {lt!r}, saved with {t!r}")
    ok, why = _compare(student.get("loaded_values"), student.get("saved_values"),
                       atol=1e-6, rtol=1e-6)
    if not ok:
        return Check(point, False,
                     f"{what}: the loaded loss computes different values from the saved one: "
                     f"{why}", f"loaded {_fmt(student.get('loaded_values'))} saved "
                               f"{_fmt(student.get('saved_values'))}")
    return Check(point, True, f"{what}: the threshold is kept", f"threshold {t}")


def _what_type(name: Any) -> str:
    return "None" if name in (None, "NoneType") else f"a {name}"


# =========================================================================== C3
def _c3_sizes(rng: np.random.Generator) -> list[int]:
    sizes = [int(rng.integers(2, 9)), int(rng.integers(40, 90)), int(rng.integers(10, 25)),
             int(rng.integers(3, 7))]
    return sizes


@suite.observe("c3")
def observe_c3(ns: Any, ctx: Any) -> None:
    import tensorflow as tf

    HuberMetric = ns["HuberMetric"]
    rng = ctx.rng
    sizes = _c3_sizes(rng)
    batches = [tuple(tf.constant(a) for a in _huber_inputs(rng, (n, 1))) for n in sizes]
    first, second = (tuple(tf.constant(a) for a in _huber_inputs(rng, (n, 1)))
                     for n in (int(rng.integers(5, 30)), int(rng.integers(5, 30))))
    t_config = round(float(rng.uniform(1.5, 3.0)), 2)
    ctx.record("sizes", sizes)

    with ctx.section("streaming"):
        metric = HuberMetric(threshold=1.0)
        for i, (y_true, y_pred) in enumerate(batches):
            metric.update_state(y_true, y_pred)
            ctx.record(f"streaming{i}", _scalar(metric.result()))
    with ctx.section("fresh"):
        ctx.record("fresh", _scalar(HuberMetric(threshold=1.0).result()))
    with ctx.section("reset"):
        metric = HuberMetric(threshold=1.0)
        metric.update_state(*first)
        ctx.record("before_reset", _scalar(metric.result()))
        metric.reset_state()
        ctx.record("after_reset", _scalar(metric.result()))
        metric.update_state(*second)
        ctx.record("after_reset_update", _scalar(metric.result()))
    with ctx.section("config"):
        cfg = HuberMetric(threshold=t_config).get_config()
        ctx.record("config_type", type(cfg).__name__)
        ctx.record("config_threshold", _scalar(cfg["threshold"]) if "threshold" in cfg else None)


@suite.judge("c3")
def judge_c3(student: Observation, reference: Observation, ctx: JudgeContext) -> Any:
    yield _judge_c3_streaming(student, reference)
    yield _judge_c3_reset(student, reference)
    yield _judge_c3_config(student, reference)


def _judge_c3_streaming(student: Observation, reference: Observation) -> Check:
    point = "c3.streaming"
    sizes = reference.get("sizes") or []
    keys = [f"streaming{i}" for i in range(len(sizes))]
    bad = _ref_missing(point, reference, "sizes", *keys)
    if bad:
        return bad
    what = (f"HuberMetric(threshold=1.0): update_state over {len(sizes)} batches of different "
            "sizes, result() after each")
    err = _err(student, "streaming")
    if err:
        return Check(point, False, f"{what}: raised {err}", _err_detail(student, "streaming"))
    want = [float(reference.get(k)) for k in keys]
    got = [student.get(k) for k in keys]
    detail = f"sizes {sizes}; got {got}; want {want}"
    if not all(_is_num(g) for g in got):
        bad_g = next(g for g in got if not _is_num(g))
        why = ("NaN or infinite" if isinstance(bad_g, float) else f"{_what(bad_g)}, not a number")
        return Check(point, False, f"{what}: result() returned {why}", detail)
    if all(abs(g - w) <= max(TOL, TOL * abs(w)) for g, w in zip(got, want, strict=True)):
        return Check(point, True, f"{what}: the mean over all instances, as expected", detail)
    # the common mistakes, recognised from the reference's cumulative means
    counts = np.cumsum(sizes)
    sums = np.asarray(want) * counts
    batch_means = np.diff(np.concatenate([[0.0], sums])) / np.asarray(sizes)
    mean_of_means = np.cumsum(batch_means) / np.arange(1, len(sizes) + 1)

    def near(a: float, b: float) -> bool:
        return abs(a - b) <= max(TOL, TOL * abs(b))

    if all(near(g, m) for g, m in zip(got, mean_of_means, strict=True)):
        why = ("it gives the mean of batch means instead of the mean over all instances "
               "(batches of different sizes must weigh by their number of instances)")
    elif all(near(g, b) for g, b in zip(got, batch_means, strict=True)):
        why = ("result() only reflects the last batch: update_state must accumulate over "
               "all batches since the last reset")
    elif near(got[0], want[0]):
        why = "the first batch's result is right, but accumulating over the next batches is not"
    else:
        why = "the results differ from the mean Huber loss over all instances seen"
    return Check(point, False, f"{what}: {why}",
                 detail + f"; mean of batch means {mean_of_means.tolist()}")


def _judge_c3_reset(student: Observation, reference: Observation) -> Check:
    point = "c3.reset"
    bad = _ref_missing(point, reference, "after_reset_update")
    if bad:
        return bad
    what = "HuberMetric: result() before any update, and after reset_state()"
    for key, step in (("fresh", "result() on a new metric"),
                      ("reset", "update_state / reset_state / result")):
        err = _err(student, key)
        if err:
            return Check(point, False, f"{what}: {step} raised {err}",
                         _err_detail(student, key))
    fresh, after = student.get("fresh"), student.get("after_reset")
    detail = (f"fresh {fresh!r}, before reset {student.get('before_reset')!r}, after reset "
              f"{after!r}, after reset+update {student.get('after_reset_update')!r} (want "
              f"{reference.get('after_reset_update')!r})")
    for value, when in ((fresh, "before any update"), (after, "right after reset_state()")):
        if isinstance(value, float) and math.isnan(value):
            return Check(point, False,
                         f"{what}: result() {when} is NaN, not 0 (a division 0/0: "
                         "tf.math.divide_no_nan avoids it)", detail)
        if not _is_num(value):
            return Check(point, False, f"{what}: result() {when} returned {_what(value)}",
                         detail)
        if abs(value) > 1e-6:
            return Check(point, False, f"{what}: result() {when} is not 0", detail)
    ok, _why = _compare(student.get("after_reset_update"), reference.get("after_reset_update"))
    if not ok:
        return Check(point, False,
                     f"{what}: after reset_state() and one more batch, result() is not that "
                     "batch's mean loss (does reset_state() clear all the state?)", detail)
    return Check(point, True, f"{what}: starts at 0 and starts over after a reset", detail)


def _judge_c3_config(student: Observation, reference: Observation) -> Check:
    point = "c3.config"
    bad = _ref_missing(point, reference, "config_threshold")
    if bad:
        return bad
    what = "HuberMetric(threshold=t).get_config()"
    err = _err(student, "config")
    if err:
        return Check(point, False, f"{what}: raised {err}", _err_detail(student, "config"))
    got, want = student.get("config_threshold"), reference.get("config_threshold")
    if got is None:
        return Check(point, False, f"{what}: the config has no 'threshold' key",
                     f"config type {student.get('config_type')}")
    if not _is_num(got) or abs(got - want) > 1e-6:
        return Check(point, False,
                     f"{what}: config['threshold'] is not the threshold the metric was "
                     "created with", f"got {got!r} want {want!r}")
    return Check(point, True, f"{what}: contains the threshold", f"threshold {want}")


# =========================================================================== C4
def _c4_input(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # per-row scales in [1, 4] and offsets: the variance is far from the std, and
    # sqrt(var + eps) stays within 1e-3 (relative) of std + eps
    scale = rng.uniform(1.0, 4.0, size=(*shape[:-1], 1))
    offset = rng.normal(scale=3.0, size=(*shape[:-1], 1))
    return (rng.normal(size=shape) * scale + offset).astype(np.float32)


@suite.observe("c4")
def observe_c4(ns: Any, ctx: Any) -> None:
    import keras
    import tensorflow as tf

    Layer = ns["LayerNormalization"]
    rng = ctx.rng
    k = int(rng.integers(16, 33))
    x2 = _c4_input(rng, (int(rng.integers(8, 40)), k))
    x3 = _c4_input(rng, (int(rng.integers(2, 6)), int(rng.integers(3, 9)), k))
    n = 256
    X = rng.normal(size=(n, k)).astype(np.float32)
    y = (np.tanh(X @ rng.normal(size=(k, 1))) * 3.0 + 1.0).astype(np.float32)
    ctx.record("features", k)

    for i, x in enumerate((x2, x3)):
        with ctx.section(f"values{i}"):
            ctx.record(f"values{i}", _num(Layer()(tf.constant(x))))
    with ctx.section("weights"):
        layer = Layer()
        layer(tf.constant(x2))
        ctx.record("weight_shapes", [[int(d) for d in w.shape] for w in layer.trainable_weights])
        ctx.record("weight_names", [str(getattr(w, "path", w.name)) for w in layer.weights])

    keras.utils.set_random_seed(ctx.seed % 2**31)
    with ctx.section("trains"):
        layer = Layer()
        model = keras.Sequential([keras.Input(shape=(k,)), layer, keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse",
                      jit_compile=False)
        before = [np.array(w.numpy()) for w in layer.trainable_weights]
        loss_before = _mse(model, X, y)
        model.fit(X, y, epochs=4, batch_size=32, verbose=0)
        after = [np.array(w.numpy()) for w in layer.trainable_weights]
        ctx.record("weights_before", before)
        ctx.record("weights_after", after)
        ctx.record("loss_before", loss_before)
        ctx.record("loss_after", _mse(model, X, y))


def _mse(model: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """The model's mean squared error on (X, y), computed eagerly (no extra tracing)."""
    pred = _num(model(X, training=False))
    if isinstance(pred, str) or pred.shape != y.shape:
        return pred if isinstance(pred, str) else f"<array of shape {tuple(pred.shape)}>"
    return float(np.mean((pred.astype(np.float64) - y) ** 2))


@suite.judge("c4")
def judge_c4(student: Observation, reference: Observation, ctx: JudgeContext) -> Any:
    bad = _ref_missing("c4.values", reference, "values0", "values1")
    yield bad or _values_check("c4.values", "LayerNormalization()(X)", ["values0", "values1"],
                               student, reference, atol=C4_TOL, rtol=C4_TOL,
                               label=" (rank 2 and rank 3)")
    yield _judge_c4_weights(student, reference)
    yield _judge_c4_trains(student, reference)


def _judge_c4_weights(student: Observation, reference: Observation) -> Check:
    point = "c4.weights"
    bad = _ref_missing(point, reference, "features")
    if bad:
        return bad
    k = int(reference.get("features"))
    what = "LayerNormalization's trainable weights after it is built"
    err = _err(student, "weights")
    if err:
        return Check(point, False, f"{what}: building the layer raised {err}",
                     _err_detail(student, "weights"))
    shapes = student.get("weight_shapes") or []
    detail = f"shapes {shapes}, want two of [{k}]; weights {student.get('weight_names')}"
    if len(shapes) != 2:
        return Check(point, False,
                     f"{what}: found {len(shapes)} trainable weight(s); expected exactly two "
                     "(alpha and beta)", detail)
    if any(list(s) != [k] for s in shapes):
        got = ", ".join(str(tuple(s)) for s in shapes)
        return Check(point, False,
                     f"{what}: their shapes are {got}; both should be input_shape[-1:] (create "
                     "them in build() from the input shape)", detail)
    return Check(point, True, f"{what}: two weights of shape input_shape[-1:]", detail)


def _judge_c4_trains(student: Observation, reference: Observation) -> Check:
    point = "c4.trains"
    what = "LayerNormalization inside a small model trained with fit"
    err = _err(student, "trains")
    if err:
        return Check(point, False, f"{what}: raised {err}", _err_detail(student, "trains"))
    before, after = student.get("weights_before"), student.get("weights_after")
    l0, l1 = student.get("loss_before"), student.get("loss_after")
    detail = f"loss {l0!r} -> {l1!r}"
    if not isinstance(before, list) or not before:
        return Check(point, False, f"{what}: the layer has no trainable weights, so fit cannot "
                                   "change alpha and beta", detail)
    if not isinstance(after, list) or len(after) != len(before):
        return Check(point, False, f"{what}: the layer's weights changed in number", detail)
    changed = [bool(np.max(np.abs(np.asarray(a, dtype=np.float64) -
                                  np.asarray(b, dtype=np.float64)), initial=0.0) > 1e-7)
               for a, b in zip(after, before, strict=True)]
    detail += f"; weights changed: {changed}"
    if len(before) < 2 or not all(changed):
        which = "alpha and beta" if not any(changed) else "all of the layer's weights"
        return Check(point, False,
                     f"{what}: fit did not change {which} (are they used in call()?)", detail)
    if not (_is_num(l0) and _is_num(l1)):
        return Check(point, False, f"{what}: the loss is not a finite number", detail)
    if not l1 < l0:
        return Check(point, False, f"{what}: the loss did not go down", detail)
    return Check(point, True, f"{what}: alpha and beta change and the loss goes down", detail)


# =========================================================================== C5
@suite.observe("c5")
def observe_c5(ns: Any, ctx: Any) -> None:
    train_custom_loop = ns["train_custom_loop"]
    data = _data_module(ctx)
    X_train, y_train, X_valid, y_valid = data.load_data()
    model = data.make_model(seed=C5_SEED)
    ctx.record("initial_weights", [np.array(w) for w in model.get_weights()])
    with ctx.section("train"):
        history = train_custom_loop(model, X_train, y_train, X_valid, y_valid,
                                    C5_EPOCHS, C5_BATCH, C5_SEED)
    with ctx.section("returned"):
        ctx.record("returned_type", type(history).__name__)
        keys = list(history.keys())
        ctx.record("returned_keys", [str(k) for k in keys][:20])
        for key in ("loss", "val_accuracy"):
            if key in history:
                ctx.record(f"returned_{key}", _series(history[key]))
    with ctx.section("weights"):
        ctx.record("weights", [_num(w) for w in model.get_weights()])


def _c5_measure(obs: Observation, key: str) -> tuple[float, float] | str:
    """(validation accuracy, training cross-entropy) of the weights under ``key``."""
    data = _data_module()
    weights = obs.get(key)
    if not isinstance(weights, list) or len(weights) != len(data.WEIGHT_SHAPES):
        return "the model's weights are not those of the MLP it was given"
    arrays = []
    for w, shape in zip(weights, data.WEIGHT_SHAPES, strict=True):
        a = _arr(w)
        if a is None or tuple(a.shape) != tuple(shape):
            return "the model's weights are not those of the MLP it was given"
        arrays.append(a)
    if not all(np.all(np.isfinite(a)) for a in arrays):
        return "the trained model's weights contain NaN or infinite values"
    X_train, y_train, X_valid, y_valid = data.load_data()
    return (data.accuracy(arrays, X_valid, y_valid),
            data.cross_entropy(arrays, X_train, y_train))


@suite.judge("c5")
def judge_c5(student: Observation, reference: Observation, ctx: JudgeContext) -> Any:
    yield _judge_c5_tape(ctx.source)
    ref = _c5_measure(reference, "weights") if reference.has("weights") else "missing"
    ref0 = (_c5_measure(reference, "initial_weights")
            if reference.has("initial_weights") else "missing")
    if isinstance(ref, str) or isinstance(ref0, str):
        for point in ("c5.returns", "c5.learns"):
            yield Check(point, False, "this check could not run (a problem on the grader's "
                                      "side; your instructor has been told)",
                        f"reference measurement failed: {ref!r} / {ref0!r}; "
                        f"{_err_detail(reference, 'train', 'weights')}")
        return
    ref_acc, _ = ref
    _, loss_before = ref0
    what = (f"train_custom_loop(model, ..., epochs={C5_EPOCHS}, batch_size={C5_BATCH}, "
            f"seed={C5_SEED}) on the assignment's data set")
    err = _err(student, "train")
    if err:
        detail = _err_detail(student, "train")
        yield Check("c5.returns", False, f"{what}: raised {err}", detail)
        yield Check("c5.learns", False, f"{what}: raised {err}", detail)
        return
    mine = _c5_measure(student, "weights") if student.has("weights") else (
        "the trained model's weights could not be read: " + (_err(student, "weights") or "?"))
    yield _judge_c5_returns(student, mine, what)
    yield _judge_c5_learns(mine, ref_acc, loss_before, what)


def _judge_c5_returns(student: Observation, mine: tuple[float, float] | str,
                      what: str) -> Check:
    point = "c5.returns"
    err = _err(student, "returned")
    typ = student.get("returned_type")
    if err or not student.has("returned_keys"):
        return Check(point, False,
                     f"{what}: it should return a dict with 'loss' and 'val_accuracy' lists, "
                     f"but returned {_what_type(typ)}" + (f" ({err})" if err else ""),
                     _err_detail(student, "returned"))
    keys = student.get("returned_keys") or []
    missing = [k for k in ("loss", "val_accuracy") if k not in keys]
    if missing:
        names = " or ".join(repr(k) for k in missing)
        return Check(point, False, f"{what}: the returned dict has no {names} key",
                     f"keys {keys}")
    for key in ("loss", "val_accuracy"):
        seq = student.get(f"returned_{key}")
        if not isinstance(seq, list):
            return Check(point, False, f"{what}: '{key}' is {_what(seq)}, not a sequence of "
                                       "numbers", repr(seq))
        if len(seq) != C5_EPOCHS:
            return Check(point, False,
                         f"{what}: '{key}' has {len(seq)} values; expected one per epoch "
                         f"({C5_EPOCHS})", repr(seq))
        if not all(_is_num(v) for v in seq):
            return Check(point, False, f"{what}: '{key}' holds values that are not finite "
                                       "numbers", repr(seq))
    if isinstance(mine, str):
        return Check(point, False, f"{what}: {mine}", "")
    acc = mine[0]
    reported = student.get("returned_val_accuracy")[-1]
    detail = f"reported last val_accuracy {reported}, grader measured {acc}"
    if abs(reported - acc) > C5_RETURN_TOL:
        return Check(point, False,
                     f"{what}: the last 'val_accuracy' it returns does not agree (within "
                     f"{C5_RETURN_TOL}) with the accuracy the grader measures on the trained "
                     "model", detail)
    return Check(point, True, f"{what}: returns per-epoch 'loss' and 'val_accuracy' that agree "
                              "with the trained model", detail)


def _judge_c5_learns(mine: tuple[float, float] | str, ref_acc: float, loss_before: float,
                     what: str) -> Check:
    point = "c5.learns"
    if isinstance(mine, str):
        return Check(point, False, f"{what}: {mine}", "")
    acc, loss_after = mine
    detail = (f"grader-measured val accuracy {acc:.4f} (reference {ref_acc:.4f}, needed "
              f">= {ref_acc - C5_ACC_MARGIN:.4f}); training cross-entropy {loss_before:.4f} -> "
              f"{loss_after:.4f}")
    if acc < ref_acc - C5_ACC_MARGIN - 1e-9:
        return Check(point, False,
                     f"{what}: the validation accuracy the grader measures on the trained model "
                     f"is {acc:.3f}, too far below the reference's (more than "
                     f"{C5_ACC_MARGIN} below)", detail)
    if not loss_after < loss_before:
        return Check(point, False, f"{what}: the training cross-entropy did not go down",
                     detail)
    return Check(point, True, f"{what}: the model learns (validation accuracy {acc:.3f})",
                 detail)


# --- c5.tape: a static check of the source -----------------------------------------
def _parse_lenient(source: str) -> list[ast.stmt]:
    """Module-level statements of ``source``; chunks that do not parse are skipped."""
    try:
        return list(ast.parse(source).body)
    except SyntaxError:
        pass
    body: list[ast.stmt] = []
    lines = source.splitlines()
    starts = [i for i, line in enumerate(lines)
              if line and not line[0].isspace() and not line.startswith(("#", ")", "]", "}"))]
    starts.append(len(lines))
    i = 0
    while i < len(starts) - 1:
        # grow the chunk until it parses (decorators, multi-line calls), else skip a line
        for j in range(i + 1, len(starts)):
            chunk = "\n".join(lines[starts[i]:starts[j]])
            try:
                body.extend(ast.parse(chunk).body)
            except SyntaxError:
                continue
            i = j
            break
        else:
            i += 1
    return body


def _tape_analysis(source: str) -> dict[str, Any]:
    body = _parse_lenient(source)
    defs: dict[str, ast.AST] = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[node.name] = node
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            # train_step = tf.function(_train_step)
            for target in node.targets:
                if isinstance(target, ast.Name):
                    defs.setdefault(target.id, node)
    if "train_custom_loop" not in defs:
        return {"found": False}
    seen = ["train_custom_loop"]
    i = 0
    while i < len(seen):
        for sub in ast.walk(defs[seen[i]]):
            name = None
            if isinstance(sub, ast.Name) and sub.id in defs:
                name = sub.id
            elif (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name)
                  and sub.value.id == "self" and sub.attr in defs):
                name = sub.attr
            if name and name not in seen:
                seen.append(name)
        i += 1
    tape = apply = False
    fits: list[str] = []
    for name in seen:
        for sub in ast.walk(defs[name]):
            if isinstance(sub, ast.Attribute) and sub.attr == "GradientTape" or \
                    isinstance(sub, ast.Name) and sub.id == "GradientTape":
                tape = True
            if isinstance(sub, ast.Call):
                f = sub.func
                attr = f.attr if isinstance(f, ast.Attribute) else None
                if attr in ("apply_gradients", "apply"):
                    apply = True
                if attr == "fit" or isinstance(f, ast.Name) and f.id == "fit":
                    fits.append(name)
    return {"found": True, "functions": seen, "tape": tape, "apply": apply, "fits": fits}


def _judge_c5_tape(source: str) -> Check:
    point = "c5.tape"
    what = "the code of train_custom_loop and of the helpers it calls (read, not run)"
    info = _tape_analysis(source or "")
    if not info["found"]:
        return Check(point, False, f"{what}: no 'def train_custom_loop' found in your code",
                     "")
    helpers = [f for f in info["functions"] if f != "train_custom_loop"]
    scope = "train_custom_loop" + (f" and {', '.join(helpers)}" if helpers else "")
    detail = f"checked {scope}: {info}"
    problems = []
    if not info["tape"]:
        problems.append("does not use tf.GradientTape")
    if not info["apply"]:
        problems.append("never applies the gradients (optimizer.apply_gradients or "
                        "optimizer.apply)")
    if info["fits"]:
        where = ", ".join(sorted(set(info["fits"])))
        problems.append(f"calls fit (in {where}); a custom loop must not")
    if problems:
        return Check(point, False, f"{what}: {scope} " + "; ".join(problems), detail)
    return Check(point, True, f"{what}: a custom loop with tf.GradientTape and the optimizer",
                 detail)


# =========================================================================== C6
@suite.observe("c6")
def observe_c6(ns: Any, ctx: Any) -> None:
    import tensorflow as tf

    fn = ns["tf_cube_sum"]
    rng = ctx.rng
    lengths = [int(v) for v in rng.choice(np.arange(2, 40), size=6, replace=False)]
    floats = [rng.uniform(-2.0, 2.0, size=n).astype(np.float32) for n in lengths[:3]]
    ints = [rng.integers(-9, 10, size=n).astype(np.int32) for n in lengths[3:]]
    new_lengths = [int(v) for v in rng.choice(np.arange(41, 200), size=5, replace=False)]
    graph_inputs = [rng.uniform(-2.0, 2.0, size=n).astype(np.float32) for n in new_lengths]

    with ctx.section("graph"):
        before = ctx.trace_count(fn)
        ctx.record("traces_before", before)
        if before is not None:
            for x in graph_inputs:
                fn(tf.constant(x))
            ctx.record("traces_after", ctx.trace_count(fn))
    for i, x in enumerate(floats):
        with ctx.section(f"float{i}"):
            ctx.record(f"float{i}", _num(fn(tf.constant(x))))
    for i, x in enumerate(ints):
        with ctx.section(f"int{i}"):
            ctx.record(f"int{i}", _num(fn(tf.constant(x))))


@suite.judge("c6")
def judge_c6(student: Observation, reference: Observation, ctx: JudgeContext) -> Any:
    keys = ["float0", "float1", "float2", "int0", "int1", "int2"]
    bad = _ref_missing("c6.values", reference, *keys)
    if bad:
        yield bad
    else:
        f = _values_check("c6.values", "tf_cube_sum(x)", keys[:3], student, reference,
                          label=" (float32 tensors of several lengths)")
        i = _values_check("c6.values", "tf_cube_sum(x)", keys[3:], student, reference,
                          label=" (int32 tensors of several lengths)")
        if f.passed and i.passed:
            yield Check("c6.values", True, "tf_cube_sum(x) on float32 and int32 tensors of "
                                           "several lengths: all correct",
                        f.detail + "; " + i.detail)
        else:
            yield f if not f.passed else i

    point = "c6.graph"
    what = "tf_cube_sum called with float32 tensors of 5 new lengths"
    err = _err(student, "graph")
    if err:
        yield Check(point, False, f"{what}: raised {err}", _err_detail(student, "graph"))
        return
    before, after = student.get("traces_before"), student.get("traces_after")
    if before is None:
        yield Check(point, False, "tf_cube_sum is not a TF Function (decorate it with "
                                  "@tf.function)", "trace count unavailable")
        return
    if not (isinstance(before, int) and isinstance(after, int)):
        yield Check(point, False, f"{what}: its tracing count could not be read",
                    f"{before!r} -> {after!r}")
        return
    added = after - before
    detail = f"tracing count {before} -> {after}"
    if added > C6_MAX_TRACES:
        yield Check(point, False,
                    f"{what}: it retraced {added} times (at most {C6_MAX_TRACES} allowed; "
                    "each new input shape makes a new concrete function unless tracing is "
                    "relaxed)", detail)
        return
    yield Check(point, True, f"{what}: {added} new trace(s), within the limit of "
                             f"{C6_MAX_TRACES}", detail)
