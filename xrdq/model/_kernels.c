/* Compiled peak accumulation: the one loop in xrdq that numpy cannot express cheaply.
 *
 * Summing a few hundred windowed peaks onto a grid in numpy means gathering (peak, point) index pairs,
 * evaluating on them and scattering back with bincount: five or six passes over ~200 000 pairs and as many
 * temporary arrays. The same arithmetic as a plain loop touches each pair once. The functions mirror
 * xrdq.model.pattern.accumulate_peaks exactly; the windows and blends are documented there.
 *
 * Why C and not numba (docs/performance.md, "Compiled kernels"): numba cost every process ≈ 0.5 s before
 * the first peak was drawn (its import, then its typing and target contexts when it loads a cached
 * function), most of a fresh `xrdq quantify`. This module loads in well under a millisecond, needs no cache
 * folder, and releases the GIL while it computes (threaded dask workers fit in parallel).
 *
 * Numerics. Every expression keeps the operation order of the numba kernels it replaced, with no
 * fast-math and no contraction into fused multiply-adds (setup.py: -ffp-contract=off), so results are
 * the same on every CPU. One function differs from those kernels: the Gaussian's exponential is its own
 * vectorisable series (gauss_exp), within 1 ulp of libm's exp. Arrays arrive through the buffer protocol
 * (numpy arrays, C-contiguous, float64 or int64); each function checks kinds and sizes and raises
 * TypeError/ValueError otherwise.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* The Gaussian part is evaluated within ±2.6 FWHM (beyond, < 1e-8 of its peak). */
#define GAUSS_WINDOW_FWHM 2.6
/* The Lorentzian window: ±24 FWHM for every peak (at most ±30° 2θ, never below ±8 FWHM). What a window
 * drops goes to the background, so the fractions are biased by how *unequally* phases lose tails. Against
 * simulated patterns with untruncated tails, ±16 FWHM / ±2° biased the amorphous fraction by +0.3 wt% on
 * average (the sample's broad peaks lost more than the standard's sharp ones). A later cap of ±4° for
 * broad peaks did the same to nanocrystalline phases: a 20 nm phase (FWHM 0.45°) kept only ±9 FWHM and its
 * curved near tail (≈ 4 % of its area) went to the background. On noise-free GSAS-II patterns the cap cost
 * +0.37 wt% amorphous (lazco_nano_a40) and −0.18 (si_ceo2_a15), and changed nothing else (docs/method.md). */
#define TAIL_SPAN_DEG 30.0
#define WINDOW_FWHM 24.0

/* The point loops are compiled twice, for AVX2 and for any x86-64, and the CPU picks at load time (GCC's and
 * clang's function multi-versioning, where the platform has ifunc): numba compiled for the host CPU, and with
 * SSE2 alone the loops ran ≈ 40 % slower. Same IEEE operations per point in both (no contraction), so the
 * same numbers. Elsewhere (musl has no ifunc, other CPUs and systems) the portable build only. The helpers
 * are inlined into each version. */
#if defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) && \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 7))
#define MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define MULTIVERSION
#endif
#if defined(__GNUC__) || defined(__clang__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

static double LN2, G_NORM, L_NORM;

/* Python's min/max of two floats (numba's too): the second argument only if strictly smaller/larger. */
INLINE double fmin2(double a, double b) { return b < a ? b : a; }
INLINE double fmax2(double a, double b) { return b > a ? b : a; }

/* numpy's searchsorted(a, v, side="left") on a sorted float array: NaN sorts last. A 2θ grid is nearly always
 * uniform, so the answer is first guessed by interpolation between the ends and confirmed (a[i−1] < v ≤ a[i]) within
 * a few steps; otherwise, and for NaN, by bisection. Either way the same index. A bisection's dozen unpredictable
 * branches per call were ≈ 10 % of the kernels' time: a peak takes ten or more windows, an FCJ node two. */
INLINE Py_ssize_t search(const double *a, Py_ssize_t n, double v)
{
    if (n > 2 && v == v && a[n - 1] > a[0]) { /* the ends ordered (false if either is NaN) */
        if (!(a[0] < v))
            return 0;
        if (a[n - 1] < v)
            return n;
        /* here a[0] < v ≤ a[n−1], so the answer i is in [1, n − 1] and has a[i − 1] < v ≤ a[i] */
        double g = (v - a[0]) / (a[n - 1] - a[0]) * (double)(n - 1);
        Py_ssize_t i = !(g >= 1.0) ? 1 : !(g <= (double)(n - 1)) ? n - 1 : (Py_ssize_t)g; /* NaN (an infinite end): 1 */
        for (int step = 0; step < 4; step++) {
            if (a[i - 1] >= v)
                i--;
            else if (a[i] < v)
                i++;
            else
                return i;
        }
    }
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + ((hi - lo) >> 1);
        double m = a[mid];
        if (m < v || (v != v && m == m))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* e^y for the Gaussian's y = −4 ln2 x² ≤ 0, in arithmetic the point loops vectorise (libm's exp is a call per
 * point: ≈ 2/3 of the value kernel). y = n ln2 + r with |r| ≤ ln2/2 (ln2 in two parts, so n ln2 is exact), e^r by
 * its Taylor series to r¹³ (truncation < 1e-17 relative), 2ⁿ put into the exponent bits. Within 1 ulp of libm's
 * exp (tests/model/test_kernels.py), and the same on every CPU: plain IEEE operations, no contraction. Below
 * y = −700 (e^y < 1e-304) the argument is held there. */
INLINE double gauss_exp(double y)
{
    const double magic = 6755399441055744.0; /* 1.5·2⁵²: adding it rounds to an integer, kept in the low bits */
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    y = fmax2(y, -700.0);
    double t = y * 1.44269504088896338700e+00 + magic;
    double n = t - magic;
    double r = (y - n * ln2_hi) - n * ln2_lo;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t bits, tb, mb;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&mb, &magic, sizeof mb);
    bits = (tb - mb + 1023) << 52; /* 2ⁿ, n = tb − mb ∈ [−1010, 0] */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* 1 for t ≤ 0, 0 for t ≥ 1, 1 − t²(3 − 2t) between. Written without branches (the clamped t gives exactly
 * 1 and 0 at the ends) so that the point loops calling it vectorise. */
INLINE double smoothstep_down(double t)
{
    double c = fmin2(fmax2(t, 0.0), 1.0);
    return 1.0 - c * c * (3.0 - 2.0 * c);
}

/* d/dt of smoothstep_down (a select, not a branch). */
INLINE double smoothstep_slope(double t)
{
    return (t > 0.0 && t < 1.0) ? -6.0 * t * (1.0 - t) : 0.0;
}

