/* Per-step task logic of sb3_spiking.tasks.drone.task.DroneHoverTask in C (loaded by _ckernel.py).
 *
 * One call per simulator step does, for every row: the motor-speed replica, the action history,
 * the privileged and actor observations, crash / divergence termination, the reward, truncation
 * and the episode statistics. Every row is computed by the same scalar code, independently of the
 * others, so row i of a batch equals a single env bit for bit whatever the batch size. Compiled
 * with -ffp-contract=off (no FMA contraction) and without -ffast-math.
 *
 * The struct layout must match _ckernel.TaskStruct.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define DIVERGED 1e4f

typedef struct {
    int64_t n_rows, n_real, priv_dim, actor_dim, history, actor_history, max_steps;
    const float *obs82;        /* n_rows x 82, simulator observation after the step */
    float *actions;            /* n_rows x 4, clipped in place by task_pre */
    float *rpm;                /* n_rows x 4, motor speeds in [0, 1] (simulator's replica) */
    const float *decay_rise;   /* n_rows */
    const float *decay_fall;   /* n_rows */
    const float *hover;        /* n_rows, hover action per row */
    float *priv;               /* n_rows x priv_dim */
    float *actor;              /* n_rows x actor_dim */
    float *reward;             /* n_rows */
    uint8_t *terminated, *truncated, *done, *diverged, *warned; /* n_rows (numpy bool) */
    int64_t *steps;            /* n_rows */
    double *ep_return;         /* n_rows */
    int64_t *ep_length;        /* n_rows */
    float limits[18];
    float offset[18];
    double c_rs, c_rp, c_rv, c_rq, c_ra;
} Task;

/* Clip the first n_real rows of the action buffer to [-1, 1]; returns the number of non-finite
 * entries (then nothing must be simulated). */
int64_t task_pre(Task *t) {
    int64_t bad = 0, n = 4 * t->n_real;
    float *a = t->actions;
    for (int64_t k = 0; k < n; k++) {
        float x = a[k];
        if (!isfinite(x)) { bad++; continue; }
        a[k] = x > 1.0f ? 1.0f : (x < -1.0f ? -1.0f : x);
    }
    return bad;
}

static void write_actor(const Task *t, int64_t i) {
    const float *p = t->priv + i * t->priv_dim;
    float *o = t->actor + i * t->actor_dim;
    memcpy(o, p, 18 * sizeof(float));
    if (t->actor_history > 0) memcpy(o + 18, p + 22, 4 * t->actor_history * sizeof(float));
}

/* After the simulator step (obs82 refreshed). Returns the number of finished rows (padding rows
 * included), plus 2^40 when some row diverged. */
int64_t task_post(Task *t) {
    int64_t finished = 0, any_diverged = 0;
    for (int64_t i = 0; i < t->n_rows; i++) {
        const float *o = t->obs82 + 82 * i;
        const float *a = t->actions + 4 * i;
        float *m = t->rpm + 4 * i;
        float *p = t->priv + i * t->priv_dim;
        /* motor model of l2f: first-order lag, rising / falling time constant by the sign of u - rpm */
        const float dr = t->decay_rise[i], df = t->decay_fall[i];
        for (int k = 0; k < 4; k++) {
            float u = a[k] * 0.5f + 0.5f;
            float d = m[k] - u;
            d *= (d <= 0.0f) ? dr : df;
            m[k] = d + u;
            p[18 + k] = m[k] * 2.0f - 1.0f;
        }
        if (t->history > 0) { /* most recent first */
            memmove(p + 26, p + 22, 4 * (t->history - 1) * sizeof(float));
            memcpy(p + 22, a, 4 * sizeof(float));
        }
        t->steps[i] += 1;
        int inside = 1, small = 1;
        for (int j = 0; j < 18; j++) {
            float ax = fabsf(o[j]);
            if (!(ax <= t->limits[j])) inside = 0; /* NaN fails */
            if (!(ax < DIVERGED)) small = 0;
            p[j] = o[j] - t->offset[j];
        }
        double cs = ((double)p[3] + (double)p[7] + (double)p[11] - 1.0) * 0.5;
        cs = cs > 1.0 ? 1.0 : (cs < -1.0 ? -1.0 : cs);
        double pos = (double)p[0] * p[0] + (double)p[1] * p[1] + (double)p[2] * p[2];
        double vel = (double)p[12] * p[12] + (double)p[13] * p[13] + (double)p[14] * p[14];
        double da = 0.0;
        for (int k = 0; k < 4; k++) {
            double x = (double)a[k] - (double)t->hover[i];
            da += x * x;
        }
        float r = (float)(t->c_rs - t->c_rp * pos - t->c_rv * vel - t->c_rq * acos(cs) - t->c_ra * da);
        uint8_t term = !inside, div = 0;
        if (term && !small) { /* diverged: reward 0, observation zeroed (keep NaN out of buffers) */
            div = 1;
            any_diverged = 1;
            r = 0.0f;
            memset(p, 0, 18 * sizeof(float));
        }
        uint8_t trunc = !term && t->steps[i] >= t->max_steps;
        t->terminated[i] = term;
        t->truncated[i] = trunc;
        t->done[i] = term | trunc;
        t->diverged[i] = div;
        finished += term | trunc;
        t->reward[i] = r;
        t->ep_return[i] += (double)r;
        t->ep_length[i] += 1;
        write_actor(t, i);
    }
    return finished + (any_diverged << 40);
}

/* After the simulator reset the rows in mask (obs82 refreshed): start their episodes. */
void task_reset(Task *t, const uint8_t *mask) {
    for (int64_t i = 0; i < t->n_rows; i++) {
        if (!mask[i]) continue;
        const float *o = t->obs82 + 82 * i;
        float *m = t->rpm + 4 * i;
        float *p = t->priv + i * t->priv_dim;
        for (int j = 0; j < 18; j++) p[j] = o[j] - t->offset[j];
        for (int k = 0; k < 4; k++) {
            m[k] = (o[18 + k] + 1.0f) * 0.5f;
            p[18 + k] = m[k] * 2.0f - 1.0f;
        }
        /* l2f's convention: the history starts filled with the initial motor speeds */
        for (int64_t h = 0; h < t->history; h++) memcpy(p + 22 + 4 * h, o + 18, 4 * sizeof(float));
        t->steps[i] = 0;
        t->warned[i] = 0;
        t->diverged[i] = 0;
        t->ep_return[i] = 0.0;
        t->ep_length[i] = 0;
        write_actor(t, i);
    }
}
