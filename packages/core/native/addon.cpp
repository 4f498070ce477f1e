// addon.cpp — N-API glue: check the arguments, unpack them, call network.cpp / rng.h, pack results.
//
// The TypeScript wrapper (src/*.ts) validates every argument first and reports problems in the
// API's own terms. This file checks again, at the boundary, everything that decides which memory
// a call touches, so one wrong call throws instead of corrupting memory silently: the argument
// count; every type before it is unpacked; integer ranges (and doubles that become ints or
// floats); the layout (2 to MAX_LAYERS + 1 sizes, copied, then checked, then set up from the
// copy); every buffer's length against what the call will read or write, computed in 64 bits;
// labels and a training order's indices against what they index (and not in a SharedArrayBuffer,
// where another thread could change them after the check). A bad argument throws a TypeError
// (wrong type) or a RangeError (wrong value, length or count): "fn: field is value; allowed:
// what". The checks are O(1) per call, except labels and a training order: one pass over them
// before anything is written.
//
// A network is described to every call by `layout`, an Int32Array [activation, cost, sizes...].
// Scratch buffers are Float32Arrays owned by the caller, sized by scratchFloats(layout, B).
//
//   initParams(layout, params: Float32Array, seed: bigint, large: 0|1): void
//   scratchFloats(layout, B): number
//   trainBatches(layout, params, velocities, scratch, scratchB, inputs: Uint8Array|Float32Array,
//                labels: Uint8Array, count, hyper: Float64Array[eta, lambda, l1, dropout, momentum,
//                nesterov, miniBatch, trainSize], seed: bigint, epoch, firstBatch,
//                order: Uint32Array|null): number
//                (index of the first non-finite parameter segment, 2l = W_l, 2l+1 = b_l; or -1);
//                with an order, example i is row order[i] of inputs and labels (whole datasets)
//   computeGradient(layout, params, scratch, scratchB, inputs, labels, count, l2: number,
//                   l1: number, mask: Float32Array|null, grads: Float32Array): void
//   evaluate(layout, params, scratch, scratchB, inputs, labels, count): [correct, costSum]
//   predict(layout, params, scratch, scratchB, inputs, count, out: Float32Array): void
//   forward(layout, params, inputs, count, mask: Float32Array|null): Float32Array[] (act 1..L, z_L)
//   weightNorms(layout, params): [sumSquares, sumAbs]
//   firstNonFinite(layout, params): number
//   epochOrder(seed: bigint, epoch, n): Uint32Array
//   dropoutMask(layout, rate, seed: bigint, epoch, batchIndex, B): Float32Array (hidden masks)
//   setBlasThreads(n): void, getBlasThreads(): number
//   blasConfig(): string (OpenBLAS's build description, then "; kernels: " and the family of
//                gemm.h's kernels in use: avx512, avx2 or blas)
//   gemmKernels(family?: string): string — not in the TypeScript API (tests, benchmarks): the
//                kernel family in use; given "avx512", "avx2", "blas" or "auto", first switches to
//                it (never above what the CPU supports; "auto" = the CPU's best). Process-wide.
//   measureSgemmGflops(m, n, k, repeats, threads): number (GFLOP/s of C = A.B, row-major)
#include <napi.h>

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <new>
#include <string>
#include <vector>

#include "gemm.h"
#include "napi_checks.h"
#include "network.h"
#include "rng.h"

