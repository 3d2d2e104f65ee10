"""Part B of the example assignment (C1-C6, 20 points), through the real sandbox engine.

Every sample submission -- the reference, correct solutions written differently
(notebook, script, folder) and one file per realistic bug -- must earn exactly its
expected points on every rubric point, with fresh random inputs (a new seed per
session, printed on failure). All samples run in one batch on one shared Engine.

The judges' own logic (static tape check, message clean-up, the C5 measurement that
ignores what a submission reports) is also unit-tested on synthetic observations,
without TensorFlow.
"""

from __future__ import annotations

import importlib.util
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from grader.codetest import ErrorInfo, JudgeContext, Observation
from tests.conftest import SEED

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "assignments" / "dl_assignment_4"
SAMPLES = Path(__file__).resolve().parent / "data" / "partb"
SUBMISSIONS = ROOT / "examples" / "submissions"

FULL = {
    "c1.values": 1, "c1.trainable": 1,
    "c2.values": 1, "c2.config": 1, "c2.saved": 1,
    "c3.streaming": 2, "c3.reset": 1, "c3.config": 1,
    "c4.values": 2, "c4.weights": 1, "c4.trains": 1,
    "c5.tape": 1, "c5.returns": 1, "c5.learns": 3,
    "c6.values": 1, "c6.graph": 1,
}
assert sum(FULL.values()) == 20

# sample (path relative to the repository) -> rubric points it loses, and words its
# feedback must contain (what was tested / what went wrong)
EXPECTED: dict[str, tuple[set[str], dict[str, str]]] = {
    # correct solutions
    "assignments/dl_assignment_4/reference/solution.py": (set(), {}),
    "examples/submissions/alice_ref_style.ipynb": (set(), {}),
    "examples/submissions/bob_solution.py": (set(), {}),
    # realistic full submissions with bugs
    "examples/submissions/dave_textbook.ipynb": (
        {"c3.streaming", "c3.reset", "c3.config", "c6.graph"},
        {"c3.config": "Cannot convert 'total' to a shape", "c6.graph": "retraced 5 times"}),
    "examples/submissions/erin": (
        {"c3.streaming", "c5.tape", "c6.graph"},
        {"c3.streaming": "mean of batch means", "c5.tape": "calls fit"}),
    # one bug each
    "tests/data/partb/huber_numpy.py": ({"c1.trainable"}, {"c1.trainable": "model.fit"}),
    "tests/data/partb/huber_mean.py": ({"c1.values"}, {"c1.values": "wrong shape"}),
    "tests/data/partb/loss_threshold_ignored.py": (
        {"c2.values"}, {"c2.values": "threshold 0.5"}),
    "tests/data/partb/loss_no_get_config.py": (
        {"c2.config", "c2.saved"}, {"c2.config": "no 'threshold' key",
                                    "c2.saved": "lost its threshold"}),
    "tests/data/partb/loss_no_kwargs.py": (
        {"c2.config", "c2.saved"}, {"c2.config": "unexpected keyword argument 'name'"}),
    "tests/data/partb/metric_batch_means.py": (
        {"c3.streaming"}, {"c3.streaming": "mean of batch means instead of the mean over all "
                                           "instances"}),
    "tests/data/partb/metric_last_batch.py": (
        {"c3.streaming"}, {"c3.streaming": "only reflects the last batch"}),
    "tests/data/partb/metric_nan_before_update.py": (
        {"c3.reset"}, {"c3.reset": "is NaN, not 0"}),
    "tests/data/partb/metric_no_config.py": ({"c3.config"}, {"c3.config": "no 'threshold'"}),
    "tests/data/partb/metric_typo.py": (
        {"c3.streaming", "c3.reset"},
        {"c3.streaming": "NameError: name 'valeus' is not defined (metric_typo.py, line 55)"}),
    "tests/data/partb/missing_metric.py": (
        {"c3.streaming", "c3.reset", "c3.config"}, {"c3.streaming": "not defined"}),
    "tests/data/partb/layernorm_variance.py": ({"c4.values"}, {"c4.values": "rank 2"}),
    "tests/data/partb/layernorm_weights_in_init.py": (
        {"c4.weights"}, {"c4.weights": "(1,), (1,)"}),
    "tests/data/partb/layernorm_unused_weights.py": (
        {"c4.trains"}, {"c4.trains": "did not change alpha and beta"}),
    "tests/data/partb/loop_fit.py": ({"c5.tape"}, {"c5.tape": "calls fit"}),
    "tests/data/partb/loop_no_apply.py": (
        {"c5.tape", "c5.learns"}, {"c5.tape": "never applies the gradients",
                                   "c5.learns": "validation accuracy"}),
    "tests/data/partb/loop_per_step_loss.py": (
        {"c5.returns"}, {"c5.returns": "expected one per epoch"}),
    "tests/data/partb/loop_wrong_loss.py": (
        {"c5.returns", "c5.learns"}, {"c5.returns": "must have the same rank"}),
    "tests/data/partb/cube_no_reduce_retracing.py": (
        {"c6.graph"}, {"c6.graph": "retraced 5 times"}),
    "tests/data/partb/cube_not_tf_function.py": (
        {"c6.graph"}, {"c6.graph": "not a TF Function"}),
    "tests/data/partb/cube_float_signature.py": ({"c6.values"}, {"c6.values": "int32"}),
    "tests/data/partb/cube_float_only.py": (
        {"c6.values"}, {"c6.values": "Expected int32 passed to parameter 'y' of op 'Pow'"}),
}



