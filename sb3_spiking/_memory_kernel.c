/* Sequence kernels of the synaptic and adaptive LIF layers (sb3_spiking.memory_neurons) on CPU
 * (float32, contiguous (T, B, H) arrays). One call runs a whole sequence forward, or its whole
 * backward pass, instead of a few torch kernels per time step. Same operations, in the same order,
 * for the step (T = 1) and the sequence, so deployment equals training on this path. Parameter
 * gradient sums run in float over one step's batch, then in double over time.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bumped with every change of a function's arguments: sb3_spiking._cbuild compares it with the
 * source's and rebuilds a stale installed library instead of calling it with the wrong arguments. */
#define KERNEL_ABI 2
int kernel_abi(void) { return KERNEL_ABI; }

static inline float surrogate(float x, float slope)
{
    float a = fabsf(x) * slope + 1.0f;
    return 1.0f / (a * a);
}

/* The loops over one row's H neurons are functions of their own (not inlined): there the compiler
 * sees rows that do not alias each other and vectorises them (with -fno-trapping-math, which lets it
 * turn the comparisons into masks; the arithmetic and its rounding are unchanged). */
#if defined(__GNUC__)
#define ROW static __attribute__((noinline)) void
#else
#define ROW static void
#endif

ROW syn_row(int64_t H, const float *restrict jp, const float *restrict up, const float *restrict ci,
            const float *restrict alpha, const float *restrict beta, const float *restrict theta,
            float *restrict jo, float *restrict uo, float *restrict so)
{
    for (int64_t h = 0; h < H; ++h) {
        const float r = (float)(up[h] > theta[h]);
        const float j = alpha[h] * jp[h] + ci[h];
        const float u = (beta[h] * up[h] + j) - r * theta[h];
        jo[h] = j;
        uo[h] = u;
        so[h] = (float)(u > theta[h]);
    }
}

/* at t = T-1, gu/gj hold the final-state gradients; later, beta*gU[t+1] / alpha*gJ[t+1] */
ROW syn_back_row(int64_t H, float slope, const float *restrict gso, const float *restrict uo,
                 const float *restrict jp, const float *restrict up, const float *restrict alpha,
                 const float *restrict beta, const float *restrict theta, float *restrict gio, float *restrict gur,
                 float *restrict gjr, float *restrict pa, float *restrict pb, float *restrict pc, float *restrict pd)
{
    for (int64_t h = 0; h < H; ++h) {
        const float direct = gso[h] * surrogate(uo[h] - theta[h], slope);
        const float g_u = direct + gur[h];
        const float g_j = g_u + gjr[h];
        gio[h] = g_j;
        pa[h] += g_j * jp[h];
        pb[h] += g_u * up[h];
        pc[h] += direct;
        pd[h] += up[h] > theta[h] ? g_u : 0.0f;
        gur[h] = beta[h] * g_u;
        gjr[h] = alpha[h] * g_j;
    }
}

ROW alif_row(int64_t H, const float *restrict up, const float *restrict ap, const float *restrict ci,
             const float *restrict rho, const float *restrict bstr, const float *restrict beta,
             const float *restrict theta, float *restrict uo, float *restrict ao, float *restrict so)
{
    for (int64_t h = 0; h < H; ++h) {
        const float a_prev = theta[h] + bstr[h] * ap[h];
        const float p = (float)(up[h] > a_prev);
        const float a = rho[h] * ap[h] + p;
        const float u = (beta[h] * up[h] + ci[h]) - p * a_prev;
        uo[h] = u;
        ao[h] = a;
        so[h] = (float)(u > theta[h] + bstr[h] * a);
    }
}

ROW alif_back_row(int64_t H, float slope, const float *restrict gso, const float *restrict uo,
                  const float *restrict ao, const float *restrict up, const float *restrict ap,
                  const float *restrict rho, const float *restrict bstr, const float *restrict beta,
                  const float *restrict theta, float *restrict gio, float *restrict gur, float *restrict gar,
                  float *restrict pnr, float *restrict pa, float *restrict pb, float *restrict pc, float *restrict pd)
{
    for (int64_t h = 0; h < H; ++h) {
        const float thr = theta[h] + bstr[h] * ao[h];
        const float d = gso[h] * surrogate(uo[h] - thr, slope);
        const float g_u = d + gur[h];
        const float g_thr = -d - pnr[h];            /* A[t]: its spike and the reset of step t+1 */
        const float g_a = bstr[h] * g_thr + gar[h];
        gio[h] = g_u;
        pa[h] += g_a * ap[h];                       /* rho */
        pb[h] += g_thr * ao[h];                     /* b, through A[t] */
        pc[h] += g_u * up[h];                       /* beta */
        pd[h] += g_thr;                             /* theta, through A[t] */
        /* the step's reset used A_prev = theta + b*a[t-1]: its pull is passed back with p[t] */
        const float a_prev = theta[h] + bstr[h] * ap[h];
        const float p = (float)(up[h] > a_prev);
        gur[h] = beta[h] * g_u;
        gar[h] = rho[h] * g_a;
        pnr[h] = p * g_u;
    }
}

