# Attacks at the top level, one per cell: each must be refused (the cell raises).
# AttackSucceeded is raised where a refusal did not happen.
# %% tcp
import socket
socket.create_connection(("127.0.0.1", 22), timeout=1)
# %% udp
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"x", ("8.8.8.8", 53))
# %% unix socket
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("/run/docker.sock")
# %% sockets through libc (no Python audit hook on the way)
import ctypes, os
class AttackSucceeded(Exception):
    pass
libc = ctypes.CDLL(None, use_errno=True)
for fam, typ in ((2, 1), (2, 2), (1, 1), (1, 2), (10, 1), (16, 3), (17, 3)):
    fd = libc.socket(fam, typ, 0)
    if fd >= 0:
        raise AttackSucceeded(f"socket({fam}, {typ}) was allowed")
raise PermissionError(ctypes.get_errno(), "socket: " + os.strerror(ctypes.get_errno()))
# %% read the reference solution
open("{{REFERENCE}}").read()
# %% read the hidden tests
open("{{HIDDEN}}").read()
# %% read the rubric
open("{{RUBRIC}}").read()
# %% read the database
open("{{DB}}", "rb").read()
# %% list the grader's folder
import os
os.listdir("{{GRADER_DIR}}")
# %% write outside scratch
open("{{OUTSIDE}}", "w").write("pwned")
# %% overwrite the database
open("{{DB}}", "wb").write(b"pwned")
# %% write into site-packages
import os, numpy
open(os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "pwned.py"), "w").write("x")
# %% write into /dev/shm and /tmp
open("/dev/shm/pwned", "w").write("x")
# %% kill the parent
import os, signal
os.kill(os.getppid(), signal.SIGKILL)
# %% kill everything else (probes with signal 0 and SIGCONT; any success is a failure)
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
ok = [p for p in range(2, 70000) if libc.kill(p, 0) == 0]
if libc.kill(-1, 0) == 0 or libc.kill(0, 0) == 0 or ok:
    raise AttackSucceeded(f"could signal: {ok[:5]}")
raise PermissionError(ctypes.get_errno(), "kill: " + os.strerror(ctypes.get_errno()))
# %% run a shell
import subprocess
subprocess.run(["sh", "-c", "echo pwned > {{OUTSIDE}}"])
# %% exec through libc
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
argv = (ctypes.c_char_p * 2)(b"/bin/sh", None)
libc.execv(b"/bin/sh", argv)
raise PermissionError(ctypes.get_errno(), "execv: " + os.strerror(ctypes.get_errno()))
# %% fork
import os
os.fork()
# %% fork through libc, then a detached grandchild (setsid + sleep)
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
pid = libc.fork()
if pid == 0:
    libc.setsid()
    libc.sleep(1000)
    libc._exit(0)
if pid > 0:
    raise AttackSucceeded(f"fork gave {pid}")
raise PermissionError(ctypes.get_errno(), "fork: " + os.strerror(ctypes.get_errno()))
# %% a new process through the raw clone syscall (no CLONE_THREAD)
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
r = libc.syscall(56, signal.SIGCHLD, 0, 0, 0, 0)
if r == 0:
    libc._exit(0)
if r > 0:
    raise AttackSucceeded(f"clone gave {r}")
raise PermissionError(ctypes.get_errno(), "clone: " + os.strerror(ctypes.get_errno()))
# %% forged results into every descriptor 3..63
import os
forged = b'{"t": "task_end", "task": "t1", "status": "ok"}\nt1.values PASSED\n'
hit = []
for fd in range(3, 64):
    try:
        os.write(fd, forged)
        hit.append(fd)
    except OSError:
        pass
if hit:
    raise AttackSucceeded(f"descriptors open: {hit}")
raise PermissionError("no descriptor 3..63 is open")
# %% SIGSTOP to itself (must not hang the grader)
import os, signal
os.kill(os.getpid(), signal.SIGSTOP)
# %% leftover threads
import threading, time
def spin():
    while True:
        time.sleep(0.001)
threading.Thread(target=spin).start()
threading.Thread(target=spin, daemon=True).start()
# %% sys.exit at the top level
import sys
sys.exit(3)
# %% monkeypatched assertions + a printed fake result, with a wrong solution
import numpy as np, numpy.testing, builtins
import grader.codetest
numpy.testing.assert_allclose = lambda *a, **k: None
np.allclose = lambda *a, **k: True
np.testing.assert_array_equal = lambda *a, **k: None
grader.codetest.close = lambda *a, **k: (True, "")
builtins.AssertionError = type("AssertionError", (Exception,), {})
print("t1.values: PASSED (1/1)\nt1.dtype: PASSED (1/1)\nTOTAL: 100%")
def square(x):
    return x * 3  # wrong
# %% correct code for the other tasks
import tensorflow as tf
@tf.function(reduce_retracing=True)
def cube_sum(x):
    return tf.reduce_sum(x ** 3)
def scale_data(path):
    a = np.load(path)
    return a / a.max()
