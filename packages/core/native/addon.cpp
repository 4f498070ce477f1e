// addon.cpp — N-API glue only: unpack arguments, call network.cpp / rng.h, pack results.
// The TypeScript wrapper (src/native.ts and its callers) validated every argument: types,
// lengths, ranges, label values. Nothing here re-checks them.
//
// A network is described to every call by `layout`, an Int32Array [activation, cost, sizes...].
// Scratch buffers are Float32Arrays owned by the caller, sized by scratchFloats(layout, B).
//
//   initParams(layout, params: Float32Array, seed: bigint, large: 0|1): void
//   scratchFloats(layout, B): number
//   trainBatches(layout, params, velocities, scratch, scratchB, inputs: Uint8Array|Float32Array,
//                labels: Uint8Array, count, hyper: Float64Array[eta, lambda, l1, dropout, momentum,
//                nesterov, miniBatch, trainSize], seed: bigint, epoch, firstBatch): number
//                (index of the first non-finite parameter segment, 2l = W_l, 2l+1 = b_l; or -1)
//   computeGradient(layout, params, scratch, scratchB, inputs, labels, count, l2: number,
//                   l1: number, mask: Float32Array|null, grads: Float32Array): void
//   evaluate(layout, params, scratch, scratchB, inputs, labels, count): [correct, costSum]
//   predict(layout, params, scratch, scratchB, inputs, count, out: Float32Array): void
//   forward(layout, params, inputs, count, mask: Float32Array|null): Float32Array[] (act 1..L, z_L)
//   weightNorms(layout, params): [sumSquares, sumAbs]
//   firstNonFinite(layout, params): number
//   epochOrder(seed: bigint, epoch, n): Uint32Array
//   dropoutMask(layout, rate, seed: bigint, epoch, batchIndex, B): Float32Array (hidden masks)
//   gather(src: Uint8Array, rowBytes, indices: Uint32Array, start, count, out: Uint8Array): void
//   setBlasThreads(n): void, getBlasThreads(): number, blasConfig(): string
//   measureSgemmGflops(m, n, k, repeats, threads): number (GFLOP/s of C = A.B, row-major)
#include <napi.h>

#include <cblas.h>
#include <string.h>

#include <chrono>
#include <vector>

#include "network.h"
#include "rng.h"

