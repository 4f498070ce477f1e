// N-API bindings over kernels.h.
//
// The TypeScript wrapper (src/kernels.ts) validates every argument first and reports problems in
// the API's terms (AugmentArgumentError). This file checks again, at the boundary, everything that
// decides which memory a call touches, so one wrong call throws instead of corrupting memory: the
// argument count; every type before it is unpacked; integer ranges; the parameter vector's values
// (the ranges of src/spec.ts: out of them the kernels would convert NaN or huge doubles to int,
// which reads outside the padded image); every buffer's length against what the call reads or
// writes, in 64 bits; every index against the (expanded) source set; every map entry (finite,
// within ±1e6). Indices and maps may not live in a SharedArrayBuffer (another thread could change
// them after the check); the parameter vector is copied, then checked, then used. A bad argument
// throws a TypeError (wrong type) or a RangeError (wrong value, length or count): "fn: field is
// value; allowed: what". O(1) per call, except the indices and maps: one pass over them.
// augmentBatchAsync checks everything before it queues the work, on a private copy of the indices,
// so the caller changing them later cannot move a read out of bounds.
//
//   augmentBatch(src: Uint8Array, indices: Uint32Array, params: Float64Array(12), seed: bigint,
//                epoch: number, out: Uint8Array): void
//   augmentBatchAsync(same arguments): Promise<void>   (runs on the libuv thread pool)
//   affineBatch(src: Uint8Array, maps: Float64Array(count * 6), out: Uint8Array): void
//   drawExample(params: Float64Array(12), seed: bigint, epoch: number, index: number): Float64Array(11)
//   elasticField(seed: bigint, epoch: number, index: number, alpha: number, sigma: number): Float32Array(1568)
//   packPixels(pixels: Uint8Array(count * 784)): [packed: Uint8Array, ends: Uint32Array(count)]
//   selectPacked(set: Uint8Array, setEnds: Uint32Array, indices: Uint32Array): [packed: Uint8Array, ends: Uint32Array]
//                (setEnds: pack's ends for the set, checked to be non-decreasing and within set)
//   unpackPixels(packed: Uint8Array, count, out: Uint8Array, at: number, skip: Uint8Array(count)|null): boolean
//                (false, nothing written, when packed is not exactly count well-formed images)
//   unpackPixelsAsync(same arguments): Promise<void>   (on the libuv thread pool; checked first, a
//                malformed packing throws a RangeError before anything is queued)
#include <napi.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "kernels.h"
#include "packing.h"
#include "napi_checks.h"  // packages/core/native (binding.gyp include_dirs)