ROW rec_row(int64_t H, float *restrict u, const float *restrict mp, const float *restrict beta,
            const float *restrict theta, float *restrict so)
{
    for (int64_t h = 0; h < H; ++h) {
        const float r = (float)(mp[h] > theta[h]);
        float x = u[h] + beta[h] * mp[h];
        x = x - r * theta[h];
        u[h] = x;
        so[h] = (float)(x > theta[h]);
    }
}

ROW rec_back_row(int64_t H, float slope, const float *restrict gs, const float *restrict m, const float *restrict mp,
                 const float *restrict beta, const float *restrict theta, float *restrict carry, float *restrict gu,
                 float *restrict pa, float *restrict pb, float *restrict pc)
{
    for (int64_t h = 0; h < H; ++h) {
        float a = fabsf(m[h] - theta[h]) * slope + 1.0f;
        a = a * a;
        const float direct = gs[h] * (1.0f / a);
        const float g = carry[h] + direct;
        gu[h] = g;
        carry[h] = g * beta[h];
        pa[h] += direct;
        pb[h] += g * mp[h];
        pc[h] += mp[h] > theta[h] ? g : 0.0f;
    }
}

/* Synaptic: r = (U[t-1] > theta); J[t] = alpha*J[t-1] + I[t]; U[t] = beta*U[t-1] + J[t] - r*theta;
 * s[t] = (U[t] > theta). syn0 / mem0: (B, H) initial state; syns / mems / spikes: (T, B, H). */
void syn_forward(int64_t T, int64_t B, int64_t H, const float *cur, const float *syn0, const float *mem0,
                 const float *restrict alpha, const float *restrict beta, const float *restrict theta,
                 float *syns, float *mems, float *spikes)
{
    const int64_t n = B * H;
    for (int64_t t = 0; t < T; ++t) {
        for (int64_t b = 0; b < B; ++b) {
            const int64_t o = t * n + b * H;
            syn_row(H, t ? syns + o - n : syn0 + b * H, t ? mems + o - n : mem0 + b * H, cur + o, alpha, beta, theta,
                    syns + o, mems + o, spikes + o);
        }
    }
}

/* Backward of syn_forward. gs: dL/ds (T, B, H); g_syn / g_mem: dL/d(final J, U) (B, H) or NULL.
 * Writes gi (= dL/dI, (T, B, H)), g_syn0, g_mem0 ((B, H)) and acc (4 x H doubles, zeroed by the
 * caller): alpha, beta, threshold (spike path), threshold (reset path, to be subtracted). */
int syn_backward(int64_t T, int64_t B, int64_t H, const float *gs, const float *syn0, const float *mem0,
                 const float *syns, const float *mems, const float *alpha, const float *beta, const float *theta,
                 float slope, const float *g_syn, const float *g_mem, float *gi, float *g_syn0, float *g_mem0,
                 double *acc)
{
    const int64_t n = B * H;
    float *gu = (float *)calloc((size_t)n, sizeof(float)); /* dL/dU[t+1] carried back, per row */
    float *gj = (float *)calloc((size_t)n, sizeof(float));
    float *part = (float *)malloc(sizeof(float) * 4 * (size_t)H);
    if (!gu || !gj || !part) {
        free(gu);
        free(gj);
        free(part);
        return -1;
    }
    if (g_mem) memcpy(gu, g_mem, sizeof(float) * (size_t)n);
    if (g_syn) memcpy(gj, g_syn, sizeof(float) * (size_t)n);
    for (int64_t t = T - 1; t >= 0; --t) {
        memset(part, 0, sizeof(float) * 4 * (size_t)H);
        for (int64_t b = 0; b < B; ++b) {
            const int64_t o = t * n + b * H, r0 = b * H;
            syn_back_row(H, slope, gs + o, mems + o, t ? syns + o - n : syn0 + r0, t ? mems + o - n : mem0 + r0, alpha,
                         beta, theta, gi + o, gu + r0, gj + r0, part, part + H, part + 2 * H, part + 3 * H);
        }
        for (int64_t i = 0; i < 4 * H; ++i) acc[i] += (double)part[i];
    }
    memcpy(g_mem0, gu, sizeof(float) * (size_t)n);
    memcpy(g_syn0, gj, sizeof(float) * (size_t)n);
    free(gu);
    free(gj);
    free(part);
    return 0;
}

/* Adaptive: A_prev = theta + b*a[t-1]; p = (U[t-1] > A_prev); a[t] = rho*a[t-1] + p;
 * U[t] = beta*U[t-1] + I[t] - p*A_prev; s[t] = (U[t] > theta + b*a[t]). b = max(strength, 0) is
 * passed clamped. mem0 / ad0: (B, H); mems / ads / spikes: (T, B, H). */
