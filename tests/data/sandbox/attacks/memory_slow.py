# A memory bomb that touches its pages slowly (so the cgroup, not RLIMIT_DATA, stops it),
# and plain deep recursion (RecursionError).
import numpy as np


def square(x):
    hoard = []
    while True:
        a = np.empty(50 * 2**20, dtype=np.uint8)
        a.fill(1)
        hoard.append(a)


def cube_sum(x):
    def down(n):
        return down(n + 1)

    return down(0)
