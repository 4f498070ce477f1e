// network.cpp — forward, backward, update and cost of a fully connected network.
// Layouts and conventions: see network.h. The matrix products are gemm.h's: our own kernels or
// cblas_sgemm, chosen per shape there.
#include "network.h"

#include <math.h>
#include <string.h>

#include "gemm.h"
#include "rng.h"

// ----------------------------------------------------------------------------
// layout

void net_setup(Net* net, const int* sizes, int num_sizes, int activation, int cost) {
    net->L = num_sizes - 1;
    net->activation = activation;
    net->cost = cost;
    net->max_width = 0;
    net->max_w = 0;
    size_t off = 0;
    for (int i = 0; i < num_sizes; i++) net->sizes[i] = sizes[i];
    for (int l = 0; l < net->L; l++) {
        const size_t n_in = (size_t)sizes[l], n_out = (size_t)sizes[l + 1];
        net->w_off[l] = off;
        off += n_out * n_in;
        net->b_off[l] = off;
        off += n_out;
        if ((int)n_out > net->max_width) net->max_width = (int)n_out;
        if (n_out * n_in > net->max_w) net->max_w = n_out * n_in;
    }
    net->num_params = off;
}

size_t acts_floats(const Net* net, int B) {
    size_t n = 2 * (size_t)B * net->sizes[0];
    for (int l = 1; l <= net->L; l++) n += (size_t)B * net->sizes[l] * (l < net->L ? 3 : 1);
    n += (size_t)B * net->sizes[net->L];      // z_out
    n += 2 * (size_t)B * net->max_width;      // delta, dinput
    n += net->max_w + net->max_width;         // grad_w, grad_b
    n += ((size_t)B + 3) / 4;                 // labels, bytes
    return n;
}

void acts_carve(const Net* net, Acts* a, float* mem, int B) {
    memset(a, 0, sizeof(*a));
    a->B = B;
    float* p = mem;
    a->x = p; p += (size_t)B * net->sizes[0];
    a->x_next = p; p += (size_t)B * net->sizes[0];
    for (int l = 1; l <= net->L; l++) {
        const size_t n = (size_t)B * net->sizes[l];
        a->act[l] = p; p += n;
        if (l < net->L) {
            a->dropped[l] = p; p += n;
            a->mask[l] = p; p += n;
        }
    }
    a->z_out = p; p += (size_t)B * net->sizes[net->L];
    a->delta = p; p += (size_t)B * net->max_width;
    a->dinput = p; p += (size_t)B * net->max_width;
    a->grad_w = p; p += net->max_w;
    a->grad_b = p; p += net->max_width;
    a->labels = (uint8_t*)p;
}

// What layer l (0-based weight layer) reads: the inputs, or the previous layer's output after dropout.
static inline const float* layer_input(const Acts* a, const float* x, int l) {
    if (l == 0) return x;
    return a->dropout ? a->dropped[l] : a->act[l];
}

// ----------------------------------------------------------------------------
// init, inputs, dropout

void params_init(const Net* net, float* params, uint64_t seed, int large) {
    // weights N(0, 1/n_in) ("default") or N(0, 1) ("large"); biases N(0, 1). One stream, drawn
    // layer by layer: W_l row-major, then b_l, i.e. in buffer order.
    Rng rng;
    rng_seed(&rng, mix64(seed ^ DOMAIN_INIT));
    for (int l = 0; l < net->L; l++) {
        const int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        const double scale = large ? 1.0 : 1.0 / sqrt((double)n_in);
        float* W = params + net->w_off[l];
        float* b = params + net->b_off[l];
        for (size_t i = 0; i < (size_t)n_out * n_in; i++) W[i] = (float)(rng_normal(&rng) * scale);
        for (int j = 0; j < n_out; j++) b[j] = (float)rng_normal(&rng);
    }
}

// pixel/255 as float. Float division is correctly rounded, so this equals (float)(p/255.0) for
// every byte (checked for all 256); scale_pixels (gemm.cpp) gets the same bits without dividing.
void inputs_from_pixels(float* x, const uint8_t* pixels, size_t n) { scale_pixels(x, pixels, n); }