namespace {

// ----------------------------------------------------------------------------
// limits (the same as src/options.ts and src/blas.ts, except where noted)

const int MAX_LAYER_SIZE = 65536;                // options.ts maxLayerSize
const uint64_t MAX_PARAMS = 1ull << 28;          // options.ts maxParams
const int MAX_BATCH = 1 << 20;                   // mini-batch, scratch batch, forward/gradient count
const int64_t MAX_U32 = 4294967295LL;            // epochs, mini-batch indices, epochOrder's n
const int64_t MAX_I32 = 2147483647LL;            // example counts (the loops count in int)
const uint64_t MAX_OWN_FLOATS = 1ull << 28;      // buffers this file allocates itself: 1 GiB (not in TS)
const int MAX_THREADS = 256;
const int MAX_SGEMM_DIM = 1 << 16;
const uint64_t MAX_SGEMM_OPERAND = 1ull << 26;

// ----------------------------------------------------------------------------
// argument checks: the common ones (types, counts, ranges, lengths) are napi_checks.h's, shared
// with the augment addon; these are the core's own

using namespace napi_checks;

// layout: Int32Array [activation, cost, sizes...] with 2 to MAX_LAYERS + 1 sizes, each in
// [1, MAX_LAYER_SIZE], at most MAX_PARAMS parameters; copied first, then checked, then set up
// from the checked copy.
Net layout_arg(const Args& a, size_t i) {
    const View v = array_arg(a, i, "layout", napi_int32_array);
    if (v.length < 4 || v.length > MAX_LAYERS + 3) {
        reject(a, false, "layout.length", format("%zu", v.length),
               format("4 to %d: [activation, cost, sizes...] with 2 to %d layer sizes", MAX_LAYERS + 3, MAX_LAYERS + 1));
    }
    int32_t p[MAX_LAYERS + 3];
    memcpy(p, v.data, v.length * sizeof(int32_t));
    if (p[0] < ACT_SIGMOID || p[0] > ACT_RELU) reject(a, false, "layout[0] (activation)", format("%d", p[0]), "0 sigmoid, 1 tanh, 2 relu");
    if (p[1] < COST_QUADRATIC || p[1] > COST_LOG_LIKELIHOOD) {
        reject(a, false, "layout[1] (cost)", format("%d", p[1]), "0 quadratic, 1 cross-entropy, 2 log-likelihood");
    }
    uint64_t params = 0;
    for (size_t k = 2; k < v.length; k++) {
        if (p[k] < 1 || p[k] > MAX_LAYER_SIZE) {
            reject(a, false, format("layout[%zu] (sizes[%zu])", k, k - 2), format("%d", p[k]), format("an integer from 1 to %d", MAX_LAYER_SIZE));
        }
        if (k > 2) params += (uint64_t)p[k] * (uint64_t)p[k - 1] + (uint64_t)p[k];
    }
    if (params > MAX_PARAMS) {
        reject(a, false, "layout", format("sizes with %llu parameters", (unsigned long long)params),
               format("at most %llu parameters in all", (unsigned long long)MAX_PARAMS));
    }
    Net net;
    net_setup(&net, p + 2, (int)v.length - 2, p[0], p[1]);
    return net;
}

// A buffer in the parameter layout (params, velocities, gradients): at least num_params floats.
float* params_arg(const Args& a, size_t i, const char* field, const Net& net) {
    const View v = array_arg(a, i, field, napi_float32_array);
    need_length(a, field, v, net.num_params, "the layout's parameter count");
    return (float*)v.data;
}

// scratch (Float32Array) for scratchBatch (argument i + 1) examples, carved into a.
Acts scratch_arg(const Args& a, size_t i, const Net& net) {
    const View v = array_arg(a, i, "scratch", napi_float32_array);
    const int B = (int)integer_arg(a, i + 1, "scratchBatch", 1, MAX_BATCH);
    need_length(a, "scratch", v, acts_floats(&net, B), format("scratchFloats(layout, %d)", B));
    Acts acts;
    acts_carve(&net, &acts, (float*)v.data, B);
    return acts;
}

// Pixels (uint8, scaled by 1/255 on the way in) or raw float inputs, count × sizes[0] of them.
struct Inputs {
    const void* data;
    int is_float;
};

Inputs inputs_arg(const Args& a, size_t i, int count, const Net& net) {
    const Napi::Value v = a[i];
    const char* allowed = "a Uint8Array of pixels or a Float32Array of inputs";
    if (!v.IsTypedArray()) reject(a, true, "inputs", show(v), allowed);
    const View view = view_of(v);
    if (view.type != napi_uint8_array && view.type != napi_float32_array) reject(a, true, "inputs", show(v), allowed);
    need_length(a, "inputs", view, (uint64_t)count * net.sizes[0], format("count × sizes[0] = %d × %d", count, net.sizes[0]));
    Inputs in;
    in.data = view.data;
    in.is_float = view.type == napi_float32_array;
    return in;
}

// One class index per example, each below the output layer's size (output_delta writes at it).
const uint8_t* labels_arg(const Args& a, size_t i, int count, const Net& net) {
    const View v = array_arg(a, i, "labels", napi_uint8_array);
    need_unshared(a, "labels", v);
    need_length(a, "labels", v, (uint64_t)count, "count");
    const uint8_t* y = (const uint8_t*)v.data;
    const int classes = net.sizes[net.L];
    if (classes > 255) return y;
    uint8_t top = 0;
    for (int k = 0; k < count; k++) top = y[k] > top ? y[k] : top;
    if (top >= classes) {
        int k = 0;
        while (y[k] < classes) k++;
        reject(a, false, format("labels[%d]", k), format("%d", y[k]), format("a class index below %d, the output layer's size", classes));
    }
    return y;
}

// Fixed dropout multipliers: null/undefined, or hidden layer by hidden layer, count × sizes[l] each.
const float* mask_arg(const Args& a, size_t i, int count, const Net& net) {
    const Napi::Value v = a[i];
    if (v.IsNull() || v.IsUndefined()) return NULL;
    if (!v.IsTypedArray() || view_of(v).type != napi_float32_array) reject(a, true, "mask", show(v), "null or a Float32Array");
    const View view = view_of(v);
    uint64_t hidden = 0;
    for (int l = 1; l < net.L; l++) hidden += (uint64_t)net.sizes[l];
    need_length(a, "mask", view, (uint64_t)count * hidden,
                format("count × (sum of the hidden layers' sizes) = %d × %llu", count, (unsigned long long)hidden));
    return (const float*)view.data;
}

// The total of a buffer this file allocates itself.
void need_own_floats(const Args& a, const char* what, uint64_t floats) {
    if (floats > MAX_OWN_FLOATS) {
        reject(a, false, what, format("%llu floats", (unsigned long long)floats),
               format("at most %llu floats (1 GiB); use a smaller count", (unsigned long long)MAX_OWN_FLOATS));
    }
}

// Every export runs through this: argument errors become JavaScript exceptions, never a crash.
template <Entry F>
Napi::Value entry(const Napi::CallbackInfo& info) {
    return run_checked("mnist_core", F, info);
}

// ----------------------------------------------------------------------------
// entry points

Napi::Value InitParams(const Napi::CallbackInfo& info) {
    const Args a{info, "initParams"};
    need_args(a, 4, "layout, params, seed, large");
    const Net net = layout_arg(a, 0);
    float* params = params_arg(a, 1, "params", net);
    const uint64_t seed = seed_arg(a, 2, "seed");
    const int large = (int)integer_arg(a, 3, "large", 0, 1);
    params_init(&net, params, seed, large);
    return info.Env().Undefined();
}

Napi::Value ScratchFloats(const Napi::CallbackInfo& info) {
    const Args a{info, "scratchFloats"};
    need_args(a, 2, "layout, B");
    const Net net = layout_arg(a, 0);
    const int B = (int)integer_arg(a, 1, "B", 1, MAX_BATCH);
    return Napi::Number::New(info.Env(), (double)acts_floats(&net, B));
}

// An order of count row indices (a Uint32Array, not shared), or NULL for null/undefined.
const uint32_t* order_arg(const Args& a, size_t i, int count) {
    const Napi::Value v = a[i];
    if (v.IsNull() || v.IsUndefined()) return NULL;
    const View view = array_arg(a, i, "order", napi_uint32_array);
    need_unshared(a, "order", view);
    need_length(a, "order", view, (uint64_t)count, "count");
    return (const uint32_t*)view.data;
}

// indices[0 .. count) all below rows, or a RangeError naming the first that is not.
void need_indices_below(const Args& a, const char* field, const uint32_t* indices, size_t count, uint64_t rows, const char* what) {
    uint32_t top = 0;
    for (size_t i = 0; i < count; i++) top = indices[i] > top ? indices[i] : top;
    if (count > 0 && top >= rows) {
        size_t i = 0;
        while (indices[i] < rows) i++;
        reject(a, false, format("%s[%zu]", field, i), format("%u", indices[i]), format("below %llu, %s", (unsigned long long)rows, what));
    }
}

// A checked trainBatches call: everything train_batches reads and writes, found in the arguments.
struct TrainCall {
    Net net;
    float* params;
    float* velocities;
    Acts acts;
    Inputs in;
    const uint8_t* labels;
    const uint32_t* order;  // NULL: the examples in the order given
    int count;
    HyperParams hp;
    uint64_t seed, epoch, first_batch;
};

TrainCall train_call(const Args& a) {
    need_args(a, 13, "layout, params, velocities, scratch, scratchBatch, inputs, labels, count, hyper, seed, epoch, firstBatch, order");
    TrainCall c;
    c.net = layout_arg(a, 0);
    const Net& net = c.net;
    c.params = params_arg(a, 1, "params", net);
    c.velocities = params_arg(a, 2, "velocities", net);
    c.acts = scratch_arg(a, 3, net);
    const View hv = array_arg(a, 8, "hyper", napi_float64_array);
    if (hv.length != 8) {
        reject(a, false, "hyper.length", format("%zu", hv.length), "8: [eta, lambda, l1, dropout, momentum, nesterov, miniBatch, trainSize]");
    }
    const double* h = (const double*)hv.data;
    HyperParams& hp = c.hp;
    hp.eta = (float)real_value(a, "hyper[0] (eta)", h[0], 0.0, FLT_MAX, true, false);
    hp.lambda = (float)real_value(a, "hyper[1] (lambda)", h[1], 0.0, FLT_MAX, false, false);
    hp.l1 = (float)real_value(a, "hyper[2] (l1)", h[2], 0.0, FLT_MAX, false, false);
    hp.dropout = (float)real_value(a, "hyper[3] (dropout)", h[3], 0.0, 1.0, false, true);
    hp.momentum = (float)real_value(a, "hyper[4] (momentum)", h[4], 0.0, 1.0, false, true);
    hp.nesterov = (int)integer_value(a, "hyper[5] (nesterov)", h[5], 0, 1);
    hp.mini_batch = (int)integer_value(a, "hyper[6] (miniBatch)", h[6], 1, MAX_BATCH);
    hp.train_size = (double)integer_value(a, "hyper[7] (trainSize)", h[7], 1, MAX_I32);
    // the loop steps start += miniBatch while start < count, in int
    c.count = (int)integer_arg(a, 7, "count", 0, MAX_I32 - hp.mini_batch + 1);
    const int biggest = c.count < hp.mini_batch ? c.count : hp.mini_batch;
    if (biggest > c.acts.B) {
        reject(a, false, "scratchBatch", format("%d", c.acts.B),
               format("at least min(miniBatch, count) = min(%d, %d) = %d, the call's largest mini-batch", hp.mini_batch, c.count, biggest));
    }
    c.order = order_arg(a, 12, c.count);
    if (c.order) {
        // whole datasets, indexed by the order: every label checked, every index below the rows
        c.in = inputs_arg(a, 5, 0, net);
        const int64_t whole = (int64_t)(view_of(a[5]).length / net.sizes[0]);
        const int rows = (int)(whole < MAX_I32 ? whole : MAX_I32);
        c.labels = labels_arg(a, 6, rows, net);
        need_indices_below(a, "order", c.order, c.count, (uint64_t)rows, "the rows of inputs (inputs.length / sizes[0])");
    } else {
        c.in = inputs_arg(a, 5, c.count, net);
        c.labels = labels_arg(a, 6, c.count, net);
    }
    c.seed = seed_arg(a, 9, "seed");
    c.epoch = (uint64_t)integer_arg(a, 10, "epoch", 0, MAX_U32);
    c.first_batch = (uint64_t)integer_arg(a, 11, "firstBatch", 0, MAX_U32);
    return c;
}

int run_train_call(TrainCall* c) {
    return train_batches(&c->net, c->params, c->velocities, &c->acts, c->in.data, c->in.is_float, c->labels, c->order, c->count, &c->hp, c->seed, c->epoch, c->first_batch);
}

Napi::Value TrainBatches(const Napi::CallbackInfo& info) {
    TrainCall c = train_call(Args{info, "trainBatches"});
    return Napi::Number::New(info.Env(), run_train_call(&c));
}

// trainBatches on the libuv thread pool, so that a trainer's runs train in parallel and its event
// loop stays free for gRPC. The buffers it reads and writes (params, velocities, scratch, inputs,
// labels, order) are held until it is done; the caller must not touch them before the promise
// settles.
class TrainWorker : public Napi::AsyncWorker {
 public:
    TrainWorker(const Napi::CallbackInfo& info, const TrainCall& call)
        : Napi::AsyncWorker(info.Env(), "mnist-train"), call_(call), deferred_(Napi::Promise::Deferred::New(info.Env())) {
        const size_t held[] = {1, 2, 3, 5, 6, 12};
        for (size_t k = 0; k < 6; k++)
            if (info[held[k]].IsObject()) refs_[k] = Napi::Persistent(info[held[k]].As<Napi::Object>());
    }
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override { bad_ = run_train_call(&call_); }
    void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), bad_)); }
    void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
    TrainCall call_;
    int bad_ = -1;
    Napi::Promise::Deferred deferred_;
    Napi::ObjectReference refs_[6];
};

