"""Shutdown: the Lambda entry process ends promptly on SIGTERM instead of ignoring it as PID 1."""

from __future__ import annotations

import os
import signal
import sys
import threading


def exit_on_sigterm() -> None:
    """Exit promptly on SIGTERM under a Lambda runtime client (``docker stop``, Lambda's shutdown).

    The client's main thread waits for the next event inside C code, where a Python signal handler
    never runs, and as a container's PID 1 the process would ignore SIGTERM altogether. So SIGTERM
    gets a handler (any thread, numpy's included, may take the signal) whose wakeup byte a daemon
    thread waits for before it ends the process.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    signal.signal(signal.SIGTERM, lambda number, frame: None)
    threading.Thread(target=_wait_for_sigterm, args=(read_end,), name="sigterm", daemon=True).start()


def _wait_for_sigterm(wakeup: int) -> None:
    while signal.SIGTERM not in os.read(wakeup, 64):
        pass  # another handled signal (SIGINT): Python's own handler deals with it
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)