/* Half-width of the Lorentzian window in FWHM: 24, shrinking only for peaks so broad (≳ 1.25°) that the
 * tail would span more than ±30° 2θ, never below 8 FWHM. */
INLINE double tail_window(double f)
{
    double h = TAIL_SPAN_DEG / f;
    return fmin2(fmax2(h, 8.0), WINDOW_FWHM);
}

/* A peak's FCJ nodes are summed within `core` of its centroid c and faded out across `blend` beyond it;
 * tt[lo:hi] is that window (the value and the Jacobian use the same). */
INLINE void core_window(const double *tt, Py_ssize_t n, double c, double spread, double f, double *core,
                               double *blend, Py_ssize_t *lo, Py_ssize_t *hi)
{
    *core = spread + 2.5 * f;
    *blend = 1.5 * f;
    *lo = search(tt, n, c - (*core + *blend));
    *hi = search(tt, n, c + (*core + *blend));
}

/* ---- values ------------------------------------------------------------------------------------------ */

INLINE void gauss(const double *restrict tt, Py_ssize_t n, double *restrict out, double c, double a, double f)
{
    Py_ssize_t lo = search(tt, n, c - GAUSS_WINDOW_FWHM * f);
    Py_ssize_t hi = search(tt, n, c + GAUSS_WINDOW_FWHM * f);
    double norm = G_NORM * a / f;
    double k = -4.0 * LN2;
    double inv = 1.0 / f;
    for (Py_ssize_t i = lo; i < hi; i++) {
        double x = (tt[i] - c) * inv;
        out[i] += norm * gauss_exp(k * x * x);
    }
}

/* s[i] = Σ_j wts[j] / (1 + 4x²), x = (t[i] − pos[j]) / FWHM, node by node over all points, so each point's sum
 * runs over j in order. */
INLINE void node_sum(const double *restrict t, Py_ssize_t m, double *restrict s, const double *restrict pos, const double *restrict wts, int64_t n,
                     double inv)
{
    for (Py_ssize_t i = 0; i < m; i++)
        s[i] = 0.0;
    for (int64_t j = 0; j < n; j++) {
        double pj = pos[j], wj = wts[j];
        for (Py_ssize_t i = 0; i < m; i++) {
            double x = (t[i] - pj) * inv;
            s[i] += wj / (1.0 + 4.0 * x * x);
        }
    }
}

INLINE void lorentz_windowed(const double *restrict tt, double *restrict out, double c, double lnorm, double inv, double h,
                             double core, double blend, Py_ssize_t lo, Py_ssize_t hi)
{
    for (Py_ssize_t i = lo; i < hi; i++) {
        double u = tt[i] - c;
        double x = u * inv;
        double w = smoothstep_down((fabs(x / h) - 0.75) / 0.25);
        if (blend > 0.0)
            w *= 1.0 - smoothstep_down((fabs(u) - core) / blend);
        out[i] += w * lnorm / (1.0 + 4.0 * x * x);
    }
}

/* The point ranges [r0, r1), [r1, r2), [r2, r3) of one side (−1 or +1) of a peak at c whose distances from c are
 * d0 ≤ d1 ≤ d2 ≤ d3 (left-searchsorted, half-open): on the left the order is mirrored. */
INLINE void side_ranges(const double *tt, Py_ssize_t n, double c, int side, double d0, double d1, double d2, double d3,
                        Py_ssize_t r[4])
{
    if (side > 0) {
        r[0] = search(tt, n, c + d0);
        r[1] = search(tt, n, c + d1);
        r[2] = search(tt, n, c + d2);
        r[3] = search(tt, n, c + d3);
    } else {
        r[0] = search(tt, n, c - d3);
        r[1] = search(tt, n, c - d2);
        r[2] = search(tt, n, c - d1);
        r[3] = search(tt, n, c - d0);
    }
}

/* lnorm / (1 + 4x²) on near ≤ |2θ − c| < far (both sides), times the window factors: the complement of the
 * core blend (blend > 0) and the taper over the outer quarter. The windows are evaluated only where they
 * act; between them the loop is the plain Lorentzian. */
INLINE void lorentz_value(const double *restrict tt, Py_ssize_t n, double *restrict out, double c, double lnorm, double inv, double h,
                          double near, double far, double core, double blend)
{
    double edge = 0.75 * h / inv; /* taper starts */
    double inner_edge = blend > 0.0 ? core + blend : near;
    for (int side = -1; side <= 1; side += 2) {
        /* point ranges: [a0, a1) window, [a1, a2) plain, [a2, a3) window; mirrored on the left */
        Py_ssize_t a[4];
        side_ranges(tt, n, c, side, near, fmin2(fmax2(inner_edge, near), far),
                    fmin2(fmax2(fmax2(edge, inner_edge), near), far), far, a);
        lorentz_windowed(tt, out, c, lnorm, inv, h, core, blend, a[0], a[1]);
        for (Py_ssize_t i = a[1]; i < a[2]; i++) {
            double x = (tt[i] - c) * inv;
            out[i] += lnorm / (1.0 + 4.0 * x * x);
        }
        lorentz_windowed(tt, out, c, lnorm, inv, h, core, blend, a[2], a[3]);
    }
}

/* ---- Jacobian ---------------------------------------------------------------------------------------- */

/* Chain rule for one peak over its window, ∂y/∂θ = Σ_q ∂y/∂q · ∂q/∂θ, then clear the scratch. */
INLINE void flush(double *restrict g, Py_ssize_t n, double *restrict jac, Py_ssize_t n_par, const double *restrict dk, Py_ssize_t lo,
                  Py_ssize_t hi)
{
    double *restrict g0 = g, *restrict g1 = g + n, *restrict g2 = g + 2 * n, *restrict g3 = g + 3 * n;
    for (Py_ssize_t p = 0; p < n_par; p++) {
        double d0 = dk[p], d1 = dk[n_par + p], d2 = dk[2 * n_par + p], d3 = dk[3 * n_par + p];
        double *restrict row = jac + p * n;
        /* A width parameter moves neither centre nor area (d0 = d1 = 0 exactly), a texture or B one only the area:
         * their terms are left out, which changes nothing but the sign of an exact zero. */
        if (d0 == 0.0 && d1 == 0.0) {
            if (d2 == 0.0 && d3 == 0.0)
                continue;
            for (Py_ssize_t i = lo; i < hi; i++)
                row[i] += g2[i] * d2 + g3[i] * d3;
        } else if (d2 == 0.0 && d3 == 0.0) {
            for (Py_ssize_t i = lo; i < hi; i++)
                row[i] += g0[i] * d0 + g1[i] * d1;
        } else {
            for (Py_ssize_t i = lo; i < hi; i++)
                row[i] += g0[i] * d0 + g1[i] * d1 + g2[i] * d2 + g3[i] * d3;
        }
    }
    for (Py_ssize_t i = lo; i < hi; i++) {
        g0[i] = 0.0;
        g1[i] = 0.0;
        g2[i] = 0.0;
        g3[i] = 0.0;
    }
}

