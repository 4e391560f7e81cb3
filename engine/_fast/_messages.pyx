# cython: language_level=3, boundscheck=False, wraparound=False
"""Making Message objects in bulk: a batch from an input's payloads, copies, derived messages.

A Python class's __init__ costs about 140 ns a message; here the object is allocated and its slots
filled directly (the offsets come from the class's own slot descriptors), about 35 ns. The kit
checks at construction that the class has exactly the slots it knows; if not it raises, and
engine/message.py uses the pure-Python twin.
"""

from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from cpython.list cimport PyList_New, PyList_SET_ITEM, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.dict cimport PyDict_Copy, PyDict_Size

cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset

cdef extern from "Python.h":
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    object PyType_GenericAlloc(PyTypeObject* t, Py_ssize_t n)

cdef enum:
    T_OBJECT_EX = 16

SLOTS = ("_raw", "_structured", "_meta", "_meta_origin", "error", "reply")


cdef inline void _put(PyObject* o, Py_ssize_t offset, object value) noexcept:
    Py_INCREF(value)
    (<PyObject**>(<char*>o + offset))[0] = <PyObject*>value


cdef inline void _set_item(list items, Py_ssize_t i, object value) noexcept:
    Py_INCREF(value)  # PyList_SET_ITEM steals a reference
    PyList_SET_ITEM(items, i, value)


cdef inline PyObject* _get(PyObject* o, Py_ssize_t offset) noexcept:
    return (<PyObject**>(<char*>o + offset))[0]


