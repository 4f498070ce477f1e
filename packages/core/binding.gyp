{
  "targets": [
    {
      "target_name": "mnist_core",
      "sources": ["native/network.cpp", "native/gemm.cpp", "native/addon.cpp"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "/usr/include/x86_64-linux-gnu/openblas-pthread"],
      "libraries": ["-lopenblas"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=x86-64-v2", "-fno-fast-math", "-ffp-contract=off"]
    }
  ]
}