void dropout_masks(const Net* net, Acts* a, int B, float rate, uint64_t seed, uint64_t epoch, uint64_t batch_index) {
    // inverted dropout: kept units are scaled by 1/(1-p) so inference uses the weights as they are.
    // Draw order: hidden layer 1..L-1, example 0..B-1, unit 0..n-1; a unit is kept when u >= p.
    Rng rng;
    rng_seed(&rng, dropout_stream_seed(seed, epoch, batch_index));
    const float keep = (float)(1.0 / (1.0 - (double)rate));
    for (int l = 1; l < net->L; l++) {
        float* m = a->mask[l];
        const size_t n = (size_t)B * net->sizes[l];
        for (size_t i = 0; i < n; i++) m[i] = rng_uniform(&rng) >= (double)rate ? keep : 0.0f;
    }
}

// ----------------------------------------------------------------------------
// forward

static inline float sigmoidf(float z) { return 1.0f / (1.0f + expf(-z)); }

// A hidden layer's outputs: out (B, n) = f(out + b), and dropped = out * mask when masks apply.
struct HiddenOutput {
    float* out;
    const float* b;
    int B, n, activation;
    const float* mask;  // NULL: no dropout
    float* dropped;
};

// Columns [lo, hi) of every example: run by gemm_nt on the thread that computed them.
static void hidden_output(const void* ctx, int lo, int hi) {
    const HiddenOutput& h = *(const HiddenOutput*)ctx;
    for (int i = 0; i < h.B; i++) {
        float* row = h.out + (size_t)i * h.n;
        const float* b = h.b;
        switch (h.activation) {
            case ACT_SIGMOID: for (int j = lo; j < hi; j++) row[j] = sigmoidf(row[j] + b[j]); break;
            case ACT_TANH: for (int j = lo; j < hi; j++) row[j] = tanhf(row[j] + b[j]); break;
            default: for (int j = lo; j < hi; j++) { const float z = row[j] + b[j]; row[j] = z > 0.0f ? z : 0.0f; } break;
        }
        if (h.mask) {
            const float* m = h.mask + (size_t)i * h.n;
            float* d = h.dropped + (size_t)i * h.n;
            for (int j = lo; j < hi; j++) d[j] = row[j] * m[j];
        }
    }
}

// z (B, n) += b; a = sigmoid(z) or softmax over each row
static void output_forward(float* z, float* out, const float* b, int B, int n, int cost) {
    for (int i = 0; i < B; i++) {
        float* zr = z + (size_t)i * n;
        float* ar = out + (size_t)i * n;
        for (int j = 0; j < n; j++) zr[j] += b[j];
        if (cost == COST_LOG_LIKELIHOOD) {
            float maxz = zr[0];
            for (int j = 1; j < n; j++) maxz = zr[j] > maxz ? zr[j] : maxz;
            float sum = 0.0f;
            for (int j = 0; j < n; j++) { ar[j] = expf(zr[j] - maxz); sum += ar[j]; }
            const float inv = 1.0f / sum;
            for (int j = 0; j < n; j++) ar[j] *= inv;
        } else {
            for (int j = 0; j < n; j++) ar[j] = sigmoidf(zr[j]);
        }
    }
}

void network_forward(const Net* net, const float* params, Acts* a, const float* x, int B, int use_dropout) {
    // x (B, sizes[0]) -> act[L] (B, sizes[L]); with use_dropout, hidden outputs are multiplied by
    // the masks already in a->mask before the next layer reads them.
    a->dropout = use_dropout && net->L > 1;
    for (int l = 0; l < net->L; l++) {
        const int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        const float* in = layer_input(a, x, l);
        const float* W = params + net->w_off[l];
        const float* b = params + net->b_off[l];
        const int last = l == net->L - 1;
        float* out = last ? a->z_out : a->act[l + 1];
        // out (B, n_out) = in (B, n_in) . W^T, then a hidden layer's activation column block by
        // column block, on the thread that computed the block
        if (last) {
            gemm_nt(B, n_out, n_in, in, n_in, W, n_in, out, n_out);
            output_forward(out, a->act[l + 1], b, B, n_out, net->cost);
        } else {
            const HiddenOutput h = {out, b, B, n_out, net->activation, a->dropout ? a->mask[l + 1] : NULL,
                                    a->dropout ? a->dropped[l + 1] : NULL};
            gemm_nt(B, n_out, n_in, in, n_in, W, n_in, out, n_out, hidden_output, &h);
        }
    }
}

