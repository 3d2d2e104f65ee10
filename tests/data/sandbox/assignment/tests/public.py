"""Public tests: the subset students may run (t1 and t2 only)."""

from grader.codetest import Check, Suite, close

suite = Suite()


@suite.observe("t1")
def observe_t1(ns, ctx):
    import numpy as np

    x = np.arange(6, dtype="float32").reshape(2, 3)
    with ctx.section("values"):
        ctx.record("values", ns["square"](x))


@suite.judge("t1")
def judge_t1(student, reference, ctx):
    ok, why = close(student.get("values"), reference.get("values"))
    yield Check("t1.values", ok, feedback=why)
    yield Check("t1.dtype", True)


@suite.observe("t2")
def observe_t2(ns, ctx):
    import tensorflow as tf

    with ctx.section("values"):
        ctx.record("values", ns["cube_sum"](tf.constant([1.0, 2.0, 3.0])))


@suite.judge("t2")
def judge_t2(student, reference, ctx):
    ok, why = close(student.get("values"), reference.get("values"))
    yield Check("t2.values", ok, feedback=why)
    yield Check("t2.graph", True)
