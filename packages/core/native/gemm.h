// gemm.h — the matrix products of network.cpp: our own small-GEMM kernels where they beat
// OpenBLAS, cblas_sgemm where it wins. All matrices are row-major with a leading dimension.
//
// Kernel families, chosen once per process from the CPU (gemm_family_auto):
//   GEMM_AVX512  AVX-512F/VL/DQ + FMA (Intel Skylake-X and later, AMD Zen 4 and later)
//   GEMM_AVX2    AVX2 + FMA (Haswell and later, Zen 1-3)
//   GEMM_BLAS    anything else (x86-64-v2): every product goes to cblas_sgemm, as before
// MNIST_CORE_KERNELS=blas|avx2|avx512 in the environment picks a lower family.
// The rule that picks own kernels or OpenBLAS per product, and the measurements behind it, are in
// gemm.cpp. With setBlasThreads(n >= 2) the big products are shared with one helper thread.
// Determinism: each output element is summed in a fixed order that depends only on the shapes,
// never on how rows or examples are blocked or shared between threads, nor on timing. So a
// mini-batch's results do not depend on how an epoch is cut into calls, nor (own kernels) on the
// thread count. They do depend on the family, and differ from OpenBLAS's in the last bits:
// blasConfig() reports the family, to be recorded with a run.
#pragma once
#include <stddef.h>

enum { GEMM_BLAS = 0, GEMM_AVX2 = 1, GEMM_AVX512 = 2 };

// The best family this CPU supports.
int gemm_family_auto(void);
// The family in use (gemm_family_auto() unless forced).
int gemm_family(void);
// Tests and benchmarks: use family f (clamped to what the CPU supports); -1 restores the
// automatic choice. Process-wide, like the OpenBLAS thread count: not for use mid-training.
void gemm_force_family(int f);
const char* gemm_family_name(int f);

// C (M × N) = A (M × K) · Bᵀ, B (N × K).  Forward: z (B × n_out) = in (B × n_in) · Wᵀ.
// Then, if given, then(ctx, lo, hi) for columns [lo, hi) of C, on the thread that computed them
// (all of them: lo = 0, hi = N, when one thread did): elementwise work on C (a hidden layer's bias
// and activation) is split between the threads the same way as the product.
typedef void (*GemmThen)(const void* ctx, int lo, int hi);
void gemm_nt(int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
             GemmThen then = 0, const void* ctx = 0);

// C (M × N) = alpha · Aᵀ · B + beta · C, A (K × M), B (K × N); beta == 0 never reads C.
// Weight update: W (n_out × n_in) = beta · W + alpha · deltaᵀ (n_out × B) · in (B × n_in).
void gemm_tn(int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float beta, float* C,
             int ldc);

// C (M × N) = A (M × K) · B (K × N).  Back-propagation: below (B × n_in) = delta (B × n_out) · W.
void gemm_nn(int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C, int ldc);

// A training loop's hold on the helper thread of setBlasThreads(n >= 2): while this thread holds it,
// its big products share the helper without asking for it each time, and it can hand the helper
// work to do beside it (the next mini-batch's inputs while it finishes this one). False, holding
// nothing: 1 thread, the `blas` family, or the helper busy (another training) or backing off.
bool gemm_helper_claim(void);
void gemm_helper_release(void);  // joins anything posted first
// fn(ctx) on the held helper while the caller goes on; false (nothing run) without a held helper.
// gemm_helper_join() returns once it has run: on the helper, or on this thread if the helper had
// not taken it yet. A product split by this thread joins it first.
bool gemm_helper_post(void (*fn)(const void*), const void* ctx);
void gemm_helper_join(void);

// x[i] = pixels[i] / 255 as float, exactly (float)p / 255.0f for every byte: the vector families
// multiply by 1/255 and correct the quotient with two FMAs (q = p·r, e = p − 255·q exactly,
// q + e·r), which is the correctly rounded quotient for all 256 bytes; checked once per process
// against the division, which is used instead should any byte differ.
void scale_pixels(float* x, const unsigned char* pixels, size_t n);