Napi::Value TrainBatchesAsync(const Napi::CallbackInfo& info) {
    // everything is checked here, synchronously, before the work is queued
    const TrainCall c = train_call(Args{info, "trainBatchesAsync"});
    auto* worker = new TrainWorker(info, c);
    auto promise = worker->Promise();
    worker->Queue();
    return promise;
}

// A single forward pass with caller-fixed dropout masks (tests and gradient checks): copies the
// masks, hidden layer by hidden layer, each (count, sizes[l]), into a.mask when one is given;
// returns the inputs as floats; *use_mask says whether a mask was given.
const float* fixed_pass_inputs(const Net& net, Acts* a, const Inputs& in, const float* mask, int count, int* use_mask) {
    *use_mask = mask != NULL;
    if (mask) {
        const float* m = mask;
        for (int l = 1; l < net.L; l++) {
            const size_t n = (size_t)count * net.sizes[l];
            memcpy(a->mask[l], m, n * sizeof(float));
            m += n;
        }
    }
    if (in.is_float) return (const float*)in.data;
    inputs_from_pixels(a->x, (const uint8_t*)in.data, (size_t)count * net.sizes[0]);
    return a->x;
}

Napi::Value ComputeGradient(const Napi::CallbackInfo& info) {
    const Args a{info, "computeGradient"};
    need_args(a, 11, "layout, params, scratch, scratchBatch, inputs, labels, count, l2, l1, mask, grads");
    const Net net = layout_arg(a, 0);
    float* params = params_arg(a, 1, "params", net);
    Acts acts = scratch_arg(a, 2, net);
    // one pass over all count examples: the scratch must hold them all
    const int count = (int)integer_arg(a, 6, "count", 1, acts.B);
    const Inputs in = inputs_arg(a, 4, count, net);
    const uint8_t* labels = labels_arg(a, 5, count, net);
    Update u;
    u.kind = UPDATE_GRADIENT;
    u.eta = 0.0f;
    u.mu = 0.0f;
    u.l2 = (float)real_arg(a, 7, "l2", 0.0, FLT_MAX, false, false);
    u.l1 = (float)real_arg(a, 8, "l1", 0.0, FLT_MAX, false, false);
    const float* mask = mask_arg(a, 9, count, net);
    u.buf = params_arg(a, 10, "grads", net);
    int use_mask;
    const float* x = fixed_pass_inputs(net, &acts, in, mask, count, &use_mask);
    network_forward(&net, params, &acts, x, count, use_mask);
    output_delta(&net, &acts, labels, count);
    network_backward(&net, params, &acts, x, count, &u);
    return info.Env().Undefined();
}

