# Hangs while loading: costs one load timeout, not one per task.
import time

def square(x):
    return x * x

time.sleep(10_000)