/* One Gaussian node of weight w at c (∂c/∂centre = dc, ∂w/∂centre = dw). */
INLINE void gauss_jacobian(const double *restrict tt, Py_ssize_t n, double *restrict out, double *restrict grad, double c, double dc, double a,
                           double e, double w, double dw, double f)
{
    Py_ssize_t lo = search(tt, n, c - GAUSS_WINDOW_FWHM * f);
    Py_ssize_t hi = search(tt, n, c + GAUSS_WINDOW_FWHM * f);
    double inv = 1.0 / f;
    double k = -4.0 * LN2;
    double k8 = 8.0 * LN2;
    double norm = G_NORM * inv;
    double ag = a * (1.0 - e);
    double *restrict g0 = grad, *restrict g1 = grad + n, *restrict g2 = grad + 2 * n, *restrict g3 = grad + 3 * n;
    for (Py_ssize_t i = lo; i < hi; i++) {
        double x = (tt[i] - c) * inv;
        double g = norm * gauss_exp(k * x * x); /* unit-area shape */
        double wg = w * g;
        double val = ag * wg;
        out[i] += val;
        g0[i] += ag * (dw * g + wg * k8 * x * inv * dc);
        g1[i] += (1.0 - e) * wg;
        g2[i] += val * inv * (k8 * x * x - 1.0);
        g3[i] -= a * wg;
    }
}

/* The centroid Lorentzian on points lo:hi, tapered at ±h FWHM and, when blend > 0, only the complement of the
 * core blend. dc, dcore: ∂centroid/∂centre and ∂core/∂centre. The window factors are differentiated too:
 * moving or widening a sharp peak moves its taper. */
INLINE void lorentz_jacobian(const double *restrict tt, Py_ssize_t n, double *restrict out, double *restrict grad, double c, double dc, double a,
                             double e, double f, double h, Py_ssize_t lo, Py_ssize_t hi, double core, double dcore,
                             double blend)
{
    double inv = 1.0 / f;
    double inv_h = 1.0 / h;
    double clipped = h != TAIL_SPAN_DEG * inv ? 1.0 : 0.0; /* h = span/FWHM makes the taper width-free */
    double inv_b = blend > 0.0 ? 1.0 / blend : 0.0;
    double ae = a * e;
    double *restrict g0 = grad, *restrict g1 = grad + n, *restrict g2 = grad + 2 * n, *restrict g3 = grad + 3 * n;
    for (Py_ssize_t i = lo; i < hi; i++) {
        double u = tt[i] - c;
        double x = u * inv;
        double ax = fabs(x);
        double sgn = u >= 0.0 ? 1.0 : -1.0;
        /* the branches of the window are selects, so that the loop vectorises: each value is the one the
         * branch would give (smoothstep_down is 1 where the taper does not act) */
        double st = (ax * inv_h - 0.75) * 4.0; /* > 0 in the outer quarter: the taper */
        double slope_t = smoothstep_slope(st) * 4.0;
        double win = smoothstep_down(st);
        double dwin_c = st > 0.0 ? slope_t * (-sgn * inv * inv_h) * dc : 0.0;
        double dwin_f = st > 0.0 ? slope_t * (-clipped * ax * inv_h * inv) : 0.0;
        if (blend > 0.0) {
            double sb = (fabs(u) - core) * inv_b; /* < 1 inside the blend: the core's complement */
            double out_b = 1.0 - smoothstep_down(sb);
            double slope = -smoothstep_slope(sb);
            double bc = dwin_c * out_b + win * slope * (-sgn * dc - dcore) * inv_b;
            double bf = dwin_f * out_b + win * slope * (-(2.5 / 1.5 + sb) * inv);
            int in = sb < 1.0;
            dwin_c = in ? bc : dwin_c;
            dwin_f = in ? bf : dwin_f;
            win = in ? win * out_b : win;
        }
        double r = 1.0 / (1.0 + 4.0 * x * x);
        double lor = L_NORM * inv * r; /* unit-area Lorentzian */
        double shape = win * lor;
        double val = ae * shape;
        out[i] += val;
        g0[i] += ae * (shape * 8.0 * x * inv * r * dc + lor * dwin_c);
        g1[i] += e * shape;
        g2[i] += ae * (shape * inv * (8.0 * x * x * r - 1.0) + lor * dwin_f);
        g3[i] += a * shape;
    }
}

/* The centroid Lorentzian where no window factor acts (between the core blend and the taper): the same
 * arithmetic as lorentz_jacobian with the window at 1, branch-free. */
INLINE void lorentz_plain(const double *restrict tt, Py_ssize_t n, double *restrict out, double *restrict grad, double c, double dc, double a,
                          double e, double f, Py_ssize_t lo, Py_ssize_t hi)
{
    double inv = 1.0 / f;
    double ae = a * e;
    double k = L_NORM * inv;
    double *restrict g0 = grad, *restrict g1 = grad + n, *restrict g2 = grad + 2 * n, *restrict g3 = grad + 3 * n;
    for (Py_ssize_t i = lo; i < hi; i++) {
        double x = (tt[i] - c) * inv;
        double r = 1.0 / (1.0 + 4.0 * x * x);
        double lor = k * r;
        double val = ae * lor;
        out[i] += val;
        g0[i] += val * 8.0 * x * inv * r * dc;
        g1[i] += e * lor;
        g2[i] += val * inv * (8.0 * x * x * r - 1.0);
        g3[i] += a * lor;
    }
}

/* Points with near ≤ |2θ − c| < far on one side (−1 or +1): the window factors only where they act (blend just
 * outside the core, taper in the outer quarter), the plain Lorentzian between. */
INLINE void lorentz_tail(const double *restrict tt, Py_ssize_t n, double *restrict out, double *restrict grad, double c, double dc, double a,
                         double e, double f, double h, double near, double far, double core, double dcore,
                         double blend, int side)
{
    double plain_lo = fmax2(near, blend > 0.0 ? core + blend : near);
    double plain_hi = 0.75 * h * f;
    if (plain_hi <= plain_lo) {
        if (side > 0)
            lorentz_jacobian(tt, n, out, grad, c, dc, a, e, f, h, search(tt, n, c + near), search(tt, n, c + far),
                             core, dcore, blend);
        else
            lorentz_jacobian(tt, n, out, grad, c, dc, a, e, f, h, search(tt, n, c - far), search(tt, n, c - near),
                             core, dcore, blend);
        return;
    }
    Py_ssize_t r[4];
    side_ranges(tt, n, c, side, near, plain_lo, plain_hi, far, r);
    lorentz_jacobian(tt, n, out, grad, c, dc, a, e, f, h, r[0], r[1], core, dcore, blend);
    lorentz_plain(tt, n, out, grad, c, dc, a, e, f, r[1], r[2]);
    lorentz_jacobian(tt, n, out, grad, c, dc, a, e, f, h, r[2], r[3], core, dcore, blend);
}

