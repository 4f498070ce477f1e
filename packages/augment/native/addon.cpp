// N-API bindings over kernels.h. The TypeScript wrapper (src/kernels.ts) has validated every
// argument (types, lengths, ranges, indices); these functions trust it.
//
//   augmentBatch(src: Uint8Array, indices: Uint32Array, params: Float64Array(12), seed: bigint,
//                epoch: number, out: Uint8Array): void
//   augmentBatchAsync(same arguments): Promise<void>   (runs on the libuv thread pool)
//   affineBatch(src: Uint8Array, maps: Float64Array(count * 6), out: Uint8Array): void
//   drawExample(params: Float64Array(12), seed: bigint, epoch: number, index: number): Float64Array(11)
//   elasticField(seed: bigint, epoch: number, index: number, alpha: number, sigma: number): Float32Array(1568)
#include <napi.h>

#include "kernels.h"

namespace {

uint64_t seed_of(const Napi::Value& value) {
  bool lossless = true;
  return value.As<Napi::BigInt>().Uint64Value(&lossless);
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

BatchArgs batch_args(const Napi::CallbackInfo& info) {
  auto src = info[0].As<Napi::Uint8Array>();
  auto indices = info[1].As<Napi::Uint32Array>();
  auto params = info[2].As<Napi::Float64Array>();
  auto out = info[5].As<Napi::Uint8Array>();
  BatchArgs args;
  args.src = src.Data();
  args.n_src = (uint32_t)(src.ElementLength() / aug::PIXELS);
  args.indices = indices.Data();
  args.count = (uint32_t)indices.ElementLength();
  args.params = aug::params_from(params.Data());
  args.seed = seed_of(info[3]);
  args.epoch = info[4].As<Napi::Number>().Uint32Value();
  args.out = out.Data();
  return args;
}

Napi::Value AugmentBatch(const Napi::CallbackInfo& info) {
  const BatchArgs a = batch_args(info);
  aug::augment_batch(a.src, a.n_src, a.indices, a.count, a.params, a.seed, a.epoch, a.out);
  return info.Env().Undefined();
}

class AugmentWorker : public Napi::AsyncWorker {
 public:
  AugmentWorker(const Napi::CallbackInfo& info, const BatchArgs& args)
      : Napi::AsyncWorker(info.Env(), "mnist-augment"), args_(args), deferred_(Napi::Promise::Deferred::New(info.Env())) {
    // Keep the buffers alive while the thread pool works on them.
    for (int i : {0, 1, 5}) refs_[i == 5 ? 2 : i] = Napi::Persistent(info[i].As<Napi::Object>());
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    aug::augment_batch(args_.src, args_.n_src, args_.indices, args_.count, args_.params, args_.seed, args_.epoch, args_.out);
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  BatchArgs args_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference refs_[3];
};

Napi::Value AugmentBatchAsync(const Napi::CallbackInfo& info) {
  const BatchArgs a = batch_args(info);
  auto* worker = new AugmentWorker(info, a);
  auto promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value AffineBatch(const Napi::CallbackInfo& info) {
  auto src = info[0].As<Napi::Uint8Array>();
  auto maps = info[1].As<Napi::Float64Array>();
  auto out = info[2].As<Napi::Uint8Array>();
  aug::affine_batch(src.Data(), (uint32_t)(src.ElementLength() / aug::PIXELS), maps.Data(), out.Data());
  return info.Env().Undefined();
}

Napi::Value DrawExample(const Napi::CallbackInfo& info) {
  const aug::Params p = aug::params_from(info[0].As<Napi::Float64Array>().Data());
  aug::Draw d;
  aug::draw_example(p, seed_of(info[1]), info[2].As<Napi::Number>().Uint32Value(), info[3].As<Napi::Number>().Uint32Value(), &d);
  auto result = Napi::Float64Array::New(info.Env(), aug::DRAW_FIELDS);
  const double values[aug::DRAW_FIELDS] = {(double)d.shift, (double)d.rotate, (double)d.translate, (double)d.skew,
                                           (double)d.scale, (double)d.elastic, d.angle_deg, d.tx, d.ty, d.shear, d.factor};
  for (int i = 0; i < aug::DRAW_FIELDS; i++) result[i] = values[i];
  return result;
}

Napi::Value ElasticField(const Napi::CallbackInfo& info) {
  const uint64_t key = aug::example_key(seed_of(info[0]), info[1].As<Napi::Number>().Uint32Value(), info[2].As<Napi::Number>().Uint32Value());
  const double alpha = info[3].As<Napi::Number>().DoubleValue();
  const double sigma = info[4].As<Napi::Number>().DoubleValue();
  float taps[2 * aug::MAX_RADIUS + 1];
  const int r = aug::gaussian_kernel(sigma, taps);
  std::vector<float> scratch(aug::field_scratch_floats(r), 0.0f);
  auto result = Napi::Float32Array::New(info.Env(), 2 * aug::PIXELS);
  aug::elastic_field(key, (float)alpha, taps, r, scratch.data(), result.Data(), result.Data() + aug::PIXELS);
  return result;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("augmentBatch", Napi::Function::New(env, AugmentBatch));
  exports.Set("augmentBatchAsync", Napi::Function::New(env, AugmentBatchAsync));
  exports.Set("affineBatch", Napi::Function::New(env, AffineBatch));
  exports.Set("drawExample", Napi::Function::New(env, DrawExample));
  exports.Set("elasticField", Napi::Function::New(env, ElasticField));
  exports.Set("paramCount", Napi::Number::New(env, aug::PARAM_COUNT));
  return exports;
}

}  // namespace

NODE_API_MODULE(mnist_augment, Init)