namespace {

Net net_of(const Napi::Value& value) {
    auto layout = value.As<Napi::Int32Array>();
    const int32_t* p = layout.Data();
    Net net;
    net_setup(&net, p + 2, (int)layout.ElementLength() - 2, p[0], p[1]);
    return net;
}

float* floats_of(const Napi::Value& value) { return value.As<Napi::Float32Array>().Data(); }

uint64_t seed_of(const Napi::Value& value) {
    bool lossless = true;
    return value.As<Napi::BigInt>().Uint64Value(&lossless);
}

int int_of(const Napi::Value& value) { return value.As<Napi::Number>().Int32Value(); }
double double_of(const Napi::Value& value) { return value.As<Napi::Number>().DoubleValue(); }

// Pixels (uint8, scaled by 1/255 on the way in) or raw float inputs.
struct Inputs {
    const void* data;
    int is_float;
};

Inputs inputs_of(const Napi::Value& value) {
    auto array = value.As<Napi::TypedArray>();
    Inputs in;
    in.is_float = array.TypedArrayType() == napi_float32_array;
    in.data = (const uint8_t*)array.ArrayBuffer().Data() + array.ByteOffset();
    return in;
}

Acts acts_of(const Net& net, const Napi::Value& scratch, const Napi::Value& batch) {
    Acts a;
    acts_carve(&net, &a, floats_of(scratch), int_of(batch));
    return a;
}

Napi::Value InitParams(const Napi::CallbackInfo& info) {
    const Net net = net_of(info[0]);
    params_init(&net, floats_of(info[1]), seed_of(info[2]), int_of(info[3]));
    return info.Env().Undefined();
}

Napi::Value ScratchFloats(const Napi::CallbackInfo& info) {
    const Net net = net_of(info[0]);
    return Napi::Number::New(info.Env(), (double)acts_floats(&net, int_of(info[1])));
}

Napi::Value TrainBatches(const Napi::CallbackInfo& info) {
    const Net net = net_of(info[0]);
    float* params = floats_of(info[1]);
    float* velocities = floats_of(info[2]);
    Acts a = acts_of(net, info[3], info[4]);
    const Inputs in = inputs_of(info[5]);
    const uint8_t* labels = info[6].As<Napi::Uint8Array>().Data();
    const int count = int_of(info[7]);
    const double* h = info[8].As<Napi::Float64Array>().Data();
    HyperParams hp;
    hp.eta = (float)h[0];
    hp.lambda = (float)h[1];
    hp.l1 = (float)h[2];
    hp.dropout = (float)h[3];
    hp.momentum = (float)h[4];
    hp.nesterov = h[5] != 0.0;
    hp.mini_batch = (int)h[6];
    hp.train_size = h[7];
    const int bad = train_batches(&net, params, velocities, &a, in.data, in.is_float, labels, count, &hp,
                                  seed_of(info[9]), (uint64_t)double_of(info[10]), (uint64_t)double_of(info[11]));
    return Napi::Number::New(info.Env(), bad);
}

// A single forward pass with caller-fixed dropout masks (tests and gradient checks): copies the
// masks, hidden layer by hidden layer, each (count, sizes[l]), into a.mask when one is given;
// returns the inputs as floats; *use_mask says whether a mask was given.
const float* fixed_pass_inputs(const Net& net, Acts* a, const Inputs& in, const Napi::Value& mask, int count, int* use_mask) {
    *use_mask = mask.IsTypedArray();
    if (*use_mask) {
        const float* m = floats_of(mask);
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
    const Net net = net_of(info[0]);
    float* params = floats_of(info[1]);
    Acts a = acts_of(net, info[2], info[3]);
    const Inputs in = inputs_of(info[4]);
    const uint8_t* labels = info[5].As<Napi::Uint8Array>().Data();
    const int count = int_of(info[6]);
    Update u;
    u.kind = UPDATE_GRADIENT;
    u.eta = 0.0f;
    u.mu = 0.0f;
    u.l2 = (float)double_of(info[7]);
    u.l1 = (float)double_of(info[8]);
    u.buf = floats_of(info[10]);
    int use_mask;
    const float* x = fixed_pass_inputs(net, &a, in, info[9], count, &use_mask);
    network_forward(&net, params, &a, x, count, use_mask);
    output_delta(&net, &a, labels, count);
    network_backward(&net, params, &a, x, count, &u);
    return info.Env().Undefined();
}

Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Net net = net_of(info[0]);
    Acts a = acts_of(net, info[2], info[3]);
    const Inputs in = inputs_of(info[4]);
    int correct = 0;
    double cost = 0.0;
    evaluate(&net, floats_of(info[1]), &a, in.data, in.is_float, info[5].As<Napi::Uint8Array>().Data(), int_of(info[6]),
             &correct, &cost);
    auto result = Napi::Array::New(env, 2);
    result.Set((uint32_t)0, Napi::Number::New(env, correct));
    result.Set((uint32_t)1, Napi::Number::New(env, cost));
    return result;
}

Napi::Value Predict(const Napi::CallbackInfo& info) {
    const Net net = net_of(info[0]);
    Acts a = acts_of(net, info[2], info[3]);
    const Inputs in = inputs_of(info[4]);
    predict(&net, floats_of(info[1]), &a, in.data, in.is_float, int_of(info[5]), floats_of(info[6]));
    return info.Env().Undefined();
}

Napi::Value Forward(const Napi::CallbackInfo& info) {
    // for tests: one pass over all count examples, every layer's output copied out
    Napi::Env env = info.Env();
    const Net net = net_of(info[0]);
    const int count = int_of(info[3]);
    std::vector<float> scratch(acts_floats(&net, count));
    Acts a;
    acts_carve(&net, &a, scratch.data(), count);
    const Inputs in = inputs_of(info[2]);
    int use_mask;
    const float* x = fixed_pass_inputs(net, &a, in, info[4], count, &use_mask);
    network_forward(&net, floats_of(info[1]), &a, x, count, use_mask);
    auto result = Napi::Array::New(env, net.L + 1);
    for (int l = 1; l <= net.L + 1; l++) {
        const int width = net.sizes[l <= net.L ? l : net.L];
        const float* src = l <= net.L ? a.act[l] : a.z_out;
        auto out = Napi::Float32Array::New(env, (size_t)count * width);
        memcpy(out.Data(), src, (size_t)count * width * sizeof(float));
        result.Set((uint32_t)(l - 1), out);
    }
    return result;
}

Napi::Value WeightNorms(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Net net = net_of(info[0]);
    double sq = 0.0, ab = 0.0;
    weight_norms(&net, floats_of(info[1]), &sq, &ab);
    auto result = Napi::Array::New(env, 2);
    result.Set((uint32_t)0, Napi::Number::New(env, sq));
    result.Set((uint32_t)1, Napi::Number::New(env, ab));
    return result;
}

Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
    const Net net = net_of(info[0]);
    return Napi::Number::New(info.Env(), first_nonfinite(&net, floats_of(info[1])));
}

Napi::Value EpochOrder(const Napi::CallbackInfo& info) {
    const uint32_t n = (uint32_t)double_of(info[2]);
    auto order = Napi::Uint32Array::New(info.Env(), n);
    epoch_order(seed_of(info[0]), (uint64_t)double_of(info[1]), n, order.Data());
    return order;
}