/* node_sum with the sums the Jacobian needs: Σ w r, Σ (∂w r + w ∂r/∂centre), Σ w ∂r/∂FWHM·FWHM
 * (r = 1/(1 + 4x²); the caller scales them), node by node over all points. */
INLINE void node_sums(const double *restrict t, Py_ssize_t m, double *restrict s, double *restrict sc, double *restrict sf, const double *restrict pos,
                      const double *restrict wts, const double *restrict dpos, const double *restrict dwts, int64_t n, double inv)
{
    for (Py_ssize_t i = 0; i < m; i++) {
        s[i] = 0.0;
        sc[i] = 0.0;
        sf[i] = 0.0;
    }
    for (int64_t j = 0; j < n; j++) {
        double pj = pos[j], wj = wts[j], dpj = dpos[j], dwj = dwts[j];
        for (Py_ssize_t i = 0; i < m; i++) {
            double x = (t[i] - pj) * inv;
            double r = 1.0 / (1.0 + 4.0 * x * x);
            double wl = wj * r;
            s[i] += wl;
            sc[i] += dwj * r + wl * 8.0 * x * inv * r * dpj;
            sf[i] += wl * (8.0 * x * x * r - 1.0);
        }
    }
}

/* ---- argument handling -------------------------------------------------------------------------------- */

typedef struct {
    Py_buffer view;
    int held;
} Arg;

/* A C-contiguous float64 ('d') or int64 array of `ndim` dimensions from `obj`; writable if asked. */
static int get_array(PyObject *obj, Arg *arg, const char *name, int ndim, int is_int, int writable)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &arg->view, flags) < 0) {
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous%s numpy array", name, writable ? " writable" : "");
        return -1;
    }
    arg->held = 1;
    const char *fmt = arg->view.format ? arg->view.format : "B";
    if (*fmt == '<' || *fmt == '=' || *fmt == '@')
        fmt++;
    int ok = is_int ? (arg->view.itemsize == 8 && (strcmp(fmt, "q") == 0 || strcmp(fmt, "l") == 0))
                    : (arg->view.itemsize == 8 && strcmp(fmt, "d") == 0);
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s: expected %s, got buffer format '%s'", name, is_int ? "int64" : "float64",
                     arg->view.format ? arg->view.format : "B");
        return -1;
    }
    if (arg->view.ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s: expected %d dimension(s), got %d", name, ndim, arg->view.ndim);
        return -1;
    }
    return 0;
}

static void release(Arg *args, int n)
{
    for (int i = 0; i < n; i++)
        if (args[i].held)
            PyBuffer_Release(&args[i].view);
}

#define LEN(a, d) ((a).view.shape[(d)])
#define DBL(a) ((double *)(a).view.buf)
#define INT(a) ((int64_t *)(a).view.buf)

/* Every peak's node count must fit its row of the node table, and every per-peak array hold every peak. */
static int check_peaks(Arg *pos, Arg *wts, Arg *n_nodes, Py_ssize_t n_peaks, Arg **per_peak, int n_per_peak,
                       const char *fn)
{
    if (LEN(*pos, 0) < n_peaks || LEN(*wts, 0) < n_peaks || LEN(*n_nodes, 0) < n_peaks ||
        LEN(*wts, 1) != LEN(*pos, 1)) {
        PyErr_Format(PyExc_ValueError, "%s: the node tables (pos, wts, n_nodes) do not cover the %zd peaks", fn, n_peaks);
        return -1;
    }
    for (int i = 0; i < n_per_peak; i++)
        if (LEN(*per_peak[i], 0) < n_peaks) {
            PyErr_Format(PyExc_ValueError, "%s: a per-peak array is shorter than the %zd peaks", fn, n_peaks);
            return -1;
        }
    for (Py_ssize_t k = 0; k < n_peaks; k++)
        if (INT(*n_nodes)[k] > LEN(*pos, 1)) {
            PyErr_Format(PyExc_ValueError, "%s: peak %zd has %lld nodes, its row holds %zd", fn, k,
                         (long long)INT(*n_nodes)[k], LEN(*pos, 1));
            return -1;
        }
    return 0;
}

/* ---- exported functions ------------------------------------------------------------------------------- */

/* The loop of accumulate (documented there), apart so that it is compiled per instruction set. */
static MULTIVERSION void accumulate_loop(const double *restrict tt, Py_ssize_t n, const double *restrict pos,
                                        const double *restrict wts, Py_ssize_t width, const int64_t *restrict n_nodes,
                                        const double *restrict cen, const double *restrict spread,
                                        const double *restrict areas, const double *restrict fwhm,
                                        const double *restrict eta, Py_ssize_t n_peaks, double span_deg,
                                        double window_fwhm, double *restrict out, double *restrict scratch)
{
    for (Py_ssize_t k = 0; k < n_peaks; k++) {
        double f = fwhm[k];
        double a_l = areas[k] * eta[k];
        double a_g = areas[k] - a_l;
        double c = cen[k];
        double h = fmin2(fmax2(span_deg / f, 8.0), window_fwhm);
        double inv = 1.0 / f;
        double lnorm = L_NORM * a_l * inv;
        if (n_nodes[k] <= 1) {
            if (a_l != 0.0)
                lorentz_value(tt, n, out, c, lnorm, inv, h, 0.0, h * f, 0.0, 0.0);
            if (a_g != 0.0)
                gauss(tt, n, out, c, a_g, f);
            continue;
        }
        int64_t nk = n_nodes[k];
        const double *pk = pos + k * width, *wk = wts + k * width;
        if (a_g != 0.0)
            for (int64_t j = 0; j < nk; j++)
                gauss(tt, n, out, pk[j], a_g * wk[j], f);
        if (a_l == 0.0)
            continue;
        /* every node inside the core (+ blend), weighted down across the blend */
        double core, blend;
        Py_ssize_t lo, hi;
        core_window(tt, n, c, spread[k], f, &core, &blend, &lo, &hi);
        const double *t = tt + lo;
        double *ok = out + lo;
        Py_ssize_t m = hi > lo ? hi - lo : 0;
        node_sum(t, m, scratch, pk, wk, nk, inv);
        for (Py_ssize_t i = 0; i < m; i++) {
            double inner = smoothstep_down((fabs(t[i] - c) - core) / blend);
            ok[i] += inner * scratch[i] * lnorm;
        }
        /* one Lorentzian at the centroid carries the far tail, the complement of the blend */
        lorentz_value(tt, n, out, c, lnorm, inv, h, core, h * f, core, blend);
    }
}