// The arguments evaluate and predict share: layout, params, scratch, scratchBatch (0 to 3), count
// (count_index) and inputs (4), checked in that order. Both go through the count examples
// scratchBatch at a time.
struct BatchedPass {
    Net net;
    const float* params;
    Acts acts;
    int count;
    Inputs in;
};

BatchedPass batched_pass_args(const Args& a, size_t count_index) {
    BatchedPass p;
    p.net = layout_arg(a, 0);
    p.params = params_arg(a, 1, "params", p.net);
    p.acts = scratch_arg(a, 2, p.net);
    // the loop steps start += scratchBatch while start < count, in int
    p.count = (int)integer_arg(a, count_index, "count", 0, MAX_I32 - p.acts.B + 1);
    p.in = inputs_arg(a, 4, p.count, p.net);
    return p;
}

Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Args a{info, "evaluate"};
    need_args(a, 7, "layout, params, scratch, scratchBatch, inputs, labels, count");
    BatchedPass p = batched_pass_args(a, 6);
    const uint8_t* labels = labels_arg(a, 5, p.count, p.net);
    int correct = 0;
    double cost = 0.0;
    evaluate(&p.net, p.params, &p.acts, p.in.data, p.in.is_float, labels, p.count, &correct, &cost);
    auto result = made(env, Napi::Array::New(env, 2));
    result.Set((uint32_t)0, Napi::Number::New(env, correct));
    result.Set((uint32_t)1, Napi::Number::New(env, cost));
    return result;
}