// ----------------------------------------------------------------------------
// backward

void output_delta(const Net* net, Acts* a, const uint8_t* labels, int B) {
    // delta (B, n) = a - y, times sigma'(z) = a(1-a) for the quadratic cost; y = one-hot(label)
    const int n = net->sizes[net->L];
    const float* out = a->act[net->L];
    for (int i = 0; i < B; i++) {
        const float* ar = out + (size_t)i * n;
        float* dr = a->delta + (size_t)i * n;
        for (int j = 0; j < n; j++) dr[j] = ar[j];
        dr[labels[i]] -= 1.0f;
        if (net->cost == COST_QUADRATIC)
            for (int j = 0; j < n; j++) dr[j] *= ar[j] * (1.0f - ar[j]);
    }
}

// d (B*n) *= mask * f'(a) for a hidden layer, f' written in terms of the activation a
static void hidden_backward(float* d, const float* act, const float* mask, size_t n, int activation) {
    switch (activation) {
        case ACT_SIGMOID: for (size_t i = 0; i < n; i++) d[i] *= act[i] * (1.0f - act[i]); break;
        case ACT_TANH: for (size_t i = 0; i < n; i++) d[i] *= 1.0f - act[i] * act[i]; break;
        default: for (size_t i = 0; i < n; i++) d[i] = act[i] > 0.0f ? d[i] : 0.0f; break;
    }
    if (mask)
        for (size_t i = 0; i < n; i++) d[i] *= mask[i];
}

// C (n_out, n_in) = alpha * delta^T (n_out, B) . in (B, n_in) + beta * C
static void weight_gemm(int B, int n_out, int n_in, float alpha, const float* delta, const float* in, float beta, float* C) {
    gemm_tn(n_out, n_in, B, alpha, delta, n_out, in, n_in, beta, C, n_in);
}

static inline float sgnf(float w) { return (float)((w > 0.0f) - (w < 0.0f)); }

// gb (n_out) = sum over the batch of delta (B, n_out)
static void delta_column_sums(float* gb, const float* delta, int B, int n_out) {
    for (int j = 0; j < n_out; j++) gb[j] = 0.0f;
    for (int i = 0; i < B; i++) {
        const float* dr = delta + (size_t)i * n_out;
        for (int j = 0; j < n_out; j++) gb[j] += dr[j];
    }
}