def expected_points(lost: set[str]) -> dict[str, float]:
    return {p: 0.0 if p in lost else float(v) for p, v in FULL.items()}


def test_every_bug_sample_is_in_the_table() -> None:
    files = {str(p.relative_to(ROOT)) for p in SAMPLES.glob("*.py")}
    assert files <= set(EXPECTED), sorted(files - set(EXPECTED))
    for rel in EXPECTED:
        assert (ROOT / rel).exists(), rel
    assert all(lost <= set(FULL) for lost, _ in EXPECTED.values())


# --------------------------------------------------------------------------- the engine
# The shared session Engine is the `engine` fixture of conftest.py.


@pytest.fixture(scope="session")
def partb_runs(engine: Any, example_assignment: Any) -> dict[str, Any]:
    """Every sample of EXPECTED run once, in one batch."""
    from grader.ingest import ingest

    def run(rel: str) -> Any:
        path = ROOT / rel
        return engine.run(ingest(path, path.parent, example_assignment), path.parent)

    with ThreadPoolExecutor(max_workers=engine.jobs) as pool:
        runs = dict(zip(EXPECTED, pool.map(run, EXPECTED), strict=True))
    return runs


def test_reference_observations_are_complete(engine: Any) -> None:
    assert engine.reference_problems == {}, f"seed {SEED}: {engine.reference_problems}"
    ref = engine.reference()
    assert set(ref) == {"c1", "c2", "c3", "c4", "c5", "c6"}
    for tid, obs in ref.items():
        assert obs.status == "ok" and not obs.errors, (tid, obs.errors)


@pytest.mark.parametrize("rel", list(EXPECTED))
def test_sample_earns_expected_points(rel: str, partb_runs: dict[str, Any]) -> None:
    lost, words = EXPECTED[rel]
    run = partb_runs[rel]
    got = {p.point_id: p.awarded for t in run.tasks for p in t.points}
    feedback = {p.point_id: p.feedback for t in run.tasks for p in t.points}
    want = expected_points(lost)
    assert run.load_status == "ok", run.load_message
    diff = {k: (got.get(k), want[k], feedback.get(k)) for k in want if got.get(k) != want[k]}
    assert not diff, f"seed {SEED} ({rel}): point -> (got, expected, feedback): {diff}"
    for point, text in words.items():
        assert text in feedback[point], (point, feedback[point])
    for t in run.tasks:
        for p in t.points:
            assert p.feedback, p.point_id
            assert not p.needs_review, (p.point_id, p.detail)


def test_reference_is_twenty_of_twenty(partb_runs: dict[str, Any]) -> None:
    run = partb_runs["assignments/dl_assignment_4/reference/solution.py"]
    assert sum(p.awarded for t in run.tasks for p in t.points) == 20
    assert [t.status for t in run.tasks] == ["ok"] * 6