namespace {

// ----------------------------------------------------------------------------
// argument checks

using namespace napi_checks;

constexpr int64_t MAX_U32 = 4294967295LL;
constexpr double MAX_MAP = 1e6;  // kernels.ts affineBatch: |map entry| <= 1e6 keeps a*x + b*y + e finite in float

uint32_t uint32_arg(const Args& a, size_t i, const char* field) {
  return (uint32_t)integer_arg(a, i, field, 0, MAX_U32);
}

// Source images: a Uint8Array of whole 28×28 images; returns how many.
uint64_t images_arg(const Args& a, size_t i, const char* field) {
  const View v = array_arg(a, i, field, napi_uint8_array);
  if (v.length % aug::PIXELS != 0) {
    reject(a, false, format("%s.length", field), format("%zu", v.length), "a multiple of 784 (28×28 uint8 images)");
  }
  return v.length / aug::PIXELS;
}

// The parameter vector (kernels.h Params order), each value within src/spec.ts's ranges: outside
// them the kernels' float-to-int conversions are undefined (NaN angles, scale 1 dividing by 0,
// sigma so large that 3σ overflows int), and those conversions index the padded image.
aug::Params params_arg(const Args& a, size_t i) {
  const View v = array_arg(a, i, "params", napi_float64_array);
  if (v.length != (size_t)aug::PARAM_COUNT) {
    reject(a, false, "params.length", format("%zu", v.length),
           "12: [rotateP, rotateDegrees, translateP, translatePixels, skewP, skew, scaleP, scale, elasticP, elasticAlpha, "
           "elasticSigma, expandShifts]");
  }
  double p[aug::PARAM_COUNT];  // checked and used as copied: nothing can change them in between
  std::memcpy(p, v.data, sizeof p);
  struct Range {
    const char* name;
    double max;
    const char* meaning;
  };
  static const Range ranges[11] = {
      {"params[0] (rotate probability)", 1, "a probability"},    {"params[1] (rotate degrees)", 180, "degrees"},
      {"params[2] (translate probability)", 1, "a probability"}, {"params[3] (translate pixels)", 14, "pixels"},
      {"params[4] (skew probability)", 1, "a probability"},      {"params[5] (skew)", 2, "a shear factor"},
      {"params[6] (scale probability)", 1, "a probability"},     {"params[7] (scale)", 0.9, "a fraction"},
      {"params[8] (elastic probability)", 1, "a probability"},   {"params[9] (elastic alpha)", 200, "a displacement scale"},
      {"params[10] (elastic sigma)", 30, "a smoothing sigma"},
  };
  for (int k = 0; k < 11; k++) real_value(a, ranges[k].name, p[k], 0.0, ranges[k].max, false, false, ranges[k].meaning);
  if (p[8] > 0.0 && p[9] > 0.0 && !(p[10] > 0.0)) {
    reject(a, false, "params[10] (elastic sigma)", number_text(p[10]), "greater than 0 when elastic distortion is on (params[8] > 0, params[9] > 0)");
  }
  if (p[11] != 0.0 && p[11] != 1.0) reject(a, false, "params[11] (expandShifts)", number_text(p[11]), "0 or 1");
  return aug::params_from(p);
}

// Every index below the (expanded) training set's size: image j (or j / 5 with the expansion).
// One pass for the largest, a second only to name the first offender. copy, when given, receives
// the indices (the async path works on its own copy).
void check_indices(const Args& a, const uint32_t* indices, size_t count, uint64_t n_src, bool expand, uint32_t* copy) {
  const uint64_t size = expand ? 5 * n_src : n_src;
  uint32_t top = 0;
  if (copy) {
    for (size_t t = 0; t < count; t++) {
      const uint32_t j = indices[t];
      copy[t] = j;
      top = j > top ? j : top;
    }
    indices = copy;
  } else {
    for (size_t t = 0; t < count; t++) top = indices[t] > top ? indices[t] : top;
  }
  if (count > 0 && top >= size) {
    size_t t = 0;
    while (indices[t] < size) t++;
    reject(a, false, format("indices[%zu]", t), format("%u", indices[t]),
           format("below %llu, the %s (src holds %llu images)", (unsigned long long)size,
                  expand ? "expanded training set's size (5 × images)" : "number of source images", (unsigned long long)n_src));
  }
}

struct BatchArgs {
  const uint8_t* src;
  uint32_t n_src;
  const uint32_t* indices;
  uint32_t count;
  aug::Params params;
  uint64_t seed;
  uint32_t epoch;
  uint8_t* out;
};

// Checks augmentBatch's arguments; with copy, the indices are copied into it (and checked there).
BatchArgs batch_args(const Args& a, std::vector<uint32_t>* copy) {
  need_args(a, 6, "src, indices, params, seed, epoch, out");
  const uint64_t n_src = images_arg(a, 0, "src");
  if (n_src > MAX_U32) reject(a, false, "src.length", format("%llu images", (unsigned long long)n_src), "at most 4294967295 images");
  const View indices = array_arg(a, 1, "indices", napi_uint32_array);
  need_unshared(a, "indices", indices);
  if (indices.length > (size_t)MAX_U32) reject(a, false, "indices.length", format("%zu", indices.length), "at most 4294967295");
  BatchArgs args;
  args.params = params_arg(a, 2);
  args.seed = seed_arg(a, 3, "seed");
  args.epoch = uint32_arg(a, 4, "epoch");
  const View out = array_arg(a, 5, "out", napi_uint8_array);
  need_length(a, "out", out, (uint64_t)indices.length * aug::PIXELS, format("indices.length × 784 = %zu × 784", indices.length));
  args.src = (const uint8_t*)view_of(a[0]).data;
  args.n_src = (uint32_t)n_src;
  args.count = (uint32_t)indices.length;
  args.indices = (const uint32_t*)indices.data;
  if (copy) {
    copy->resize(indices.length);
    check_indices(a, args.indices, indices.length, n_src, args.params.expand_shifts != 0, copy->data());
    args.indices = copy->data();
  } else {
    check_indices(a, args.indices, indices.length, n_src, args.params.expand_shifts != 0, nullptr);
  }
  args.out = (uint8_t*)out.data;
  return args;
}

// Every export runs through this: argument errors become JavaScript exceptions, never a crash.
template <Entry F>
Napi::Value entry(const Napi::CallbackInfo& info) {
  return run_checked("mnist_augment", F, info);
}

// ----------------------------------------------------------------------------
// entry points

Napi::Value AugmentBatch(const Napi::CallbackInfo& info) {
  const BatchArgs a = batch_args(Args{info, "augmentBatch"}, nullptr);
  aug::augment_batch(a.src, a.n_src, a.indices, a.count, a.params, a.seed, a.epoch, a.out);
  return info.Env().Undefined();
}

class AugmentWorker : public Napi::AsyncWorker {
 public:
  AugmentWorker(const Napi::CallbackInfo& info, const BatchArgs& args, std::vector<uint32_t>&& indices)
      : Napi::AsyncWorker(info.Env(), "mnist-augment"),
        args_(args),
        indices_(std::move(indices)),
        deferred_(Napi::Promise::Deferred::New(info.Env())) {
    args_.indices = indices_.data();  // the checked copy: the caller may not move a read out of bounds
    // Keep the source and output buffers alive while the thread pool works on them.
    refs_[0] = Napi::Persistent(info[0].As<Napi::Object>());
    refs_[1] = Napi::Persistent(info[5].As<Napi::Object>());
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    aug::augment_batch(args_.src, args_.n_src, args_.indices, args_.count, args_.params, args_.seed, args_.epoch, args_.out);
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  BatchArgs args_;
  std::vector<uint32_t> indices_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference refs_[2];
};

Napi::Value AugmentBatchAsync(const Napi::CallbackInfo& info) {
  // everything is checked here, synchronously, before the work is queued
  std::vector<uint32_t> indices;
  const BatchArgs a = batch_args(Args{info, "augmentBatchAsync"}, &indices);
  auto* worker = new AugmentWorker(info, a, std::move(indices));
  auto promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value AffineBatch(const Napi::CallbackInfo& info) {
  const Args a{info, "affineBatch"};
  need_args(a, 3, "src, maps, out");
  const uint64_t count = images_arg(a, 0, "src");
  if (count > MAX_U32) reject(a, false, "src.length", format("%llu images", (unsigned long long)count), "at most 4294967295 images");
  const View maps = array_arg(a, 1, "maps", napi_float64_array);
  need_unshared(a, "maps", maps);
  need_length(a, "maps", maps, count * 6, format("images × 6 = %llu × 6", (unsigned long long)count));
  const View out = array_arg(a, 2, "out", napi_uint8_array);
  need_length(a, "out", out, count * aug::PIXELS, format("images × 784 = %llu × 784", (unsigned long long)count));
  const double* m = (const double*)maps.data;
  bool ok = true;
  for (uint64_t k = 0; k < count * 6; k++) ok &= std::fabs(m[k]) <= MAX_MAP;  // false for NaN too
  if (!ok) {
    uint64_t k = 0;
    while (std::fabs(m[k]) <= MAX_MAP) k++;
    reject(a, false, format("maps[%llu] (map %llu, entry %llu)", (unsigned long long)k, (unsigned long long)(k / 6), (unsigned long long)(k % 6)),
           number_text(m[k]), "a finite number within ±1e6");
  }
  aug::affine_batch((const uint8_t*)view_of(a[0]).data, (uint32_t)count, m, (uint8_t*)out.data);
  return info.Env().Undefined();
}

Napi::Value DrawExample(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a{info, "drawExample"};
  need_args(a, 4, "params, seed, epoch, index");
  const aug::Params p = params_arg(a, 0);
  const uint64_t seed = seed_arg(a, 1, "seed");
  const uint32_t epoch = uint32_arg(a, 2, "epoch");
  const uint32_t index = uint32_arg(a, 3, "index");
  aug::Draw d;
  aug::draw_example(p, seed, epoch, index, &d);
  auto result = made(env, Napi::Float64Array::New(env, aug::DRAW_FIELDS));
  const double values[aug::DRAW_FIELDS] = {(double)d.shift, (double)d.rotate, (double)d.translate, (double)d.skew,
                                           (double)d.scale, (double)d.elastic, d.angle_deg, d.tx, d.ty, d.shear, d.factor};
  for (int i = 0; i < aug::DRAW_FIELDS; i++) result[i] = values[i];
  return result;
}

Napi::Value ElasticField(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a{info, "elasticField"};
  need_args(a, 5, "seed, epoch, index, alpha, sigma");
  const uint64_t seed = seed_arg(a, 0, "seed");
  const uint32_t epoch = uint32_arg(a, 1, "epoch");
  const uint32_t index = uint32_arg(a, 2, "index");
  const double alpha = real_arg(a, 3, "alpha", 0.0, 200.0, false, false, "a displacement scale");
  const double sigma = real_arg(a, 4, "sigma", 0.0, 30.0, true, false, "a smoothing sigma");
  const uint64_t key = aug::example_key(seed, epoch, index);
  float taps[2 * aug::MAX_RADIUS + 1];
  const int r = aug::gaussian_kernel(sigma, taps);
  std::vector<float> scratch(aug::field_scratch_floats(r), 0.0f);
  auto result = made(env, Napi::Float32Array::New(env, 2 * aug::PIXELS));
  aug::elastic_field(key, (float)alpha, taps, r, scratch.data(), result.Data(), result.Data() + aug::PIXELS);
  return result;
}

Napi::Value PackPixels(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Args a{info, "packPixels"};
    need_args(a, 1, "pixels");
    const uint64_t count = images_arg(a, 0, "pixels");
    if (count > MAX_U32 / pack::MAX_PACKED_PER_IMAGE) {
        reject(a, false, "pixels.length", format("%llu images", (unsigned long long)count), "at most 1826091 images");
    }
    // Packed a chunk at a time into worst-case room for one chunk (kept per thread, ~10 MB: a whole
    // training set's worst case would be 118 MB), collected, then copied once at its exact size.
    constexpr size_t CHUNK = 4096;
    thread_local std::vector<uint8_t> room(CHUNK * pack::MAX_PACKED_PER_IMAGE);
    std::vector<uint8_t> collected;
    auto ends = made(env, Napi::Uint32Array::New(env, count));
    const uint8_t* pixels = (const uint8_t*)view_of(a[0]).data;
    for (size_t from = 0; from < count; from += CHUNK) {
        const size_t n = count - from < CHUNK ? count - from : CHUNK;
        const size_t bytes = pack::pack_pixels(pixels + from * aug::PIXELS, n, room.data(), ends.Data() + from);
        for (size_t i = from; i < from + n; i++) ends[i] += (uint32_t)collected.size();
        collected.insert(collected.end(), room.data(), room.data() + bytes);
    }
    auto packed = made(env, Napi::Uint8Array::New(env, collected.size()));
    if (!collected.empty()) memcpy(packed.Data(), collected.data(), collected.size());
    auto result = Napi::Array::New(env, 2);
    result.Set(0u, packed);
    result.Set(1u, ends);
    return result;
}

Napi::Value SelectPacked(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Args a{info, "selectPacked"};
    need_args(a, 3, "set, setEnds, indices");
    const View set = array_arg(a, 0, "set", napi_uint8_array);
    const View set_ends = array_arg(a, 1, "setEnds", napi_uint32_array);
    const View indices = array_arg(a, 2, "indices", napi_uint32_array);
    need_unshared(a, "setEnds", set_ends);
    need_unshared(a, "indices", indices);
    const uint32_t* ends = (const uint32_t*)set_ends.data;
    // The ends decide every read: non-decreasing, within the set (one pass, before anything is read).
    for (size_t i = 0; i < set_ends.length; i++) {
        if (ends[i] > set.length || (i > 0 && ends[i] < ends[i - 1])) {
            reject(a, false, format("setEnds[%zu]", i), format("%u", ends[i]), format("non-decreasing and at most set.length %zu", set.length));
        }
    }
    const uint32_t* picked = (const uint32_t*)indices.data;
    uint64_t total = 0;
    for (size_t k = 0; k < indices.length; k++) {
        if (picked[k] >= set_ends.length) {
            reject(a, false, format("indices[%zu]", k), format("%u", picked[k]), format("below %zu, the set's images", set_ends.length));
        }
        total += ends[picked[k]] - (picked[k] == 0 ? 0 : ends[picked[k] - 1]);
    }
    auto packed = made(env, Napi::Uint8Array::New(env, total));
    auto out_ends = made(env, Napi::Uint32Array::New(env, indices.length));
    pack::select_packed((const uint8_t*)set.data, ends, picked, indices.length, packed.Data(), out_ends.Data());
    auto result = Napi::Array::New(env, 2);
    result.Set(0u, packed);
    result.Set(1u, out_ends);
    return result;
}

struct UnpackArgs {
    const uint8_t* packed;
    size_t bytes;
    size_t count;
    uint8_t* out;  // the first image written
    std::vector<uint8_t> skip;  // a private copy: the caller may change its own meanwhile
};

UnpackArgs unpack_args(const Args& a) {
    need_args(a, 5, "packed, count, out, at, skip");
    const View packed = array_arg(a, 0, "packed", napi_uint8_array);
    need_unshared(a, "packed", packed);  // checked, then read again: nobody may change it between
    const uint64_t count = integer_arg(a, 1, "count", 0, MAX_U32);
    const View out = array_arg(a, 2, "out", napi_uint8_array);
    if (out.length % aug::PIXELS != 0) reject(a, false, "out.length", format("%zu", out.length), "a multiple of 784 (28×28 uint8 images)");
    const uint64_t at = integer_arg(a, 3, "at", 0, MAX_U32);
    if (at + count > out.length / aug::PIXELS) {
        reject(a, false, "at", format("%llu", (unsigned long long)at),
               format("at most out's %zu images - count %llu", out.length / aug::PIXELS, (unsigned long long)count));
    }
    UnpackArgs args{(const uint8_t*)packed.data, packed.length, (size_t)count, (uint8_t*)out.data + at * aug::PIXELS, {}};
    if (!a[4].IsNull()) {
        const View s = array_arg(a, 4, "skip", napi_uint8_array);
        need_length(a, "skip", s, count, "count");
        args.skip.assign((const uint8_t*)s.data, (const uint8_t*)s.data + count);
    }
    return args;
}

class UnpackWorker : public Napi::AsyncWorker {
 public:
  // packed: the checked private copy (the caller may change its bytes once this returns).
  UnpackWorker(const Napi::CallbackInfo& info, UnpackArgs&& args, std::vector<uint8_t>&& packed)
      : Napi::AsyncWorker(info.Env(), "mnist-unpack"), args_(std::move(args)), packed_(std::move(packed)), deferred_(Napi::Promise::Deferred::New(info.Env())) {
    // Keep the output alive while the thread pool writes it.
    out_ = Napi::Persistent(info[2].As<Napi::Object>());
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { pack::unpack_pixels(packed_.data(), args_.count, args_.skip.empty() ? nullptr : args_.skip.data(), args_.out); }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  UnpackArgs args_;
  std::vector<uint8_t> packed_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference out_;
};

Napi::Value UnpackPixelsAsync(const Napi::CallbackInfo& info) {
    const Args a{info, "unpackPixelsAsync"};
    UnpackArgs args = unpack_args(a);
    std::vector<uint8_t> packed(args.packed, args.packed + args.bytes);
    if (!pack::packed_valid(packed.data(), packed.size(), args.count)) {
        reject(a, false, "packed", format("%zu bytes", args.bytes), format("exactly %zu packed images", args.count));
    }
    auto* worker = new UnpackWorker(info, std::move(args), std::move(packed));
    auto promise = worker->Promise();
    worker->Queue();
    return promise;
}

Napi::Value UnpackPixels(const Napi::CallbackInfo& info) {
    const Args a{info, "unpackPixels"};
    const UnpackArgs args = unpack_args(a);
    if (!pack::packed_valid(args.packed, args.bytes, args.count)) return Napi::Boolean::New(info.Env(), false);
    pack::unpack_pixels(args.packed, args.count, args.skip.empty() ? nullptr : args.skip.data(), args.out);
    return Napi::Boolean::New(info.Env(), true);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("augmentBatch", Napi::Function::New(env, entry<AugmentBatch>, "augmentBatch"));
  exports.Set("augmentBatchAsync", Napi::Function::New(env, entry<AugmentBatchAsync>, "augmentBatchAsync"));
  exports.Set("affineBatch", Napi::Function::New(env, entry<AffineBatch>, "affineBatch"));
  exports.Set("drawExample", Napi::Function::New(env, entry<DrawExample>, "drawExample"));
  exports.Set("elasticField", Napi::Function::New(env, entry<ElasticField>, "elasticField"));
  exports.Set("packPixels", Napi::Function::New(env, entry<PackPixels>, "packPixels"));
  exports.Set("selectPacked", Napi::Function::New(env, entry<SelectPacked>, "selectPacked"));
  exports.Set("unpackPixels", Napi::Function::New(env, entry<UnpackPixels>, "unpackPixels"));
  exports.Set("unpackPixelsAsync", Napi::Function::New(env, entry<UnpackPixelsAsync>, "unpackPixelsAsync"));
  exports.Set("paramCount", Napi::Number::New(env, aug::PARAM_COUNT));
  return exports;
}

}  // namespace

NODE_API_MODULE(mnist_augment, Init)