// Consumes the gradient of layer l: delta (B, n_out), in (B, n_in). The weight gradient
// (1/B) delta^T in (n_out, n_in) goes straight into its destination through the product's alpha/beta.
static void layer_update(const Net* net, int l, float* params, Acts* a, const float* delta, const float* in, int B,
                         const Update* u) {
    const int n_in = net->sizes[l], n_out = net->sizes[l + 1];
    const size_t nw = (size_t)n_out * n_in;
    float* W = params + net->w_off[l];
    float* b = params + net->b_off[l];
    const float inv_b = (float)(1.0 / B);
    const float l2 = u->l2, l1 = u->l1, eta = u->eta, mu = u->mu;
    float* gb = a->grad_b;
    delta_column_sums(gb, delta, B, n_out);

    switch (u->kind) {
        case UPDATE_GRADIENT: {
            float* gW = u->buf + net->w_off[l];
            float* gB = u->buf + net->b_off[l];
            weight_gemm(B, n_out, n_in, inv_b, delta, in, 0.0f, gW);
            if (l2 != 0.0f || l1 != 0.0f)
                for (size_t i = 0; i < nw; i++) gW[i] += l2 * W[i] + l1 * sgnf(W[i]);
            for (int j = 0; j < n_out; j++) gB[j] = gb[j] * inv_b;
            break;
        }
        case UPDATE_SGD: {
            // Eq. 93 / 97: w <- (1 - eta l2) w - eta l1 sgn(w) - (eta/B) sum grad. Without L1 the
            // decay is the product's beta: one pass over W for the whole update.
            float beta = 1.0f - eta * l2;
            if (l1 != 0.0f) {
                for (size_t i = 0; i < nw; i++) W[i] = beta * W[i] - eta * l1 * sgnf(W[i]);
                beta = 1.0f;
            }
            weight_gemm(B, n_out, n_in, -eta * inv_b, delta, in, beta, W);
            const float step = eta * inv_b;
            for (int j = 0; j < n_out; j++) b[j] -= step * gb[j];
            break;
        }
        case UPDATE_MOMENTUM: {
            // Eq. 107-108: v <- mu v - eta (grad + reg); w <- w + v. The product folds mu v - eta grad.
            float* vW = u->buf + net->w_off[l];
            float* vB = u->buf + net->b_off[l];
            weight_gemm(B, n_out, n_in, -eta * inv_b, delta, in, mu, vW);
            if (l2 != 0.0f || l1 != 0.0f) {
                for (size_t i = 0; i < nw; i++) {
                    const float v = vW[i] - eta * (l2 * W[i] + l1 * sgnf(W[i]));
                    vW[i] = v;
                    W[i] += v;
                }
            } else {
                for (size_t i = 0; i < nw; i++) W[i] += vW[i];
            }
            for (int j = 0; j < n_out; j++) {
                vB[j] = mu * vB[j] - eta * (gb[j] * inv_b);
                b[j] += vB[j];
            }
            break;
        }
        case UPDATE_NESTEROV: {
            // Stored weights are the look-ahead point phi = w + mu v, where the gradient is taken:
            // v' = mu v - eta g(phi); phi <- phi + mu v' - eta g(phi)  (Sutskever et al. 2013).
            float* vW = u->buf + net->w_off[l];
            float* vB = u->buf + net->b_off[l];
            float* gW = a->grad_w;
            weight_gemm(B, n_out, n_in, inv_b, delta, in, 0.0f, gW);
            for (size_t i = 0; i < nw; i++) {
                const float g = gW[i] + l2 * W[i] + l1 * sgnf(W[i]);
                const float v = mu * vW[i] - eta * g;
                vW[i] = v;
                W[i] += mu * v - eta * g;
            }
            for (int j = 0; j < n_out; j++) {
                const float g = gb[j] * inv_b;
                const float v = mu * vB[j] - eta * g;
                vB[j] = v;
                b[j] += mu * v - eta * g;
            }
            break;
        }
    }
}

void network_backward(const Net* net, float* params, Acts* a, const float* x, int B, const Update* u) {
    // a->delta (B, sizes[L]) holds the output error. Top-down, each layer first propagates the error
    // through W_l (before W_l changes), then updates W_l, b_l — so every gradient of the mini-batch
    // is taken at the same weights, as in network2.update_mini_batch.
    float* delta = a->delta;
    float* below = a->dinput;
    for (int l = net->L - 1; l >= 0; l--) {
        const int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        const float* W = params + net->w_off[l];
        if (l > 0) {
            // below (B, n_in) = delta (B, n_out) . W (n_out, n_in)
            gemm_nn(B, n_in, n_out, delta, n_out, W, n_in, below, n_in);
        }
        layer_update(net, l, params, a, delta, layer_input(a, x, l), B, u);
        if (l > 0) {
            hidden_backward(below, a->act[l], a->dropout ? a->mask[l] : NULL, (size_t)B * n_in, net->activation);
            float* t = delta;
            delta = below;
            below = t;
        }
    }
}

// ----------------------------------------------------------------------------
// cost and accuracy

static inline double softplus(double x) { return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x))); }