void alif_forward(int64_t T, int64_t B, int64_t H, const float *cur, const float *mem0, const float *ad0,
                  const float *restrict rho, const float *restrict bstr, const float *restrict beta,
                  const float *restrict theta, float *mems, float *ads, float *spikes)
{
    const int64_t n = B * H;
    for (int64_t t = 0; t < T; ++t) {
        for (int64_t b = 0; b < B; ++b) {
            const int64_t o = t * n + b * H;
            alif_row(H, t ? mems + o - n : mem0 + b * H, t ? ads + o - n : ad0 + b * H, cur + o, rho, bstr, beta, theta,
                     mems + o, ads + o, spikes + o);
        }
    }
}

/* Backward of alif_forward. g_mem / g_ad: dL/d(final U, a) or NULL. Writes gi, g_mem0, g_ad0 and acc
 * (4 x H doubles, zeroed by the caller): rho, adaptation strength b, beta, threshold. */
int alif_backward(int64_t T, int64_t B, int64_t H, const float *gs, const float *mem0, const float *ad0,
                  const float *mems, const float *ads, const float *rho, const float *bstr, const float *beta,
                  const float *theta, float slope, const float *g_mem, const float *g_ad, float *gi, float *g_mem0,
                  float *g_ad0, double *acc)
{
    const int64_t n = B * H;
    float *gu = (float *)calloc((size_t)n, sizeof(float)); /* dL/dU[t+1] */
    float *ga = (float *)calloc((size_t)n, sizeof(float)); /* rho * dL/da[t+1] (+ final-state gradient) */
    float *pn = (float *)calloc((size_t)n, sizeof(float)); /* p[t+1] * dL/dU[t+1]: the reset's pull on A[t] */
    float *part = (float *)malloc(sizeof(float) * 4 * (size_t)H);
    if (!gu || !ga || !pn || !part) {
        free(gu);
        free(ga);
        free(pn);
        free(part);
        return -1;
    }
    if (g_mem) memcpy(gu, g_mem, sizeof(float) * (size_t)n);
    if (g_ad) memcpy(ga, g_ad, sizeof(float) * (size_t)n);
    for (int64_t t = T - 1; t >= 0; --t) {
        memset(part, 0, sizeof(float) * 4 * (size_t)H);
        for (int64_t b = 0; b < B; ++b) {
            const int64_t o = t * n + b * H, r0 = b * H;
            alif_back_row(H, slope, gs + o, mems + o, ads + o, t ? mems + o - n : mem0 + r0, t ? ads + o - n : ad0 + r0,
                          rho, bstr, beta, theta, gi + o, gu + r0, ga + r0, pn + r0, part, part + H, part + 2 * H,
                          part + 3 * H);
        }
        for (int64_t i = 0; i < 4 * H; ++i) acc[i] += (double)part[i];
    }
    /* A[-1] = theta + b*a0 (the first step's reset): its gradient -p[0]*gU[0] */
    memset(part, 0, sizeof(float) * 2 * (size_t)H);
    for (int64_t b = 0; b < B; ++b) {
        const int64_t r0 = b * H;
        for (int64_t h = 0; h < H; ++h) {
            const float g_thr = -pn[r0 + h];
            g_ad0[r0 + h] = bstr[h] * g_thr + ga[r0 + h];
            g_mem0[r0 + h] = gu[r0 + h];
            part[h] += g_thr * ad0[r0 + h];
            part[H + h] += g_thr;
        }
    }
    for (int64_t h = 0; h < H; ++h) {
        acc[H + h] += (double)part[h];
        acc[3 * H + h] += (double)part[H + h];
    }
    free(gu);
    free(ga);
    free(pn);
    free(part);
    return 0;
}

/* Recurrent LIF, one step after its matrix product (torch's BLAS): on entry u = I[t] + b_V + V*s[t-1]; then
 * u = u + beta*U[t-1] - r*theta with r = (U[t-1] > theta) (the previous spikes), s[t] = (u > theta).
 * The same operations in the same order as the torch loop of RecurrentSequence. u, mp, spikes: (B, H). */
void rec_forward_step(int64_t B, int64_t H, float *u, const float *mp, const float *restrict beta,
                      const float *restrict theta, float *spikes)
{
    for (int64_t b = 0; b < B; ++b) {
        rec_row(H, u + b * H, mp + b * H, beta, theta, spikes + b * H);
    }
}

/* Recurrent LIF, one backward step before its matrix product: g_u[t] = carry + g_s[t]*sg(U[t]) with the
 * surrogate sg = 1/(1 + k|U - theta|)^2; carry = beta*g_u[t]; part (3 x H floats, added to) receives the
 * direct terms g_s*sg (threshold, spike path), g_u*U[t-1] (beta) and g_u*r[t] (threshold, reset path). */
void rec_backward_step(int64_t B, int64_t H, const float *gs, const float *m, const float *mp,
                       const float *restrict beta, const float *restrict theta, float slope, float *carry, float *gu,
                       float *part)
{
    for (int64_t b = 0; b < B; ++b) {
        const int64_t o = b * H;
        rec_back_row(H, slope, gs + o, m + o, mp + o, beta, theta, carry + o, gu + o, part, part + H, part + 2 * H);
    }
}