def test_feedback_hides_hidden_inputs_and_expected_values(partb_runs: dict[str, Any]) -> None:
    """Student-facing feedback carries no arrays; the instructor detail does."""
    run = partb_runs["tests/data/partb/cube_float_signature.py"]
    c6 = {p.point_id: p for t in run.tasks for p in t.points}["c6.values"]
    assert "numpy=" not in c6.feedback and "array(" not in c6.feedback
    assert "Received args" not in c6.feedback
    run = partb_runs["tests/data/partb/layernorm_variance.py"]
    c4 = {p.point_id: p for t in run.tasks for p in t.points}["c4.values"]
    assert "want" in c4.detail and "want" not in c4.feedback
    assert "[" not in c4.feedback  # no numbers printed as arrays


def test_notebook_cells_run_with_errors_allowed(partb_runs: dict[str, Any]) -> None:
    run = partb_runs["examples/submissions/alice_ref_style.ipynb"]
    errors = [c for c in run.cells if c.status == "error"]
    assert [c.ename for c in errors] == ["NameError"]
    assert "not executed" in run.load_message and "pip install" in run.load_message


# --------------------------------------------------------------------------- judges alone
@pytest.fixture(scope="module")
def hidden() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dl4_hidden_for_tests",
                                                  EXAMPLE / "tests" / "hidden.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _ctx(source: str = "") -> JudgeContext:
    return JudgeContext(task_id="t", source=source, seed=1)


TAPE_OK = '''
import tensorflow as tf
def step(model, opt, x, y):
    with tf.GradientTape() as tape:
        loss = model.loss_fn(y, model(x))
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                            model.trainable_variables))
def train_custom_loop(model, X_train, y_train, X_valid, y_valid, epochs, batch_size, seed):
    for _ in range(epochs):
        step(model, None, X_train, y_train)
    return {}
def unrelated(model, X, y):
    model.fit(X, y)   # fit elsewhere does not matter
'''


@pytest.mark.parametrize("source,ok,words", [
    (TAPE_OK, True, ""),
    (TAPE_OK.replace("opt.apply_gradients(", "opt.apply("), True, ""),
    (TAPE_OK.replace("step(model, None", "model.fit(X_train, y_train)\n        step(model, None"),
     False, "calls fit"),
    (TAPE_OK.replace("tf.GradientTape()", "tf.zeros(())"), False, "tf.GradientTape"),
    ("def train_custom_loop(*a):\n    return {}\n", False, "never applies"),
    ("x = 1\n", False, "no 'def train_custom_loop'"),
    # a cell with a syntax error elsewhere does not hide the function
    ("def broken(:\n    pass\n" + TAPE_OK, True, ""),
    # a helper defined as a tf.function assignment, and methods reached through self
    ('''
import tensorflow as tf
class Trainer:
    def __init__(self, model):
        self.model = model
    def run(self, x, y):
        with tf.GradientTape() as tape:
            loss = self.model(x)
        self.opt.apply_gradients([])
def train_custom_loop(model, *args):
    return Trainer(model).run(args[0], args[1])
''', True, ""),
])
def test_tape_static_check(hidden: ModuleType, source: str, ok: bool, words: str) -> None:
    check = hidden._judge_c5_tape(source)
    assert check.point == "c5.tape"
    assert check.passed is ok, check.feedback
    assert words in check.feedback


def test_error_messages_are_cleaned_up(hidden: ModuleType) -> None:
    tf_error = ("in user code:\n\n    File \"/tmp/x/000_a_cell0.py\", line 3, in f  *\n"
                "        return x ** 3.0\n\n    TypeError: Expected int32, got 3.0")
    assert hidden._short_message(tf_error) == "TypeError: Expected int32, got 3.0"
    sig = ("Binding inputs to tf.function failed due to `x`. Received args: (<tf.Tensor: "
           "shape=(3,), dtype=int32, numpy=array([1, 2, 3], dtype=int32)>,)")
    assert "array" not in hidden._short_message(sig)
    obs = Observation(errors={"k": ErrorInfo(
        "NameError", "name 'q' is not defined",
        'Traceback (your code, most recent call last):\n  File "nb.ipynb", cell 4, line 2, '
        "in f\n    q\nNameError: name 'q' is not defined", 2, "nb.ipynb")})
    assert hidden._err(obs, "k") == ("NameError: name 'q' is not defined "
                                     "(nb.ipynb, cell 4, line 2)")