double cost_sum(const Net* net, const Acts* a, const uint8_t* labels, int B) {
    // Sum over the batch of the per-example cost, in double. Cross-entropy and log-likelihood are
    // computed from z, not from the float activations: -ln(a) = softplus(-z) stays finite where
    // the float sigmoid has rounded to exactly 0 or 1 (network2 needs nan_to_num for that).
    const int n = net->sizes[net->L];
    double total = 0.0;
    for (int i = 0; i < B; i++) {
        const float* zr = a->z_out + (size_t)i * n;
        const float* ar = a->act[net->L] + (size_t)i * n;
        const int y = labels[i];
        if (net->cost == COST_QUADRATIC) {
            for (int j = 0; j < n; j++) {
                const double d = (double)ar[j] - (j == y ? 1.0 : 0.0);
                total += 0.5 * d * d;
            }
        } else if (net->cost == COST_CROSS_ENTROPY) {
            for (int j = 0; j < n; j++) total += j == y ? softplus(-(double)zr[j]) : softplus((double)zr[j]);
        } else {
            double maxz = zr[0];
            for (int j = 1; j < n; j++) maxz = zr[j] > maxz ? zr[j] : maxz;
            double s = 0.0;
            for (int j = 0; j < n; j++) s += exp((double)zr[j] - maxz);
            total += maxz + log(s) - (double)zr[y];
        }
    }
    return total;
}

int count_correct(const Net* net, const Acts* a, const uint8_t* labels, int B) {
    // argmax takes the first maximum, as numpy's does
    const int n = net->sizes[net->L];
    int correct = 0;
    for (int i = 0; i < B; i++) {
        const float* ar = a->act[net->L] + (size_t)i * n;
        int best = 0;
        for (int j = 1; j < n; j++) if (ar[j] > ar[best]) best = j;
        correct += best == labels[i];
    }
    return correct;
}

void weight_norms(const Net* net, const float* params, double* sum_sq, double* sum_abs) {
    double sq = 0.0, ab = 0.0;
    for (int l = 0; l < net->L; l++) {
        const float* W = params + net->w_off[l];
        const size_t nw = (size_t)net->sizes[l] * net->sizes[l + 1];
        for (size_t i = 0; i < nw; i++) {
            const double w = W[i];
            sq += w * w;
            ab += fabs(w);
        }
    }
    *sum_sq = sq;
    *sum_abs = ab;
}

// Branch-free, vectorisable: OR together "exponent bits all ones" (NaN or Inf) over the segment.
static int segment_nonfinite(const float* p, size_t n) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, p + i, 4);
        bad |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
    }
    return (int)bad;
}

int first_nonfinite(const Net* net, const float* params) {
    for (int l = 0; l < net->L; l++) {
        if (segment_nonfinite(params + net->w_off[l], (size_t)net->sizes[l] * net->sizes[l + 1])) return 2 * l;
        if (segment_nonfinite(params + net->b_off[l], (size_t)net->sizes[l + 1])) return 2 * l + 1;
    }
    return -1;
}

// ----------------------------------------------------------------------------
// loops over many examples

// The inputs of examples [start, start + B) of a call as floats: rows start.. of inputs, or, with
// an order, rows order[start..] (gathered here, each row converted as it comes). Rows come from
// random places in a dataset larger than the caches: with an order, the rows of the following
// mini-batch (up to `end`, the call's count) are asked for while these are converted, so they are
// in cache when their turn comes.
static const float* batch_inputs(const Net* net, float* x, const void* inputs, int float_inputs, const uint32_t* order,
                                 size_t start, int B, size_t end) {
    const size_t n0 = (size_t)net->sizes[0];
    if (!order) {
        if (float_inputs) return (const float*)inputs + start * n0;
        inputs_from_pixels(x, (const uint8_t*)inputs + start * n0, (size_t)B * n0);
        return x;
    }
    const size_t bytes = float_inputs ? n0 * sizeof(float) : n0;
    const char* base = (const char*)inputs;
    for (int i = 0; i < B; i++) {
        if (start + B + i < end) {
            const char* later = base + (size_t)order[start + B + i] * bytes;
            for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(later + o);
        }
        const char* row = base + (size_t)order[start + i] * bytes;
        if (float_inputs) memcpy(x + (size_t)i * n0, row, bytes);
        else inputs_from_pixels(x + (size_t)i * n0, (const uint8_t*)row, n0);
    }
    return x;
}

// The next mini-batch's inputs, converted on the helper while this thread finishes the current one.
struct NextInputs {
    const Net* net;
    float* x;
    const void* inputs;
    int float_inputs;
    const uint32_t* order;
    size_t start;
    int B;
    size_t end;
};

