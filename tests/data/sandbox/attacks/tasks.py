# Attacks inside the graded functions: each task must end with its own message and the
# next task must still run.
import os
import sys
import ctypes


def square(x):  # infinite loop
    while True:
        pass


def cube_sum(x):  # os._exit mid-task
    print("leaving now")
    os._exit(0)


def train_small(X, y, seed):  # sys.exit mid-task
    sys.exit(1)


def scale_data(path):  # segfault
    ctypes.string_at(0)