def _c3_obs(results: list[float], sizes: list[int]) -> Observation:
    values: dict[str, Any] = {f"streaming{i}": r for i, r in enumerate(results)}
    values.update(sizes=sizes, fresh=0.0, after_reset=0.0, after_reset_update=0.5,
                  before_reset=0.7, config_threshold=2.0)
    return Observation(values=values)


def test_c3_recognizes_mean_of_batch_means(hidden: ModuleType) -> None:
    sizes = [2, 50, 10]
    batch_means = [1.0, 0.2, 0.6]
    totals = np.cumsum(np.multiply(sizes, batch_means))
    ref = _c3_obs(list(totals / np.cumsum(sizes)), sizes)
    wrong = _c3_obs(list(np.cumsum(batch_means) / [1, 2, 3]), sizes)
    checks = {c.point: c for c in hidden.judge_c3(wrong, ref, _ctx())}
    assert not checks["c3.streaming"].passed
    assert "mean of batch means" in checks["c3.streaming"].feedback
    assert str(batch_means[1]) not in checks["c3.streaming"].feedback
    assert checks["c3.reset"].passed and checks["c3.config"].passed
    nan = _c3_obs(list(totals / np.cumsum(sizes)), sizes)
    nan = Observation(values={**nan.values, "fresh": float("nan")})
    checks = {c.point: c for c in hidden.judge_c3(nan, ref, _ctx())}
    assert checks["c3.streaming"].passed and not checks["c3.reset"].passed


def test_c5_measures_accuracy_itself(hidden: ModuleType) -> None:
    """A submission that reports great numbers but did not train gets no credit."""
    data = hidden._data_module()
    rng = np.random.default_rng(0)
    init = [rng.normal(scale=0.1, size=s).astype(np.float32) for s in data.WEIGHT_SHAPES]
    X_train, y_train, X_valid, y_valid = data.load_data()
    # "trained" weights: a least-squares readout on random ReLU features (no TensorFlow)
    w1 = rng.normal(size=(64, 64)).astype(np.float32) / 8
    h = np.maximum(X_train @ w1, 0)
    w2 = np.linalg.lstsq(h, np.eye(10)[y_train] * 10, rcond=None)[0].astype(np.float32)
    trained = [w1, np.zeros(64, np.float32), w2, np.zeros(10, np.float32)]
    acc = data.accuracy(trained, X_valid, y_valid)
    assert acc > 0.8
    ref = Observation(values={"initial_weights": init, "weights": trained})
    liar = Observation(values={
        "initial_weights": init, "weights": init, "returned_keys": ["loss", "val_accuracy"],
        "returned_type": "dict", "returned_loss": [1.0, 0.5, 0.3, 0.2, 0.1],
        "returned_val_accuracy": [acc] * 5})
    checks = {c.point: c for c in hidden.judge_c5(liar, ref, _ctx(TAPE_OK))}
    assert checks["c5.tape"].passed
    assert not checks["c5.returns"].passed and "does not agree" in checks["c5.returns"].feedback
    assert not checks["c5.learns"].passed
    honest = Observation(values={**liar.values, "weights": trained})
    checks = {c.point: c for c in hidden.judge_c5(honest, ref, _ctx(TAPE_OK))}
    assert checks["c5.returns"].passed and checks["c5.learns"].passed
    swapped = Observation(values={**honest.values, "weights": trained[:2]})
    checks = {c.point: c for c in hidden.judge_c5(swapped, ref, _ctx(TAPE_OK))}
    assert not checks["c5.learns"].passed
    assert "not those of the MLP" in checks["c5.learns"].feedback


def test_c5_data_set_is_deterministic_and_as_specified() -> None:
    spec = importlib.util.spec_from_file_location("dl4_c5", EXAMPLE / "data" / "c5.py")
    assert spec is not None and spec.loader is not None
    c5 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(c5)
    a, b = c5.load_data(), c5.load_data()
    X_train, y_train, X_valid, y_valid = a
    assert X_train.shape == (2000, 64) and X_valid.shape == (500, 64)
    assert X_train.dtype == np.float32 and y_train.dtype == y_valid.dtype == np.int64
    assert set(np.unique(y_train)) == set(range(10))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