PyDoc_STRVAR(accumulate_doc,
"accumulate(tt, pos, wts, n_nodes, cen, spread, areas, fwhm, eta, out, span_deg, window_fwhm)\n--\n\n"
"Add every peak to ``out`` (len(tt)).\n\n"
"Per peak k: ``pos[k, :n_nodes[k]]``/``wts[k, :]`` are its FCJ nodes, ``cen[k]`` their centroid and ``spread[k]``\n"
"their largest distance from it. A peak with one node is a plain pseudo-Voigt at ``cen``. ``span_deg``/\n"
"``window_fwhm`` set the Lorentzian window (huge values: untruncated tails, for simulation).");

static PyObject *accumulate(PyObject *self, PyObject *args)
{
    PyObject *o[10];
    double span_deg, window_fwhm;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOdd:accumulate", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7],
                          &o[8], &o[9], &span_deg, &window_fwhm))
        return NULL;
    Arg a[10];
    memset(a, 0, sizeof a);
    enum { TT, POS, WTS, NN, CEN, SPREAD, AREAS, FWHM, ETA, OUT };
    static const char *names[10] = {"tt", "pos", "wts", "n_nodes", "cen", "spread", "areas", "fwhm", "eta", "out"};
    static const int ndims[10] = {1, 2, 2, 1, 1, 1, 1, 1, 1, 1};
    for (int i = 0; i < 10; i++)
        if (get_array(o[i], &a[i], names[i], ndims[i], i == NN, i == OUT) < 0)
            goto fail;
    Py_ssize_t n = LEN(a[TT], 0), n_peaks = LEN(a[CEN], 0);
    Arg *per_peak[] = {&a[SPREAD], &a[AREAS], &a[FWHM], &a[ETA]};
    if (LEN(a[OUT], 0) != n) {
        PyErr_SetString(PyExc_ValueError, "accumulate: out must have the length of tt");
        goto fail;
    }
    if (check_peaks(&a[POS], &a[WTS], &a[NN], n_peaks, per_peak, 4, "accumulate") < 0)
        goto fail;
    double *scratch = malloc((n > 0 ? n : 1) * sizeof(double));
    if (!scratch) {
        PyErr_NoMemory();
        goto fail;
    }
    const double *tt = DBL(a[TT]), *pos = DBL(a[POS]), *wts = DBL(a[WTS]), *cen = DBL(a[CEN]);
    const double *spread = DBL(a[SPREAD]), *areas = DBL(a[AREAS]), *fwhm = DBL(a[FWHM]), *eta = DBL(a[ETA]);
    const int64_t *n_nodes = INT(a[NN]);
    double *out = DBL(a[OUT]);
    Py_ssize_t width = LEN(a[POS], 1);
    Py_BEGIN_ALLOW_THREADS
    accumulate_loop(tt, n, pos, wts, width, n_nodes, cen, spread, areas, fwhm, eta, n_peaks, span_deg,
                    window_fwhm, out, scratch);
    Py_END_ALLOW_THREADS
    free(scratch);
    release(a, 10);
    Py_RETURN_NONE;
fail:
    release(a, 10);
    return NULL;
}

/* The loop of accumulate_jacobian (documented there), apart so that it is compiled per instruction set. */
static MULTIVERSION void jacobian_loop(const double *restrict tt, Py_ssize_t n, const double *restrict pos,
                                      const double *restrict wts, const double *restrict dpos,
                                      const double *restrict dwts, Py_ssize_t width, const int64_t *restrict n_nodes,
                                      const double *restrict cen, const double *restrict dcen,
                                      const double *restrict spread, const double *restrict dspread,
                                      const double *restrict areas, const double *restrict fwhm,
                                      const double *restrict eta, const double *restrict dpeak, Py_ssize_t n_peaks,
                                      Py_ssize_t n_par, double *restrict out, double *restrict jac,
                                      double *restrict grad, double *restrict sums, Py_ssize_t m_alloc)
{
    for (Py_ssize_t k = 0; k < n_peaks; k++) {
        double f = fwhm[k];
        double ak = areas[k];
        double e = eta[k];
        double c = cen[k];
        const double *dk = dpeak + k * 4 * n_par;
        double h = tail_window(f);
        double inv = 1.0 / f;
        if (n_nodes[k] <= 1) {
            Py_ssize_t lo = search(tt, n, c - h * f);
            Py_ssize_t hi = search(tt, n, c + h * f);
            /* the taper's windows, then the plain core: the same points as one pass over [lo, hi) */
            Py_ssize_t i1 = search(tt, n, c - 0.75 * h * f);
            Py_ssize_t i2 = search(tt, n, c + 0.75 * h * f);
            lorentz_jacobian(tt, n, out, grad, c, dcen[k], ak, e, f, h, lo, i1, 0.0, 0.0, 0.0);
            lorentz_plain(tt, n, out, grad, c, dcen[k], ak, e, f, i1, i2);
            lorentz_jacobian(tt, n, out, grad, c, dcen[k], ak, e, f, h, i2, hi, 0.0, 0.0, 0.0);
            gauss_jacobian(tt, n, out, grad, c, dcen[k], ak, e, 1.0, 0.0, f);
            flush(grad, n, jac, n_par, dk, lo, hi); /* the Lorentzian window holds the Gaussian's (h ≥ 8) */
            continue;
        }
        int64_t nk = n_nodes[k];
        const double *pk = pos + k * width, *wk = wts + k * width;
        const double *dpk = dpos + k * width, *dwk = dwts + k * width;
        for (int64_t j = 0; j < nk; j++)
            gauss_jacobian(tt, n, out, grad, pk[j], dpk[j], ak, e, wk[j], dwk[j], f);
        double core, blend;
        Py_ssize_t lo, hi;
        core_window(tt, n, c, spread[k], f, &core, &blend, &lo, &hi);
        Py_ssize_t m = hi > lo ? hi - lo : 0;
        const double *t = tt + lo;
        double *ok = out + lo;
        double *restrict g0 = grad + lo, *restrict g1 = grad + n + lo, *restrict g2 = grad + 2 * n + lo;
        double *restrict g3 = grad + 3 * n + lo;
        double *restrict ss = sums, *restrict ssc = sums + m_alloc, *restrict ssf = sums + 2 * m_alloc;
        node_sums(t, m, ss, ssc, ssf, pk, wk, dpk, dwk, nk, inv);
        for (Py_ssize_t i = 0; i < m; i++) {
            double sgn = t[i] >= c ? 1.0 : -1.0;
            double sb = (fabs(t[i] - c) - core) / blend;
            double inner = smoothstep_down(sb);
            double slope = smoothstep_slope(sb);
            double s = ss[i] * (L_NORM * inv);
            double sc = ssc[i] * (L_NORM * inv);
            double sf = ssf[i] * (L_NORM * inv * inv);
            double val = inner * ak * e * s;
            ok[i] += val;
            g0[i] += ak * e * (inner * sc + s * slope * (-sgn * dcen[k] - dspread[k]) / blend);
            g1[i] += inner * e * s;
            g2[i] += ak * e * (inner * sf + s * slope * (-(2.5 / 1.5 + sb) * inv));
            g3[i] += inner * ak * s;
        }
        double far = h * f;
        lorentz_tail(tt, n, out, grad, c, dcen[k], ak, e, f, h, core, far, core, dspread[k], blend, -1);
        lorentz_tail(tt, n, out, grad, c, dcen[k], ak, e, f, h, core, far, core, dspread[k], blend, 1);
        double first = pk[0], last = pk[0];
        for (int64_t j = 0; j < nk; j++) {
            first = fmin2(first, pk[j]);
            last = fmax2(last, pk[j]);
        }
        Py_ssize_t flo = search(tt, n, fmin2(fmin2(c - far, c - core - blend), first - GAUSS_WINDOW_FWHM * f));
        Py_ssize_t fhi = search(tt, n, fmax2(fmax2(c + far, c + core + blend), last + GAUSS_WINDOW_FWHM * f));
        flush(grad, n, jac, n_par, dk, flo, fhi);
    }
}

