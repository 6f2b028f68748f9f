/* What rvkvm's C extensions share. Each is loaded with ctypes (rvkvm/cpu/native.py)
 * and exports `size_t rvkvm_<name>_layout(size_t *out, size_t n)`: the sizeof and
 * field offsets of the struct it shares with Python, which native.py compares with
 * the ctypes mirror before trusting the build. Its PyInit_ only makes it a valid
 * extension module, so that setuptools builds and installs it. */
#ifndef RVKVM_NATIVE_H
#define RVKVM_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define RVKVM_EXPORT __declspec(dllexport)
#else
#define RVKVM_EXPORT __attribute__((visibility("default")))
#endif

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#endif

/* The body of a layout function: `layout` holds sizeof and the offsets, in the order
 * of the ctypes Structure's fields. Returns how many there are. */
static inline size_t rvkvm_report_layout(size_t *out, size_t n, const size_t *layout,
                                         size_t count)
{
    for (size_t i = 0; i < n && i < count; i++)
        out[i] = layout[i];
    return count;
}

#define RVKVM_LAYOUT_FUNCTION(name, ...)                                        \
    RVKVM_EXPORT size_t name(size_t *out, size_t n)                             \
    {                                                                           \
        const size_t layout[] = {__VA_ARGS__};                                  \
        return rvkvm_report_layout(out, n, layout, sizeof layout / sizeof layout[0]); \
    }

/* An extension module with no Python API of its own. */
#define RVKVM_MODULE(name, doc)                                                 \
    static struct PyModuleDef name##_module = {PyModuleDef_HEAD_INIT, #name, doc, -1, NULL}; \
    PyMODINIT_FUNC PyInit_##name(void) { return PyModule_Create(&name##_module); }

#endif