Napi::Value DropoutMask(const Napi::CallbackInfo& info) {
    const Net net = net_of(info[0]);
    const int B = int_of(info[5]);
    std::vector<float> scratch(acts_floats(&net, B));
    Acts a;
    acts_carve(&net, &a, scratch.data(), B);
    dropout_masks(&net, &a, B, (float)double_of(info[1]), seed_of(info[2]), (uint64_t)double_of(info[3]),
                  (uint64_t)double_of(info[4]));
    size_t total = 0;
    for (int l = 1; l < net.L; l++) total += (size_t)B * net.sizes[l];
    auto out = Napi::Float32Array::New(info.Env(), total);
    float* dst = out.Data();
    for (int l = 1; l < net.L; l++) {
        const size_t n = (size_t)B * net.sizes[l];
        memcpy(dst, a.mask[l], n * sizeof(float));
        dst += n;
    }
    return out;
}

Napi::Value Gather(const Napi::CallbackInfo& info) {
    // out[i] = src row indices[start + i], rows of rowBytes bytes
    const uint8_t* src = info[0].As<Napi::Uint8Array>().Data();
    const size_t row = (size_t)double_of(info[1]);
    const uint32_t* indices = info[2].As<Napi::Uint32Array>().Data() + (size_t)double_of(info[3]);
    const size_t count = (size_t)double_of(info[4]);
    uint8_t* out = info[5].As<Napi::Uint8Array>().Data();
    if (row == 1) {
        for (size_t i = 0; i < count; i++) out[i] = src[indices[i]];
    } else {
        for (size_t i = 0; i < count; i++) memcpy(out + i * row, src + (size_t)indices[i] * row, row);
    }
    return info.Env().Undefined();
}

Napi::Value SetBlasThreads(const Napi::CallbackInfo& info) {
    openblas_set_num_threads(int_of(info[0]));
    return info.Env().Undefined();
}

Napi::Value GetBlasThreads(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), openblas_get_num_threads());
}

Napi::Value BlasConfig(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), openblas_get_config());
}

// The machine's cblas_sgemm rate at one shape and thread count: the ceiling `npm run bench -- core`
// reads the core's achieved GFLOP/s against, measured in the same process and run. Deterministic
// operands (no denormals, no NaN); one untimed call first so OpenBLAS's buffers and thread pool are
// up. The caller's thread count is restored, so training after it keeps its bit-identity.
Napi::Value MeasureSgemmGflops(const Napi::CallbackInfo& info) {
    const int m = int_of(info[0]), n = int_of(info[1]), k = int_of(info[2]);
    const int repeats = int_of(info[3]), threads = int_of(info[4]);
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
    exports.Set("initParams", Napi::Function::New(env, InitParams));
    exports.Set("scratchFloats", Napi::Function::New(env, ScratchFloats));
    exports.Set("trainBatches", Napi::Function::New(env, TrainBatches));
    exports.Set("computeGradient", Napi::Function::New(env, ComputeGradient));
    exports.Set("evaluate", Napi::Function::New(env, Evaluate));
    exports.Set("predict", Napi::Function::New(env, Predict));
    exports.Set("forward", Napi::Function::New(env, Forward));
    exports.Set("weightNorms", Napi::Function::New(env, WeightNorms));
    exports.Set("firstNonFinite", Napi::Function::New(env, FirstNonFinite));
    exports.Set("epochOrder", Napi::Function::New(env, EpochOrder));
    exports.Set("dropoutMask", Napi::Function::New(env, DropoutMask));
    exports.Set("gather", Napi::Function::New(env, Gather));
    exports.Set("setBlasThreads", Napi::Function::New(env, SetBlasThreads));
    exports.Set("getBlasThreads", Napi::Function::New(env, GetBlasThreads));
    exports.Set("blasConfig", Napi::Function::New(env, BlasConfig));
    exports.Set("measureSgemmGflops", Napi::Function::New(env, MeasureSgemmGflops));
    exports.Set("maxLayers", Napi::Number::New(env, MAX_LAYERS));
}

}  // namespace

// ---- other modules' registration functions ---------------------------------------------------
// Each native module exports `void RegisterX(Napi::Env, Napi::Object)`; declare it here, call it in
// Init below, and add its .cpp to binding.gyp's "sources". For example, the augmentation kernels:
//   void RegisterAugment(Napi::Env env, Napi::Object exports);   // native/augment.cpp
// ------------------------------------------------------------------------------------------------

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    RegisterCore(env, exports);
    // RegisterAugment(env, exports);
    return exports;
}

NODE_API_MODULE(mnist_core, Init)