PyDoc_STRVAR(accumulate_jacobian_doc,
"accumulate_jacobian(tt, pos, wts, dpos, dwts, n_nodes, cen, dcen, spread, dspread, areas, fwhm, eta, dpeak, out, jac)\n"
"--\n\n"
"``accumulate`` plus ∂y/∂θ for parameters θ that act through the peak list.\n\n"
"``dpeak[k, :, p]`` are ∂(centre, area, FWHM, η)_k / ∂θ_p; ``dpos``/``dwts``/``dcen``/``dspread`` the derivatives\n"
"of the FCJ nodes, weights, centroid and spread with respect to the peak centre. Only the Gaussian's cut at\n"
"±2.6 FWHM (a step of 1e-8 of the peak) is not differentiated. ``jac`` is (n_par, n_points).");

static PyObject *accumulate_jacobian(PyObject *self, PyObject *args)
{
    PyObject *o[16];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOO:accumulate_jacobian", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5],
                          &o[6], &o[7], &o[8], &o[9], &o[10], &o[11], &o[12], &o[13], &o[14], &o[15]))
        return NULL;
    Arg a[16];
    memset(a, 0, sizeof a);
    enum { TT, POS, WTS, DPOS, DWTS, NN, CEN, DCEN, SPREAD, DSPREAD, AREAS, FWHM, ETA, DPEAK, OUT, JAC };
    static const char *names[16] = {"tt", "pos", "wts", "dpos", "dwts", "n_nodes", "cen", "dcen", "spread",
                                    "dspread", "areas", "fwhm", "eta", "dpeak", "out", "jac"};
    static const int ndims[16] = {1, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 2};
    for (int i = 0; i < 16; i++)
        if (get_array(o[i], &a[i], names[i], ndims[i], i == NN, i == OUT || i == JAC) < 0)
            goto fail;
    Py_ssize_t n = LEN(a[TT], 0), n_peaks = LEN(a[CEN], 0), n_par = LEN(a[JAC], 0);
    Arg *per_peak[] = {&a[DCEN], &a[SPREAD], &a[DSPREAD], &a[AREAS], &a[FWHM], &a[ETA], &a[DPEAK], &a[DPOS], &a[DWTS]};
    if (LEN(a[OUT], 0) != n || LEN(a[JAC], 1) != n) {
        PyErr_SetString(PyExc_ValueError, "accumulate_jacobian: out and jac's rows must have the length of tt");
        goto fail;
    }
    if (LEN(a[DPEAK], 1) != 4 || LEN(a[DPEAK], 2) != n_par) {
        PyErr_SetString(PyExc_ValueError, "accumulate_jacobian: dpeak must be (n_peaks, 4, n_par) with jac (n_par, n)");
        goto fail;
    }
    if (LEN(a[DPOS], 1) != LEN(a[POS], 1) || LEN(a[DWTS], 1) != LEN(a[POS], 1)) {
        PyErr_SetString(PyExc_ValueError, "accumulate_jacobian: dpos and dwts must have the shape of pos");
        goto fail;
    }
    if (check_peaks(&a[POS], &a[WTS], &a[NN], n_peaks, per_peak, 9, "accumulate_jacobian") < 0)
        goto fail;
    Py_ssize_t m_alloc = n > 0 ? n : 1;
    double *grad = calloc(4 * m_alloc, sizeof(double));
    double *sums = malloc(3 * m_alloc * sizeof(double));
    if (!grad || !sums) {
        free(grad);
        free(sums);
        PyErr_NoMemory();
        goto fail;
    }
    const double *tt = DBL(a[TT]), *pos = DBL(a[POS]), *wts = DBL(a[WTS]), *dpos = DBL(a[DPOS]);
    const double *dwts = DBL(a[DWTS]), *cen = DBL(a[CEN]), *dcen = DBL(a[DCEN]), *spread = DBL(a[SPREAD]);
    const double *dspread = DBL(a[DSPREAD]), *areas = DBL(a[AREAS]), *fwhm = DBL(a[FWHM]), *eta = DBL(a[ETA]);
    const double *dpeak = DBL(a[DPEAK]);
    const int64_t *n_nodes = INT(a[NN]);
    double *out = DBL(a[OUT]), *jac = DBL(a[JAC]);
    Py_ssize_t width = LEN(a[POS], 1);
    Py_BEGIN_ALLOW_THREADS
    jacobian_loop(tt, n, pos, wts, dpos, dwts, width, n_nodes, cen, dcen, spread, dspread, areas, fwhm, eta,
                  dpeak, n_peaks, n_par, out, jac, grad, sums, m_alloc);
    Py_END_ALLOW_THREADS
    free(grad);
    free(sums);
    release(a, 16);
    Py_RETURN_NONE;
fail:
    release(a, 16);
    return NULL;
}

/* Largest distance of a peak's m nodes from their centroid c. */
static double node_spread(const double *pos, int64_t m, double c)
{
    double far = 0.0;
    for (int64_t j = 0; j < m; j++)
        far = fmax2(far, fabs(pos[j] - c));
    return far;
}