Napi::Value Predict(const Napi::CallbackInfo& info) {
    const Args a{info, "predict"};
    need_args(a, 7, "layout, params, scratch, scratchBatch, inputs, count, out");
    BatchedPass p = batched_pass_args(a, 5);
    const View out = array_arg(a, 6, "out", napi_float32_array);
    const int n_out = p.net.sizes[p.net.L];
    need_length(a, "out", out, (uint64_t)p.count * n_out, format("count × sizes[%d] = %d × %d", p.net.L, p.count, n_out));
    predict(&p.net, p.params, &p.acts, p.in.data, p.in.is_float, p.count, (float*)out.data);
    return info.Env().Undefined();
}

Napi::Value Forward(const Napi::CallbackInfo& info) {
    // for tests: one pass over all count examples, every layer's output copied out
    Napi::Env env = info.Env();
    const Args a{info, "forward"};
    need_args(a, 5, "layout, params, inputs, count, mask");
    const Net net = layout_arg(a, 0);
    const float* params = params_arg(a, 1, "params", net);
    const int count = (int)integer_arg(a, 3, "count", 1, MAX_BATCH);
    const Inputs in = inputs_arg(a, 2, count, net);
    const float* mask = mask_arg(a, 4, count, net);
    const size_t floats = acts_floats(&net, count);  // holds every output copied below, too
    need_own_floats(a, "scratchFloats(layout, count)", floats);
    std::vector<float> scratch(floats);
    Acts acts;
    acts_carve(&net, &acts, scratch.data(), count);
    int use_mask;
    const float* x = fixed_pass_inputs(net, &acts, in, mask, count, &use_mask);
    network_forward(&net, params, &acts, x, count, use_mask);
    auto result = made(env, Napi::Array::New(env, net.L + 1));
    for (int l = 1; l <= net.L + 1; l++) {
        const int width = net.sizes[l <= net.L ? l : net.L];
        const float* src = l <= net.L ? acts.act[l] : acts.z_out;
        auto out = made(env, Napi::Float32Array::New(env, (size_t)count * width));
        memcpy(out.Data(), src, (size_t)count * width * sizeof(float));
        result.Set((uint32_t)(l - 1), out);
    }
    return result;
}

