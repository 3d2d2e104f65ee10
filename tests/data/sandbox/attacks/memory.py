# Memory bombs and deep recursion, one per task.
import sys
import numpy as np
import tensorflow as tf


def square(x):  # numpy: one huge allocation
    return np.ones((10**6, 10**5))


def cube_sum(x):  # TensorFlow: a tensor far beyond the limit
    return tf.reduce_sum(tf.ones([60000, 60000]))


def scale_data(path):  # Python lists, growing until something gives
    hoard = []
    while True:
        hoard.append(bytearray(10**7))


def train_small(X, y, seed):  # deep recursion through C calls, past the C stack
    sys.setrecursionlimit(10**8)

    def down(n):
        return list(map(down, [n + 1]))

    return down(0)
