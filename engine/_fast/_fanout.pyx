# cython: boundscheck=False, wraparound=False
"""The broadcast dispatch loop of the http_server output's writer, compiled (twin: _fanout_py.py)."""


def dispatch(list subscribers, bytes data, Py_ssize_t count):
    cdef Py_ssize_t written = 0
    cdef list skipped = []
    cdef list refused = []
    cdef list failed = []
    cdef object sub
    cdef object ok
    for sub in subscribers:
        if sub.buffer is not None or sub.window is not None:
            skipped.append(sub)
            continue
        try:
            ok = sub.write(data)
        except Exception:
            failed.append(sub)
            continue
        if ok:
            sub.delivered += count
            sub.bytes_written += len(data)
            written += 1
        else:
            refused.append(sub)
    return written, skipped, refused, failed
