# Cells of a notebook (split on the markers by the tests): magics, errors, late names.
# %%
import numpy as np
import tensorflow as tf
%matplotlib inline
!pip install nothing
files = !ls
%timeit np.zeros(3)
# %%
%%bash
rm -rf /
# %%
%%time
def square(x):
    return x * x
# %%
undefined_name + 1
# %%
@tf.function
def cube_sum(x):
    s = tf.constant(0.0)
    for i in tf.range(tf.shape(x)[0]):
        s += x[i] ** 3
    return s
# %%
def scale_data(path):
    a = np.load(path)
    return a / (a.max() - 1.0)  # wrong on purpose