Napi::Value WeightNorms(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Args a{info, "weightNorms"};
    need_args(a, 2, "layout, params");
    const Net net = layout_arg(a, 0);
    const float* params = params_arg(a, 1, "params", net);
    double sq = 0.0, ab = 0.0;
    weight_norms(&net, params, &sq, &ab);
    auto result = made(env, Napi::Array::New(env, 2));
    result.Set((uint32_t)0, Napi::Number::New(env, sq));
    result.Set((uint32_t)1, Napi::Number::New(env, ab));
    return result;
}

Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
    const Args a{info, "firstNonFinite"};
    need_args(a, 2, "layout, params");
    const Net net = layout_arg(a, 0);
    const float* params = params_arg(a, 1, "params", net);
    return Napi::Number::New(info.Env(), first_nonfinite(&net, params));
}

Napi::Value EpochOrder(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Args a{info, "epochOrder"};
    need_args(a, 3, "seed, epoch, n");
    const uint64_t seed = seed_arg(a, 0, "seed");
    const uint64_t epoch = (uint64_t)integer_arg(a, 1, "epoch", 0, MAX_U32);
    const uint32_t n = (uint32_t)integer_arg(a, 2, "n", 0, MAX_U32);
    auto order = made(env, Napi::Uint32Array::New(env, n));
    epoch_order(seed, epoch, n, order.Data());
    return order;
}

