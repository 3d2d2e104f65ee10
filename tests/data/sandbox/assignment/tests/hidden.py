"""Hidden tests of the sandbox's own test assignment: observe in the sandbox, judge here."""

import numpy as np

from grader.codetest import Check, Suite, close

suite = Suite()
SECRET_EXPECTED = 1234.5  # a value that must never reach the student's process


@suite.observe("t1")
def observe_t1(ns, ctx):
    x = ctx.rng.normal(size=(5, 3)).astype("float32")
    with ctx.section("values"):
        out = ns["square"](x)
        ctx.record("values", out)
        ctx.record("dtype", str(getattr(out, "dtype", type(out).__name__)))


@suite.judge("t1")
def judge_t1(student, reference, ctx):
    ok, why = close(student.get("values"), reference.get("values"))
    err = student.error("values")
    yield Check("t1.values", ok, feedback=why if not err else err.summary())
    yield Check("t1.dtype", student.get("dtype") in ("float32", "<dtype: 'float32'>"),
                feedback="" if student.get("dtype") == reference.get("dtype") else
                "the result should keep float32")


@suite.observe("t2")
def observe_t2(ns, ctx):
    f = ns["cube_sum"]
    vals = []
    before = ctx.trace_count(f)
    with ctx.section("values"):
        import tensorflow as tf

        for n in (3, 5, 8):
            vals.append(f(tf.constant(ctx.rng.normal(size=n).astype("float32"))))
        ctx.record("values", vals)
    after = ctx.trace_count(f)
    ctx.record("traces", None if after is None else after - (before or 0))


@suite.judge("t2")
def judge_t2(student, reference, ctx):
    ok, why = close(student.get("values"), reference.get("values"), atol=1e-3)
    err = student.error("values")
    yield Check("t2.values", ok, feedback=err.summary() if err else why)
    traces = student.get("traces")
    yield Check("t2.graph", traces is not None and traces <= 2,
                feedback="" if traces is not None and traces <= 2 else
                "not a tf.function, or it retraced for every new length")


@suite.observe("t3")
def observe_t3(ns, ctx):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 4)).astype("float32")
    y = (X[:, 0] > 0).astype("int64") + (X[:, 1] > 0.5).astype("int64")
    with ctx.section("model"):
        model = ns["train_small"](X, y, 42)
        pred = np.argmax(model.predict(X, verbose=0), axis=1)
        ctx.record("accuracy", float(np.mean(pred == y)))


@suite.judge("t3")
def judge_t3(student, reference, ctx):
    acc, ref = student.get("accuracy"), reference.get("accuracy")
    ok = acc is not None and ref is not None and acc >= ref - 0.1
    err = student.error("model")
    yield Check("t3.learns", ok, feedback=err.summary() if err else (
        "" if ok else "the trained model is not accurate enough"),
        detail=f"student {acc}, reference {ref}")


@suite.observe("t4")
def observe_t4(ns, ctx):
    with ctx.section("values"):
        ctx.record("values", ns["scale_data"](str(ctx.data_dir / "numbers.npy")))


@suite.judge("t4")
def judge_t4(student, reference, ctx):
    ok, why = close(student.get("values"), reference.get("values"))
    err = student.error("values")
    yield Check("t4.values", ok, feedback=err.summary() if err else why)


@suite.observe("t5")
def observe_t5(ns, ctx):
    observe_t1(ns, ctx)


@suite.judge("t5")
def judge_t5(student, reference, ctx):
    ok, why = close(student.get("values"), reference.get("values"))
    yield Check("t5.values", ok, feedback=why)
