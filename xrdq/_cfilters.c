/* A running median in C: the one moving-window filter (xrdq/_filters.py) numpy cannot do in O(n).
 *
 * numpy's median over a sliding-window view partitions a copy of every window: for a 7000-point pattern and
 * a 3° window (301 points) that is 2 million values per call, ≈ 10 % of a whole quantification. Here one
 * sorted copy of the window is kept and updated as it slides (binary search, one memmove per point).
 *
 * Same numbers as numpy: with an odd window the median is the middle value of the sorted window, which
 * np.median returns exactly. The caller (xrdq._filters.moving_median) sends only finite curves here and
 * pads the ends; NaN has no place in a sorted order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

/* First index in the sorted a[0:n] whose value is not below v. */
static Py_ssize_t lower_bound(const double *a, Py_ssize_t n, double v)
{
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void running_median(const double *padded, Py_ssize_t n_out, Py_ssize_t size, double *sorted, double *out)
{
    memcpy(sorted, padded, (size_t)size * sizeof(double));
    /* insertion sort of the first window: one pass, then only slides */
    for (Py_ssize_t i = 1; i < size; i++) {
        double v = sorted[i];
        Py_ssize_t j = i;
        while (j > 0 && sorted[j - 1] > v) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = v;
    }
    Py_ssize_t mid = size / 2;
    out[0] = sorted[mid];
    for (Py_ssize_t k = 1; k < n_out; k++) {
        double gone = padded[k - 1], come = padded[k + size - 1];
        if (gone != come) {
            Py_ssize_t i = lower_bound(sorted, size, gone); /* sorted[i] == gone: it is in the window */
            Py_ssize_t j = lower_bound(sorted, size, come);
            if (j > i) { /* the new value goes above: shift the values between down by one */
                j--;
                memmove(sorted + i, sorted + i + 1, (size_t)(j - i) * sizeof(double));
            } else {
                memmove(sorted + j + 1, sorted + j, (size_t)(i - j) * sizeof(double));
            }
            sorted[j] = come;
        }
        out[k] = sorted[mid];
    }
}

static int get_buffer(PyObject *obj, Py_buffer *view, int writable, const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    if (view->ndim != 1 || view->itemsize != 8 || !view->format || strcmp(view->format, "d") != 0) {
        PyErr_Format(PyExc_TypeError, "moving_median: %s must be a 1-D float64 array", what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(moving_median_doc,
"moving_median(padded, size, out)\n--\n\n"
"``out[k]`` = median of ``padded[k:k + size]`` for every k < len(out) = len(padded) − size + 1; ``size`` odd,\n"
"``padded`` finite.");

static PyObject *moving_median(PyObject *self, PyObject *args)
{
    PyObject *o_in, *o_out;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "OnO:moving_median", &o_in, &size, &o_out))
        return NULL;
    Py_buffer in, out;
    if (get_buffer(o_in, &in, 0, "padded") < 0)
        return NULL;
    if (get_buffer(o_out, &out, 1, "out") < 0) {
        PyBuffer_Release(&in);
        return NULL;
    }
    Py_ssize_t n_in = in.shape[0], n_out = out.shape[0];
    PyObject *result = NULL;
    if (size < 1 || size % 2 == 0 || n_out < 1 || n_in != n_out + size - 1) {
        PyErr_Format(PyExc_ValueError, "moving_median: an odd window and len(padded) = len(out) + size - 1 are "
                     "expected, got size %zd, %zd and %zd points", size, n_in, n_out);
        goto done;
    }
    double *sorted = malloc((size_t)size * sizeof(double));
    if (!sorted) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    running_median((const double *)in.buf, n_out, size, sorted, (double *)out.buf);
    Py_END_ALLOW_THREADS
    free(sorted);
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"moving_median", moving_median, METH_VARARGS, moving_median_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cfilters", "A running median (xrdq/_cfilters.c) for xrdq._filters.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cfilters(void)
{
    return PyModule_Create(&module);
}