Napi::Value DropoutMask(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Args a{info, "dropoutMask"};
    need_args(a, 6, "layout, rate, seed, epoch, batchIndex, B");
    const Net net = layout_arg(a, 0);
    const float rate = (float)real_arg(a, 1, "rate", 0.0, 1.0, false, true);
    const uint64_t seed = seed_arg(a, 2, "seed");
    const uint64_t epoch = (uint64_t)integer_arg(a, 3, "epoch", 0, MAX_U32);
    const uint64_t batch_index = (uint64_t)integer_arg(a, 4, "batchIndex", 0, MAX_U32);
    const int B = (int)integer_arg(a, 5, "B", 1, MAX_BATCH);
    uint64_t total = 0;
    for (int l = 1; l < net.L; l++) total += (uint64_t)B * net.sizes[l];
    need_own_floats(a, "B × (sum of the hidden layers' sizes)", total);
    // the masks are drawn straight into the result: hidden layer by hidden layer, (B, sizes[l]) each
    auto out = made(env, Napi::Float32Array::New(env, (size_t)total));
    Acts acts;
    memset(&acts, 0, sizeof acts);
    float* p = out.Data();
    for (int l = 1; l < net.L; l++) {
        acts.mask[l] = p;
        p += (size_t)B * net.sizes[l];
    }
    dropout_masks(&net, &acts, B, rate, seed, epoch, batch_index);
    return out;
}

Napi::Value SetBlasThreads(const Napi::CallbackInfo& info) {
    const Args a{info, "setBlasThreads"};
    need_args(a, 1, "threads");
    openblas_set_num_threads((int)integer_arg(a, 0, "threads", 1, MAX_THREADS));
    return info.Env().Undefined();
}

Napi::Value GetBlasThreads(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), openblas_get_num_threads());
}

Napi::Value BlasConfig(const Napi::CallbackInfo& info) {
    std::string config = openblas_get_config();
    while (!config.empty() && config.back() == ' ') config.pop_back();
    config += "; kernels: ";
    config += gemm_family_name(gemm_family());
    return Napi::String::New(info.Env(), config);
}

Napi::Value GemmKernels(const Napi::CallbackInfo& info) {
    const Args a{info, "gemmKernels"};
    if (info.Length() > 1) reject(a, false, "arguments", format("%zu", info.Length()), "0 or 1: [family]");
    if (info.Length() == 1 && !info[0].IsUndefined()) {
        if (!info[0].IsString()) reject(a, true, "family", show(info[0]), "\"avx512\", \"avx2\", \"blas\" or \"auto\"");
        const std::string name = info[0].As<Napi::String>().Utf8Value();
        int family;
        if (name == "avx512") family = GEMM_AVX512;
        else if (name == "avx2") family = GEMM_AVX2;
        else if (name == "blas") family = GEMM_BLAS;
        else if (name == "auto") family = -1;
        else reject(a, false, "family", show(info[0]), "\"avx512\", \"avx2\", \"blas\" or \"auto\"");
        gemm_force_family(family);
    }
    return Napi::String::New(info.Env(), gemm_family_name(gemm_family()));
}

