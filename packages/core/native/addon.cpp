// Placeholder module init; the native core fills this in.
#include <napi.h>
static Napi::Object Init(Napi::Env env, Napi::Object exports) { return exports; }
NODE_API_MODULE(mnist_core, Init)
