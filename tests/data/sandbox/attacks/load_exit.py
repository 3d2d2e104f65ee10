# Ends the process while loading.
import os

def square(x):
    return x * x

os._exit(0)