PyDoc_STRVAR(fcj_node_table_doc,
"fcj_node_table(centers, node_counts, s_l, h_l, gl_x, gl_w, pos, wts, n_nodes, cen, spread)\n--\n\n"
"FCJ nodes of every peak (the quadrature of :func:`xrdq.model.profile.fcj_nodes`, peak by peak).\n\n"
"``gl_x[n, :n]``/``gl_w[n, :n]`` are Gauss–Legendre nodes and weights on [0, 1]. Fills ``pos``/``wts``\n"
"(n_peaks × width, zero-padded), ``n_nodes`` (1 for a peak evaluated once at its centroid), ``cen``\n"
"(centroid) and ``spread`` (largest node distance from the centroid).");

static PyObject *fcj_node_table(PyObject *self, PyObject *args)
{
    PyObject *o[11];
    double s_l, h_l;
    if (!PyArg_ParseTuple(args, "OOddOOOOOOO:fcj_node_table", &o[0], &o[1], &s_l, &h_l, &o[4], &o[5], &o[6], &o[7],
                          &o[8], &o[9], &o[10]))
        return NULL;
    Arg a[11];
    memset(a, 0, sizeof a);
    enum { CENTERS, COUNTS, SL, HL, GLX, GLW, POS, WTS, NN, CEN, SPREAD };
    static const char *names[11] = {"centers", "node_counts", "", "", "gl_x", "gl_w", "pos", "wts", "n_nodes", "cen",
                                    "spread"};
    static const int ndims[11] = {1, 1, 0, 0, 2, 2, 2, 2, 1, 1, 1};
    for (int i = 0; i < 11; i++) {
        if (i == SL || i == HL)
            continue;
        if (get_array(o[i], &a[i], names[i], ndims[i], i == COUNTS || i == NN, i >= POS) < 0)
            goto fail;
    }
    Py_ssize_t n_peaks = LEN(a[CENTERS], 0), width = LEN(a[POS], 1), gl_n = LEN(a[GLX], 1);
    if (LEN(a[COUNTS], 0) < n_peaks || LEN(a[POS], 0) < n_peaks || LEN(a[WTS], 0) < n_peaks || LEN(a[WTS], 1) != width ||
        LEN(a[NN], 0) < n_peaks || LEN(a[CEN], 0) < n_peaks || LEN(a[SPREAD], 0) < n_peaks ||
        LEN(a[GLW], 0) != LEN(a[GLX], 0) || LEN(a[GLW], 1) != gl_n) {
        PyErr_SetString(PyExc_ValueError, "fcj_node_table: array sizes do not match the number of peaks");
        goto fail;
    }
    const double *centers = DBL(a[CENTERS]), *gl_x = DBL(a[GLX]), *gl_w = DBL(a[GLW]);
    const int64_t *node_counts = INT(a[COUNTS]);
    for (Py_ssize_t k = 0; k < n_peaks; k++) {
        int64_t nq = node_counts[k] > 2 ? node_counts[k] : 2;
        if (nq >= LEN(a[GLX], 0) || nq > gl_n || 2 * nq > width) {
            PyErr_Format(PyExc_ValueError, "fcj_node_table: peak %zd asks for %lld nodes; the tables hold %zd, a row %zd",
                         k, (long long)node_counts[k], LEN(a[GLX], 0) - 1, width / 2);
            goto fail;
        }
    }
    double *pos = DBL(a[POS]), *wts = DBL(a[WTS]), *cen = DBL(a[CEN]), *spread = DBL(a[SPREAD]);
    int64_t *n_nodes = INT(a[NN]);
    double s = fmax2(s_l, 1e-6);
    double h = fmax2(h_l, 1e-6);
    double hi = s + h;
    double lo = fabs(h - s);
    int flat = lo > 1e-9 * hi; /* S ≠ H: a flat piece [0, lo] with g = 2 min(S, H), then [lo, hi] with g = hi − h */
    int no_asym = s_l <= 0.0 && h_l <= 0.0;
    for (Py_ssize_t k = 0; k < n_peaks; k++) {
        double tt = centers[k];
        double *pk = pos + k * width, *wk = wts + k * width;
        if (no_asym) {
            pk[0] = tt;
            wk[0] = 1.0;
            n_nodes[k] = 1;
            cen[k] = tt;
            spread[k] = 0.0;
            continue;
        }
        int64_t nq = node_counts[k] > 2 ? node_counts[k] : 2;
        int64_t m = flat ? 2 * nq : nq;
        const double *gx = gl_x + nq * gl_n, *gw_row = gl_w + nq * gl_n;
        double c0 = cos(tt * (M_PI / 180.0));
        double total = 0.0;
        for (int64_t j = 0; j < m; j++) {
            double hs, gw;
            if (flat && j < nq) {
                hs = lo * gx[j];
                gw = 2.0 * fmin2(s, h) * lo * gw_row[j];
            } else {
                int64_t jj = flat ? j - nq : j;
                hs = lo + (hi - lo) * gx[jj];
                gw = (hi - hs) * (hi - lo) * gw_row[jj];
            }
            double c = fmin2(fmax2(c0 * sqrt(1.0 + hs * hs), -1.0), 1.0);
            double sin2phi = fmax2(sqrt(1.0 - c * c), 1e-6);
            double w = gw * (c0 * c0) / fmax2(c * c, 1e-12) / sin2phi;
            pk[j] = acos(c) * (180.0 / M_PI);
            wk[j] = w;
            total += w;
        }
        double centroid = 0.0;
        for (int64_t j = 0; j < m; j++) {
            wk[j] = total > 0.0 ? wk[j] / total : 1.0 / (double)m;
            centroid += pk[j] * wk[j];
        }
        cen[k] = centroid;
        if (node_counts[k] <= 1) { /* evaluated once, at the centroid */
            pk[0] = centroid;
            wk[0] = 1.0;
            for (int64_t j = 1; j < m; j++) {
                pk[j] = 0.0;
                wk[j] = 0.0;
            }
            n_nodes[k] = 1;
            spread[k] = 0.0;
        } else {
            n_nodes[k] = m;
            spread[k] = node_spread(pk, m, centroid);
        }
    }
    release(a, 11);
    Py_RETURN_NONE;
fail:
    release(a, 11);
    return NULL;
}

PyDoc_STRVAR(compose_nodes_doc,
"compose_nodes(pos, wts, n_nodes, offsets, weights, counts, out_pos, out_wts, out_n, cen, spread)\n--\n\n"
"Every node of each peak shifted by every one of its ``counts[k]`` aberration offsets (the convolution of\n"
"the two node sets; :func:`xrdq.model.pattern._compose`): fills ``out_pos``/``out_wts`` (node i, offset j at\n"
"i·counts + j), ``out_n``, the centroid ``cen`` and the ``spread`` (0 for one node, which then sits at the\n"
"centroid).");

