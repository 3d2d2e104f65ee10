# A NumPy-only reference for t1/t4/t5 (used by tests that run workers without TensorFlow).
import numpy as np


def square(x):
    return np.square(x)


def scale_data(path):
    a = np.load(path)
    return a / a.max()
