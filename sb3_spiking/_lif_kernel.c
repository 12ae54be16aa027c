/* LIF sequence kernels for sb3_spiking.neurons.LIFSequence on CPU (float32, contiguous).
 *
 * Each function is one pass over a (T, B, H) sequence, with the operations of the torch fallback in
 * neurons.py in the same order. Compiled with -ffp-contract=off, every product and sum is rounded
 * on its own, the same in lif_forward and lif_step: deployment steps equal the training sequence
 * bit for bit on this path. torch's addcmul is a fused multiply-add, so the two paths differ in the
 * last bit of a membrane; the beta / theta sums here run in float over one time step's batch, then
 * in double over time (torch: float tree sums).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bumped with every change of a function's arguments: sb3_spiking._cbuild compares it with the
 * source's and rebuilds a stale installed library instead of calling it with the wrong arguments. */
#define KERNEL_ABI 2
int kernel_abi(void) { return KERNEL_ABI; }

/* U[t] = beta*U[t-1] + I[t] - s[t-1]*theta,  s[t] = (U[t] > theta);
 * with zero_reset: U[t] = beta*(s[t-1] ? 0 : U[t-1]) + I[t] (reset to zero, NIR's LIF) */
void lif_forward(int64_t T, int64_t B, int64_t H, const float *cur, const float *mem0, const float *spk0,
                 const float *restrict beta, const float *restrict theta, float *mems, float *spikes, int zero_reset)
{
    const int64_t n = B * H;
    for (int64_t t = 0; t < T; ++t) {
        for (int64_t b = 0; b < B; ++b) {
            const int64_t o = t * n + b * H;
            const float *restrict c = cur + o;
            const float *restrict mp = t ? mems + o - n : mem0 + b * H;
            const float *restrict sp = t ? spikes + o - n : spk0 + b * H;
            float *restrict m = mems + o;
            float *restrict s = spikes + o;
            if (zero_reset) {
                for (int64_t h = 0; h < H; ++h) {
                    float u = c[h] + beta[h] * (sp[h] != 0.0f ? 0.0f : mp[h]);
                    m[h] = u;
                    s[h] = (float)(u > theta[h]);
                }
                continue;
            }
            for (int64_t h = 0; h < H; ++h) {
                float u = c[h] + beta[h] * mp[h];
                u = u + (-sp[h]) * theta[h];
                m[h] = u;
                s[h] = (float)(u > theta[h]);
            }
        }
    }
}

/* One (row of a) backward step: the direct term gs/(1 + k|U - theta|)^2, plus carry*beta (mode 1),
 * plus carry (mode 2: the final membrane's gradient), or nothing (mode 0). The reset spike s[t-1] is
 * recomputed from U[t-1] (it is U[t-1] > theta by definition) instead of being read back.
 * zero_reset: U[t+1] = beta*(1 - s[t])*U[t] + I, so the carry and U[t-1] pass only where the neuron
 * did not spike, and theta gets no reset-path gradient (the reset is detached). */
static inline void backward_row(int64_t H, int mode, int zero_reset, const float *restrict g_in, const float *restrict m,
                                const float *restrict mp, const float *restrict carry,
                                const float *restrict beta, const float *restrict theta, float slope,
                                float *restrict out, float *restrict acc_direct, float *restrict acc_beta,
                                float *restrict acc_reset)
{
    for (int64_t h = 0; h < H; ++h) {
        float a = fabsf(m[h] - theta[h]);
        a = a * slope;
        a = a + 1.0f;
        a = a * a;
        float g = g_in[h] / a;
        acc_direct[h] += g;
        if (mode == 1) {
            g = g + ((zero_reset && m[h] > theta[h]) ? 0.0f : carry[h] * beta[h]);
        } else if (mode == 2) {
            g = g + carry[h];
        }
        out[h] = g;
        if (zero_reset) {
            acc_beta[h] += mp[h] > theta[h] ? 0.0f : g * mp[h];
        } else {
            acc_beta[h] += g * mp[h];
            acc_reset[h] += mp[h] > theta[h] ? g : 0.0f;
        }
    }
}