static PyObject *compose_nodes(PyObject *self, PyObject *args)
{
    PyObject *o[11];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOO:compose_nodes", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7],
                          &o[8], &o[9], &o[10]))
        return NULL;
    Arg a[11];
    memset(a, 0, sizeof a);
    enum { POS, WTS, NN, OFF, OW, COUNTS, OPOS, OWTS, ON, CEN, SPREAD };
    static const char *names[11] = {"pos", "wts", "n_nodes", "offsets", "weights", "counts", "out_pos", "out_wts",
                                    "out_n", "cen", "spread"};
    static const int ndims[11] = {2, 2, 1, 2, 2, 1, 2, 2, 1, 1, 1};
    for (int i = 0; i < 11; i++)
        if (get_array(o[i], &a[i], names[i], ndims[i], i == NN || i == COUNTS || i == ON, i >= OPOS) < 0)
            goto fail;
    Py_ssize_t n_peaks = LEN(a[POS], 0), width = LEN(a[POS], 1), owidth = LEN(a[OFF], 1), out_width = LEN(a[OPOS], 1);
    if (LEN(a[WTS], 0) != n_peaks || LEN(a[WTS], 1) != width || LEN(a[NN], 0) < n_peaks || LEN(a[OFF], 0) < n_peaks ||
        LEN(a[OW], 0) < n_peaks || LEN(a[OW], 1) != owidth || LEN(a[COUNTS], 0) < n_peaks ||
        LEN(a[OPOS], 0) < n_peaks || LEN(a[OWTS], 0) < n_peaks || LEN(a[OWTS], 1) != out_width ||
        LEN(a[ON], 0) < n_peaks || LEN(a[CEN], 0) < n_peaks || LEN(a[SPREAD], 0) < n_peaks) {
        PyErr_SetString(PyExc_ValueError, "compose_nodes: array sizes do not match the number of peaks");
        goto fail;
    }
    const double *pos = DBL(a[POS]), *wts = DBL(a[WTS]), *offsets = DBL(a[OFF]), *weights = DBL(a[OW]);
    const int64_t *n_nodes = INT(a[NN]), *counts = INT(a[COUNTS]);
    for (Py_ssize_t k = 0; k < n_peaks; k++)
        if (n_nodes[k] > width || counts[k] > owidth || n_nodes[k] * counts[k] > out_width || n_nodes[k] < 0 ||
            counts[k] < 0) {
            PyErr_Format(PyExc_ValueError, "compose_nodes: peak %zd's %lld × %lld nodes do not fit the tables", k,
                         (long long)n_nodes[k], (long long)counts[k]);
            goto fail;
        }
    double *out_pos = DBL(a[OPOS]), *out_wts = DBL(a[OWTS]), *cen = DBL(a[CEN]), *spread = DBL(a[SPREAD]);
    int64_t *out_n = INT(a[ON]);
    for (Py_ssize_t k = 0; k < n_peaks; k++) {
        const double *pk = pos + k * width, *wk = wts + k * width;
        const double *ok = offsets + k * owidth, *owk = weights + k * owidth;
        double *opk = out_pos + k * out_width, *owtk = out_wts + k * out_width;
        int64_t m = 0;
        double total = 0.0, first = 0.0;
        for (int64_t i = 0; i < n_nodes[k]; i++)
            for (int64_t j = 0; j < counts[k]; j++) {
                double p = pk[i] + ok[j];
                double w = wk[i] * owk[j];
                opk[m] = p;
                owtk[m] = w;
                total += w;
                first += w * p;
                m++;
            }
        out_n[k] = m;
        double c = total > 0.0 ? first / total : opk[0];
        cen[k] = c;
        if (m <= 1)
            opk[0] = c;
        spread[k] = m > 1 ? node_spread(opk, m, c) : 0.0;
    }
    release(a, 11);
    Py_RETURN_NONE;
fail:
    release(a, 11);
    return NULL;
}

PyDoc_STRVAR(gauss_exp_doc,
"gauss_exp(y, out)\n--\n\n"
"``out`` = e^``y`` as the Gaussian's point loops compute it (arguments ≤ 0; below −700 held there): for the tests\n"
"that hold it within 1 ulp of libm's exp.");

static PyObject *gauss_exp_py(PyObject *self, PyObject *args)
{
    PyObject *o[2];
    if (!PyArg_ParseTuple(args, "OO:gauss_exp", &o[0], &o[1]))
        return NULL;
    Arg a[2];
    memset(a, 0, sizeof a);
    if (get_array(o[0], &a[0], "y", 1, 0, 0) < 0 || get_array(o[1], &a[1], "out", 1, 0, 1) < 0)
        goto fail;
    if (LEN(a[1], 0) != LEN(a[0], 0)) {
        PyErr_SetString(PyExc_ValueError, "gauss_exp: y and out differ in length");
        goto fail;
    }
    const double *y = DBL(a[0]);
    double *out = DBL(a[1]);
    for (Py_ssize_t i = 0; i < LEN(a[0], 0); i++)
        out[i] = gauss_exp(y[i]);
    release(a, 2);
    Py_RETURN_NONE;
fail:
    release(a, 2);
    return NULL;
}

static PyMethodDef methods[] = {
    {"accumulate", accumulate, METH_VARARGS, accumulate_doc},
    {"accumulate_jacobian", accumulate_jacobian, METH_VARARGS, accumulate_jacobian_doc},
    {"fcj_node_table", fcj_node_table, METH_VARARGS, fcj_node_table_doc},
    {"compose_nodes", compose_nodes, METH_VARARGS, compose_nodes_doc},
    {"gauss_exp", gauss_exp_py, METH_VARARGS, gauss_exp_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "Compiled peak accumulation (xrdq/model/_kernels.c): the loops of xrdq.model.pattern.accumulate_peaks.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void)
{
    LN2 = log(2.0);
    G_NORM = 2.0 * sqrt(LN2 / M_PI);
    L_NORM = 2.0 / M_PI;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (PyModule_AddObject(m, "_GAUSS_WINDOW_FWHM", PyFloat_FromDouble(GAUSS_WINDOW_FWHM)) < 0 ||
        PyModule_AddObject(m, "_TAIL_SPAN_DEG", PyFloat_FromDouble(TAIL_SPAN_DEG)) < 0 ||
        PyModule_AddObject(m, "_WINDOW_FWHM", PyFloat_FromDouble(WINDOW_FWHM)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