// The machine's cblas_sgemm rate at one shape and thread count: the ceiling `npm run bench -- core`
// reads the core's achieved GFLOP/s against, measured in the same process and run. Deterministic
// operands (no denormals, no NaN); one untimed call first so OpenBLAS's buffers and thread pool are
// up. The caller's thread count is restored, so training after it keeps its bit-identity.
Napi::Value MeasureSgemmGflops(const Napi::CallbackInfo& info) {
    const Args a{info, "measureSgemmGflops"};
    need_args(a, 5, "m, n, k, repeats, threads");
    const int m = (int)integer_arg(a, 0, "m", 1, MAX_SGEMM_DIM);
    const int n = (int)integer_arg(a, 1, "n", 1, MAX_SGEMM_DIM);
    const int k = (int)integer_arg(a, 2, "k", 1, MAX_SGEMM_DIM);
    const int repeats = (int)integer_arg(a, 3, "repeats", 1, 1000000);
    const int threads = (int)integer_arg(a, 4, "threads", 1, MAX_THREADS);
    const char* names[3] = {"m × k", "k × n", "m × n"};
    const uint64_t sizes[3] = {(uint64_t)m * k, (uint64_t)k * n, (uint64_t)m * n};
    for (int i = 0; i < 3; i++) {
        if (sizes[i] > MAX_SGEMM_OPERAND) {
            reject(a, false, names[i], format("%llu floats", (unsigned long long)sizes[i]),
                   format("at most %llu floats per operand", (unsigned long long)MAX_SGEMM_OPERAND));
        }
    }
    std::vector<float> A((size_t)m * k), B((size_t)k * n), C((size_t)m * n, 0.0f);
    for (size_t i = 0; i < A.size(); i++) A[i] = (float)((int)(i % 17) - 8) * 0.01f;
    for (size_t i = 0; i < B.size(); i++) B[i] = (float)((int)(i % 13) - 6) * 0.01f;
    const int before = openblas_get_num_threads();
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, A.data(), k, B.data(), n, 0.0f, C.data(), n);
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < repeats; r++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, A.data(), k, B.data(), n, 0.0f, C.data(), n);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    openblas_set_num_threads(before);
    return Napi::Number::New(info.Env(), 2.0 * m * n * k * repeats / seconds / 1e9);
}

void RegisterCore(Napi::Env env, Napi::Object exports) {
    exports.Set("initParams", Napi::Function::New(env, entry<InitParams>));
    exports.Set("scratchFloats", Napi::Function::New(env, entry<ScratchFloats>));
    exports.Set("trainBatches", Napi::Function::New(env, entry<TrainBatches>));
    exports.Set("trainBatchesAsync", Napi::Function::New(env, entry<TrainBatchesAsync>));
    exports.Set("computeGradient", Napi::Function::New(env, entry<ComputeGradient>));
    exports.Set("evaluate", Napi::Function::New(env, entry<Evaluate>));
    exports.Set("predict", Napi::Function::New(env, entry<Predict>));
    exports.Set("forward", Napi::Function::New(env, entry<Forward>));
    exports.Set("weightNorms", Napi::Function::New(env, entry<WeightNorms>));
    exports.Set("firstNonFinite", Napi::Function::New(env, entry<FirstNonFinite>));
    exports.Set("epochOrder", Napi::Function::New(env, entry<EpochOrder>));
    exports.Set("dropoutMask", Napi::Function::New(env, entry<DropoutMask>));
    exports.Set("setBlasThreads", Napi::Function::New(env, entry<SetBlasThreads>));
    exports.Set("getBlasThreads", Napi::Function::New(env, entry<GetBlasThreads>));
    exports.Set("blasConfig", Napi::Function::New(env, entry<BlasConfig>));
    exports.Set("gemmKernels", Napi::Function::New(env, entry<GemmKernels>));
    exports.Set("measureSgemmGflops", Napi::Function::New(env, entry<MeasureSgemmGflops>));
    exports.Set("maxLayers", Napi::Number::New(env, MAX_LAYERS));
}

}  // namespace

// The core's entries only: the augmentation kernels are an addon of their own (packages/augment),
// which shares this directory's headers (rng.h, napi_checks.h) through its binding.gyp.
static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    RegisterCore(env, exports);
    return exports;
}

NODE_API_MODULE(mnist_core, Init)