/* Backward in time. gu[t] = gs[t] / (1 + k|U[t] - theta|)^2 + beta*gu[t+1] (+ grad_mem at T-1).
 * acc (3 x H doubles, zeroed by the caller) receives
 *   acc[0] = sum of the direct terms gs/(..)^2 (threshold, spike path),
 *   acc[1] = sum gu[t]*U[t-1]  (beta),
 *   acc[2] = sum gu[t]*s[t-1]  (threshold, reset path),
 * with U[-1] = mem0. Sums run in float over the batch of one time step, then in double over time.
 * grad_mem may be NULL. Returns 0, or -1 when the scratch memory cannot be allocated. */
int lif_backward(int64_t T, int64_t B, int64_t H, const float *gs, const float *mems, const float *mem0,
                 const float *beta, const float *theta, float slope, const float *grad_mem, float *gu, double *acc,
                 int zero_reset)
{
    const int64_t n = B * H;
    float *part = (float *)malloc(sizeof(float) * 3 * (size_t)H);
    if (!part) {
        return -1;
    }
    for (int64_t t = T - 1; t >= 0; --t) {
        memset(part, 0, sizeof(float) * 3 * (size_t)H);
        for (int64_t b = 0; b < B; ++b) {
            const int64_t o = t * n + b * H;
            const float *mp = t ? mems + o - n : mem0 + b * H;
            const float *carry = (t < T - 1) ? gu + o + n : (grad_mem ? grad_mem + b * H : 0);
            const int mode = (t < T - 1) ? 1 : (grad_mem ? 2 : 0);
            /* constant mode arguments: each call site is specialised by the compiler */
            if (zero_reset) {
                if (mode == 1) {
                    backward_row(H, 1, 1, gs + o, mems + o, mp, carry, beta, theta, slope, gu + o, part, part + H, part + 2 * H);
                } else if (mode == 2) {
                    backward_row(H, 2, 1, gs + o, mems + o, mp, carry, beta, theta, slope, gu + o, part, part + H, part + 2 * H);
                } else {
                    backward_row(H, 0, 1, gs + o, mems + o, mp, carry, beta, theta, slope, gu + o, part, part + H, part + 2 * H);
                }
            } else if (mode == 1) {
                backward_row(H, 1, 0, gs + o, mems + o, mp, carry, beta, theta, slope, gu + o, part, part + H, part + 2 * H);
            } else if (mode == 2) {
                backward_row(H, 2, 0, gs + o, mems + o, mp, carry, beta, theta, slope, gu + o, part, part + H, part + 2 * H);
            } else {
                backward_row(H, 0, 0, gs + o, mems + o, mp, carry, beta, theta, slope, gu + o, part, part + H, part + 2 * H);
            }
        }
        for (int64_t i = 0; i < 3 * H; ++i) {
            acc[i] += (double)part[i];
        }
    }
    free(part);
    return 0;
}

/* One step without gradient (deployment): the same arithmetic as lif_forward with T = 1 and the
 * reset spike taken from the previous membrane, s[t-1] = (U[t-1] > theta). */
void lif_step(int64_t B, int64_t H, const float *restrict cur, const float *restrict mem,
              const float *restrict beta, const float *restrict theta, float *restrict mem_out, float *restrict spikes,
              int zero_reset)
{
    for (int64_t b = 0; b < B; ++b) {
        const int64_t o = b * H;
        for (int64_t h = 0; h < H; ++h) {
            const float mp = mem[o + h];
            const float sp = (float)(mp > theta[h]);
            float u;
            if (zero_reset) {
                u = cur[o + h] + beta[h] * (sp != 0.0f ? 0.0f : mp);
                mem_out[o + h] = u;
                spikes[o + h] = (float)(u > theta[h]);
                continue;
            }
            u = cur[o + h] + beta[h] * mp;
            u = u + (-sp) * theta[h];
            mem_out[o + h] = u;
            spikes[o + h] = (float)(u > theta[h]);
        }
    }
}