static void convert_next(const void* ctx) {
    const NextInputs& n = *(const NextInputs*)ctx;
    batch_inputs(n.net, n.x, n.inputs, n.float_inputs, n.order, n.start, n.B, n.end);
}

int train_batches(const Net* net, float* params, float* velocities, Acts* a, const void* inputs, int float_inputs,
                  const uint8_t* labels, const uint32_t* order, int count, const HyperParams* hp, uint64_t seed,
                  uint64_t epoch, uint64_t first_batch) {
    Update u;
    u.eta = hp->eta;
    u.l2 = (float)(hp->lambda / hp->train_size);
    u.l1 = (float)(hp->l1 / hp->train_size);
    u.mu = hp->momentum;
    u.buf = velocities;
    u.kind = hp->nesterov ? UPDATE_NESTEROV : hp->momentum != 0.0f ? UPDATE_MOMENTUM : UPDATE_SGD;
    const int use_dropout = hp->dropout > 0.0f && net->L > 1;
    const int m = hp->mini_batch;
    // With a helper thread, it prepares mini-batch t+1's inputs while this thread goes from the
    // forward pass of t to its update (work the helper would otherwise spin through): the same
    // conversion, into the other input buffer, so the same bits. Inputs that need no conversion
    // (floats in the order given) are read in place.
    const int ahead = (order || !float_inputs) && gemm_helper_claim();
    NextInputs next = {net, a->x_next, inputs, float_inputs, order, 0, 0, (size_t)count};
    int prepared = 0;  // the current mini-batch's inputs are in a->x already
    uint64_t batch_index = first_batch;
    for (int start = 0; start < count; start += m, batch_index++) {
        const int B = count - start < m ? count - start : m;
        const float* x;
        if (prepared) {
            gemm_helper_join();
            float* t = a->x;
            a->x = a->x_next;
            a->x_next = t;
            x = a->x;
        } else {
            x = batch_inputs(net, a->x, inputs, float_inputs, order, (size_t)start, B, (size_t)count);
        }
        const uint8_t* y = labels + start;
        if (order) {
            for (int i = 0; i < B; i++) a->labels[i] = labels[order[start + i]];
            y = a->labels;
        }
        if (use_dropout) dropout_masks(net, a, B, hp->dropout, seed, epoch, batch_index);
        network_forward(net, params, a, x, B, use_dropout);
        prepared = 0;
        const int following = start + m;
        if (ahead && following < count) {
            next.x = a->x_next;
            next.start = (size_t)following;
            next.B = count - following < m ? count - following : m;
            prepared = gemm_helper_post(convert_next, &next);
        }
        output_delta(net, a, y, B);
        network_backward(net, params, a, x, B, &u);
    }
    if (ahead) gemm_helper_release();
    return first_nonfinite(net, params);
}

void evaluate(const Net* net, const float* params, Acts* a, const void* inputs, int float_inputs,
              const uint8_t* labels, int count, int* correct, double* cost) {
    int right = 0;
    double total = 0.0;
    for (int start = 0; start < count; start += a->B) {
        const int B = count - start < a->B ? count - start : a->B;
        const float* x = batch_inputs(net, a->x, inputs, float_inputs, NULL, (size_t)start, B, 0);
        network_forward(net, params, a, x, B, 0);
        right += count_correct(net, a, labels + start, B);
        total += cost_sum(net, a, labels + start, B);
    }
    *correct = right;
    *cost = total;
}

void predict(const Net* net, const float* params, Acts* a, const void* inputs, int float_inputs, int count,
             float* out) {
    const size_t n_out = (size_t)net->sizes[net->L];
    for (int start = 0; start < count; start += a->B) {
        const int B = count - start < a->B ? count - start : a->B;
        const float* x = batch_inputs(net, a->x, inputs, float_inputs, NULL, (size_t)start, B, 0);
        network_forward(net, params, a, x, B, 0);
        memcpy(out + (size_t)start * n_out, a->act[net->L], (size_t)B * n_out * sizeof(float));
    }
}