cdef class MessageKit:
    """MessageKit(cls, unset, shared_meta_type, meta_source_type); see protocols.MessageKit."""

    cdef PyTypeObject* _type
    cdef object _cls, _unset, _shared, _source
    cdef Py_ssize_t o_raw, o_structured, o_meta, o_origin, o_error, o_reply

    def __init__(self, cls, unset, shared_meta_type, meta_source_type):
        if not isinstance(cls, type) or set(getattr(cls, "__slots__", ())) != set(SLOTS):
            raise TypeError(f"{cls!r} does not have exactly the slots {SLOTS}")
        if cls.__dictoffset__ or cls.__base__ is not object:
            raise TypeError(f"{cls!r} must be a plain class with __slots__")
        offsets = []
        for name in SLOTS:
            descr = cls.__dict__[name]
            if type(descr).__name__ != "member_descriptor":
                raise TypeError(f"{cls.__name__}.{name} is not a slot")
            member = (<PyMemberDescrObject*><PyObject*>descr).d_member
            if member.type != T_OBJECT_EX:
                raise TypeError(f"{cls.__name__}.{name} is not an object slot")
            offsets.append(member.offset)
        self.o_raw, self.o_structured, self.o_meta, self.o_origin, self.o_error, self.o_reply = offsets
        self._cls = cls
        self._type = <PyTypeObject*>cls
        self._unset = unset
        self._shared = shared_meta_type
        self._source = meta_source_type

    cdef inline object _new(self):
        return PyType_GenericAlloc(self._type, 0)

    cdef object _inherit(self, PyObject* meta):
        """A message's metadata for a message made from it (message.inherit_meta), a MetaSource
        (metadata not made yet) kept as it is: the caller carries the origin with it."""
        if meta == NULL or <object>meta is None:
            return None
        if type(<object>meta) is self._source:
            return <object>meta
        if type(<object>meta) is self._shared:
            return <object>meta if PyDict_Size(<object>meta) else None
        if type(<object>meta) is dict:
            return PyDict_Copy(<object>meta) if PyDict_Size(<object>meta) else None
        return dict(<object>meta) if <object>meta else None

    def build(self, list parts, meta):
        cdef Py_ssize_t i, n = PyList_GET_SIZE(parts)
        cdef list out = PyList_New(n)
        cdef PyObject* o
        cdef object obj
        for i in range(n):
            obj = self._new()
            o = <PyObject*>obj
            _put(o, self.o_raw, <object>PyList_GET_ITEM(parts, i))
            _put(o, self.o_structured, self._unset)
            _put(o, self.o_meta, meta)
            _put(o, self.o_origin, None)
            _put(o, self.o_error, None)
            _put(o, self.o_reply, None)
            _set_item(out, i, obj)
        return out

    def build_sourced(self, list parts, source, list origins):
        cdef Py_ssize_t i, n = PyList_GET_SIZE(parts)
        cdef list out
        cdef PyObject* o
        cdef object obj
        if type(source) is not self._source:
            raise TypeError("not a MetaSource")
        if PyList_GET_SIZE(origins) != n:
            raise ValueError("one origin per payload")
        out = PyList_New(n)
        for i in range(n):
            obj = self._new()
            o = <PyObject*>obj
            _put(o, self.o_raw, <object>PyList_GET_ITEM(parts, i))
            _put(o, self.o_structured, self._unset)
            _put(o, self.o_meta, source)
            _put(o, self.o_origin, <object>PyList_GET_ITEM(origins, i))
            _put(o, self.o_error, None)
            _put(o, self.o_reply, None)
            _set_item(out, i, obj)
        return out

    cdef inline object _origin_of(self, object meta, PyObject* src):
        """The origin a message made from SRC gets along with META (its inherited metadata)."""
        cdef PyObject* origin
        if type(meta) is not self._source:
            return None
        origin = _get(src, self.o_origin)
        return None if origin == NULL else <object>origin

    def copy(self, list batch):
        cdef Py_ssize_t i, n = PyList_GET_SIZE(batch)
        cdef list out = PyList_New(n)
        cdef PyObject* o
        cdef object obj
        cdef PyObject* src
        cdef PyObject* raw
        for i in range(n):
            src = PyList_GET_ITEM(batch, i)
            raw = NULL
            if type(<object>src) is self._cls:
                raw = _get(src, self.o_raw)
            if (raw == NULL or <object>raw is None or _get(src, self.o_meta) == NULL
                    or _get(src, self.o_origin) == NULL
                    or _get(src, self.o_error) == NULL or _get(src, self.o_reply) == NULL):
                # Structured-only (deep copy) or anything unusual: the method itself.
                _set_item(out, i, (<object>src).copy())
                continue
            meta = self._inherit(_get(src, self.o_meta))
            obj = self._new()
            o = <PyObject*>obj
            _put(o, self.o_raw, <object>raw)
            _put(o, self.o_structured, self._unset)
            _put(o, self.o_meta, meta)
            _put(o, self.o_origin, self._origin_of(meta, src))
            _put(o, self.o_error, <object>_get(src, self.o_error))
            _put(o, self.o_reply, <object>_get(src, self.o_reply))
            _set_item(out, i, obj)
        return out

    def derive(self, list batch, list payloads):
        cdef Py_ssize_t i, n = PyList_GET_SIZE(batch)
        cdef list out
        cdef PyObject* o
        cdef object obj
        cdef PyObject* src
        cdef PyObject* error
        if PyList_GET_SIZE(payloads) != n:
            raise ValueError("one payload per message")
        out = PyList_New(n)
        for i in range(n):
            payload = <object>PyList_GET_ITEM(payloads, i)
            src = PyList_GET_ITEM(batch, i)
            if payload is None:
                _set_item(out, i, None)
                continue
            if type(<object>src) is not self._cls:
                raise TypeError("not a message")
            error = _get(src, self.o_error)
            meta = self._inherit(_get(src, self.o_meta))
            obj = self._new()
            o = <PyObject*>obj
            _put(o, self.o_raw, payload)
            _put(o, self.o_structured, self._unset)
            _put(o, self.o_meta, meta)
            _put(o, self.o_origin, self._origin_of(meta, src))
            _put(o, self.o_error, None if error == NULL else <object>error)
            _put(o, self.o_reply, None)
            _set_item(out, i, obj)
        return out

    def undecoded_payloads(self, list batch):
        cdef Py_ssize_t i, n = PyList_GET_SIZE(batch)
        cdef list out = PyList_New(n)
        cdef PyObject* src
        cdef PyObject* raw
        for i in range(n):
            src = PyList_GET_ITEM(batch, i)
            raw = NULL
            if type(<object>src) is self._cls and _get(src, self.o_structured) == <PyObject*>self._unset:
                raw = _get(src, self.o_raw)
            _set_item(out, i, None if raw == NULL else <object>raw)
        return out
