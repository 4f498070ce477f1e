// gemm.cpp — small-GEMM kernels for the network's products, and the rule that picks them over
// cblas_sgemm per shape. See gemm.h for the interface and the determinism contract.
//
// The rest of the core is built for x86-64-v2 with -fno-fast-math -ffp-contract=off; the kernels
// are compiled for AVX-512 or AVX2+FMA through `#pragma GCC target` regions (the same as
// __attribute__((target(...))) on every function in them) and run only after the CPU check.
// Their FMAs are explicit intrinsics, so -ffp-contract=off changes nothing in them.
#include "gemm.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

// Largest K (mini-batch) gemm_tn packs on the stack: RU_R × TN_MAX_K floats (16 KB).
// Larger mini-batches go to OpenBLAS, which is at its best there anyway.
static const int TN_MAX_K = 1024;

// Rows of B (weights) the forward takes at a time: 64K floats = 256 KB, a quarter of Zen 4's L2
// (Skylake-X and Ice Lake have 1 MB and 1.25 MB too).
static const int NT_SUPER_FLOATS = 65536;

// ----------------------------------------------------------------------------
// AVX-512: 32 vector registers of 16 floats

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,fma")
// GCC 12 warns inside its own avx512fintrin.h: _mm512_castps512_ps256 passes _mm256_undefined_pd()
// as the unused merge source of a full-mask extract (a false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace k_avx512 {

struct V {
    typedef __m512 T;
    typedef __mmask16 M;
    enum { L = 16 };
    static inline T zero() { return _mm512_setzero_ps(); }
    static inline T set1(float x) { return _mm512_set1_ps(x); }
    static inline T load(const float* p) { return _mm512_loadu_ps(p); }
    static inline void store(float* p, T v) { _mm512_storeu_ps(p, v); }
    static inline M mask(int n) { return (M)((1u << n) - 1u); }  // n in 1..16
    static inline T loadm(const float* p, M m) { return _mm512_maskz_loadu_ps(m, p); }
    static inline void storem(float* p, T v, M m) { _mm512_mask_storeu_ps(p, m, v); }
    static inline T fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
    static inline T mul(T a, T b) { return _mm512_mul_ps(a, b); }
    // c + (*p)·b with the broadcast inside the FMA's memory operand ({1to16}), one instruction;
    // GCC would load a separate vbroadcastss per FMA here
    static inline T fmadd_bcast(const float* p, T b, T c) {
        asm("vfmadd231ps %1%{1to16%}, %2, %0" : "+v"(c) : "m"(*p), "v"(b));
        return c;
    }
    // (lo256 + hi256), then (lo128 + hi128), then the 4 lanes pairwise: a fixed tree
    static inline float sum(T v) {
        const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    // out[0..3] = the lane sums of a, b, c, d: one transposing tree for the four (14 instructions
    // instead of 4 × 9), in a fixed order: (j, j+2) pairs, then (j, j+1), then the 128-bit lanes.
    static inline void sum4(T a, T b, T c, T d, float* out) {
        const T ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
        const T cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
        const T q = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
        const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(q), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(q), 1)));
        _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
    }
};

// Tiles, measured on Zen 4 (GFLOP/s of one product of the benchmark's first layers, 1 thread, best
// of repeated runs; FMA peak 117; OpenBLAS 0.3.21 Cooperlake in brackets):
// - forward, 4 rows of W × 5 examples: 20 accumulators + 4 rows of W + 1 of X. The 5 examples (16 KB
//   of X at K = 784) stay in L1 while W streams from L2: 101-109 at m = 10 and 100 [94-104].
//   2 × 10 kept 31 KB of X, which W's stream evicted to L2: 59.
// - rank update for m > 12 (ru_tile), 4 rows × 4 vectors: 105-110 at m = 100 [88-103]; 6×4, 5×4,
//   8×2 within noise of it; 3×8 and 2×8 slower (X read from L2 once per 2-3 rows).
// - rank update for m <= 12 (xs_strip), the m rows of X over 2 vectors held in registers: 102 at
//   m = 10 [93-96]; ru_tile 4×4 reached 84-90 there, 1 and 3 vectors 94-100.
static const int NT_R = 4, NT_E = 5;
static const int RU_R = 4, RU_V = 4;
static const int XS_MAX_T = 12, XS_V = 2, XS_ROWS = 256;
static const bool XS_ENABLE = true;

#include "gemm_kernels.inc"

static void pixels(float* x, const unsigned char* p, size_t n) {
    const __m512 r = _mm512_set1_ps(1.0f / 255.0f), k = _mm512_set1_ps(255.0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)(p + i))));
        const __m512 q = _mm512_mul_ps(v, r);
        _mm512_storeu_ps(x + i, _mm512_fmadd_ps(_mm512_fnmadd_ps(q, k, v), r, q));
    }
    for (; i < n; i++) {
        const float v = (float)p[i], q = v * (1.0f / 255.0f);
        x[i] = fmaf(fmaf(-q, 255.0f, v), 1.0f / 255.0f, q);
    }
}

}  // namespace k_avx512
#pragma GCC diagnostic pop
#pragma GCC pop_options

// ----------------------------------------------------------------------------
// AVX2 + FMA: 16 vector registers of 8 floats

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace k_avx2 {

struct V {
    typedef __m256 T;
    typedef __m256i M;
    enum { L = 8 };
    static inline T zero() { return _mm256_setzero_ps(); }
    static inline T set1(float x) { return _mm256_set1_ps(x); }
    static inline T load(const float* p) { return _mm256_loadu_ps(p); }
    static inline void store(float* p, T v) { _mm256_storeu_ps(p, v); }
    static inline M mask(int n) {  // n in 1..8: lanes below n
        static const int32_t bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
        return _mm256_loadu_si256((const __m256i*)(bits + 8 - n));
    }
    static inline T loadm(const float* p, M m) { return _mm256_maskload_ps(p, m); }
    static inline void storem(float* p, T v, M m) { _mm256_maskstore_ps(p, m, v); }
    static inline T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
    static inline T mul(T a, T b) { return _mm256_mul_ps(a, b); }
    static inline T fmadd_bcast(const float* p, T b, T c) { return _mm256_fmadd_ps(_mm256_broadcast_ss(p), b, c); }
    static inline float sum(T v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    static inline void sum4(T a, T b, T c, T d, float* out) {
        const T ab = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
        const T cd = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
        const T q = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
        _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(q), _mm256_extractf128_ps(q, 1)));
    }
};

// Tiles for 16 registers, measured on Zen 4 against OpenBLAS's Haswell kernels (what an AVX2
// machine runs; OPENBLAS_CORETYPE=Haswell), in brackets:
// - forward 2 rows × 5 examples (10 accumulators + 2 + 1): 72-103 [33-84]
// - rank update 4 rows × 3 vectors (12 + 3 + 1 broadcast): 76-85 at m = 10 [69-71], 96-99 at
//   m = 100 [87-110]; 3×3 and 6×2 within 5 % of it
// - no xs_strip: with 16 registers it holds one vector per row, a single dependent FMA chain per
//   row of W, and measured 45-64.
static const int NT_R = 2, NT_E = 5;
static const int RU_R = 4, RU_V = 3;
static const int XS_MAX_T = 12, XS_V = 1, XS_ROWS = 256;
static const bool XS_ENABLE = false;

#include "gemm_kernels.inc"

static void pixels(float* x, const unsigned char* p, size_t n) {
    const __m256 r = _mm256_set1_ps(1.0f / 255.0f), k = _mm256_set1_ps(255.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(p + i))));
        const __m256 q = _mm256_mul_ps(v, r);
        _mm256_storeu_ps(x + i, _mm256_fmadd_ps(_mm256_fnmadd_ps(q, k, v), r, q));
    }
    for (; i < n; i++) {
        const float v = (float)p[i], q = v * (1.0f / 255.0f);
        x[i] = fmaf(fmaf(-q, 255.0f, v), 1.0f / 255.0f, q);
    }
}

}  // namespace k_avx2
#pragma GCC pop_options

// ----------------------------------------------------------------------------
// family

static int detect_family(void) {
    __builtin_cpu_init();
    // libgcc's checks include the OS's support for the AVX and AVX-512 register state (XGETBV)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("fma"))
        return GEMM_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return GEMM_AVX2;
    return GEMM_BLAS;
}

static int family_from_env(int best) {
    // MNIST_CORE_KERNELS=blas|avx2|avx512 (benchmarks, comparisons); never above what the CPU has
    const char* e = getenv("MNIST_CORE_KERNELS");
    if (!e) return best;
    int f = best;
    if (!strcmp(e, "blas")) f = GEMM_BLAS;
    else if (!strcmp(e, "avx2")) f = GEMM_AVX2;
    else if (!strcmp(e, "avx512")) f = GEMM_AVX512;
    return f < best ? f : best;
}

int gemm_family_auto(void) {
    static const int best = detect_family();
    return best;
}

static std::atomic<int> forced{-2};  // -2: not read yet; -1: automatic

int gemm_family(void) {
    int f = forced.load(std::memory_order_relaxed);
    if (f == -2) {
        f = family_from_env(gemm_family_auto());
        int expected = -2;
        if (!forced.compare_exchange_strong(expected, f)) f = expected;
    }
    return f < 0 ? gemm_family_auto() : f;
}

void gemm_force_family(int f) {
    const int best = gemm_family_auto();
    forced.store(f < 0 ? -1 : f < best ? f : best);
}

const char* gemm_family_name(int f) { return f == GEMM_AVX512 ? "avx512" : f == GEMM_AVX2 ? "avx2" : "blas"; }

// ----------------------------------------------------------------------------
// the OpenBLAS path: row blocking of the big products
//
// OpenBLAS (0.3.21, SkylakeX) runs small products (M*N*K up to about 10^6) through "small matrix"
// kernels that skip packing; bigger ones pack W on every call. At mini-batch 10 a [784,800] layer
// is 6.3*10^6, so each mini-batch would copy its 2.5 MB of weights twice. Cut into blocks of rows
// (neurons), each product is small, W streams once through the kernel, and the block stays in L2:
// measured 2.8 s -> 1.3 s per epoch for [784,800,10]. With big mini-batches the packed path wins,
// so blocks are used only when a block of >= 32 rows fits the small-kernel size.
// The block depends only on (B, n_out, n_in), so results never depend on how data is chunked.
static const double SMALL_GEMM_MNK = 1.0e6;
static const int BLOCK_FLOATS = 40000;  // ~160 KB of weights per block

static int blas_row_block(int B, int n_out, int n_in) {
    if ((double)B * n_out * n_in <= SMALL_GEMM_MNK) return n_out;
    int rows = BLOCK_FLOATS / n_in;
    const int by_size = (int)(SMALL_GEMM_MNK / ((double)B * n_in));
    if (by_size < rows) rows = by_size;
    rows -= rows % 16;
    return rows >= 32 ? rows : n_out;
}

// ----------------------------------------------------------------------------
// a second thread for the big products
//
// With setBlasThreads(n >= 2), a product of at least SPLIT_FLOPS is cut in two by rows of its
// output: the caller computes one part, one helper thread the other. Every output element is
// computed by the same kernel code in the same order whichever thread runs it, and the cut is at
// a multiple of 4 rows (the forward's 4-row blocks stay whole), so the bits depend neither on the
// thread count (OpenBLAS's do) nor on which thread ran which part. If the helper has not taken its
// part by the time the caller is done with its own (a busy machine: the helper's core is taken),
// the caller runs that part too instead of waiting. If the helper took its part and then lost its
// core for a scheduler time slice (its part ends LATE after the caller's would have), products run
// on one thread for the next BACKOFF: on this 2-core machine under a load of 6-7, a [784,800,10]
// m=10 epoch once took 5.5 s with 2 threads against 1.4 s with one, each product waiting for a
// descheduled helper. (On an oversubscribed machine 2 threads stay slower than 1, as OpenBLAS's.)
// Shorter LATE (0.1 ms) also fired under ordinary load from other processes and cost more than it
// saved ([784,800,10] m=10, 2 threads: 1.05-1.25 s against 0.77-0.79 s). One helper for the
// process: a product that finds it busy (another training on another thread) runs alone. The
// helper spins for a while after each part (the products of a mini-batch come microseconds apart),
// then sleeps.
// Cutting into ~6 chunks that both threads take from a counter was measured slower on a quiet
// machine (e.g. [784,100,10] m=10 0.13 -> 0.17 s): more calls, repacking, a shared counter.

struct Part {
    void (*fn)(const void* job, int lo, int hi);
    const void* job;
    int lo, hi;
};

class Helper {
 public:
    // The helper belongs to one caller at a time: a product's split takes it for the product, a
    // training loop (gemm_helper_claim) for all of its mini-batches.
    bool try_claim() { return busy_.try_lock(); }
    void release() {
        join();
        busy_.unlock();
    }

    // Claimed: `there` runs on the helper while the caller goes on; join() waits for it.
    void post(const Part& there) {
        join();
        task_ = there;
        posted_ = ++ticket_ * 4;  // slot_: ticket·4 + 0 posted, 1 taken, 2 kept, 3 done
        slot_.store(posted_, std::memory_order_seq_cst);
        if (asleep_.load(std::memory_order_seq_cst)) {
            std::lock_guard<std::mutex> lock(m_);
            cv_.notify_one();
        }
    }

    // Claimed: the posted part, if any, has run when this returns: on the helper, or here if the
    // helper had not taken it yet (its core busy with something else). False: it ran here.
    bool join() {
        if (!posted_) return true;
        const uint64_t posted = posted_;
        posted_ = 0;
        uint64_t expected = posted;
        if (slot_.compare_exchange_strong(expected, posted + 2, std::memory_order_acq_rel)) {
            task_.fn(task_.job, task_.lo, task_.hi);
            return false;
        }
        for (int spin = 0; slot_.load(std::memory_order_acquire) != posted + 3; spin++) {
            if (spin < 4096) _mm_pause();
            else std::this_thread::yield();
        }
        return true;
    }

    // Claimed: `here` on this thread and `there` on the helper (or here, see join).
    void run(const Part& here, const Part& there) {
        post(there);
        const auto start = std::chrono::steady_clock::now();
        here.fn(here.job, here.lo, here.hi);
        const auto done = std::chrono::steady_clock::now();
        if (!join()) return;
        // The helper took its part before this thread was done with its own, so unless it lost its
        // core since, it finished within about the time this part took. If it did lose it (an
        // oversubscribed machine), each product could wait a scheduler time slice: work alone for
        // a while instead.
        const auto now = std::chrono::steady_clock::now();
        if (now - done > (done - start) + LATE) backoff_until_.store(now + BACKOFF, std::memory_order_relaxed);
    }

    // false while backing off after a late helper
    bool available() const {
        const auto until = backoff_until_.load(std::memory_order_relaxed);
        return until == std::chrono::steady_clock::time_point{} || std::chrono::steady_clock::now() >= until;
    }

    static Helper& get() {
        static Helper* h = new Helper();  // never destroyed: the detached thread outlives main
        return *h;
    }

 private:
    Helper() { std::thread([this] { loop(); }).detach(); }

    // a part posted and not yet taken
    bool pending(uint64_t s, uint64_t last) const { return s / 4 != last && s % 4 == 0; }

    void loop() {
        uint64_t last = 0;
        for (int spin = 0;; spin++) {
            uint64_t s = slot_.load(std::memory_order_acquire);
            if (!pending(s, last)) {
                if (spin < SPIN) {
                    _mm_pause();
                } else {
                    std::unique_lock<std::mutex> lock(m_);
                    asleep_.store(true, std::memory_order_seq_cst);
                    cv_.wait(lock, [&] { return pending(slot_.load(std::memory_order_seq_cst), last); });
                    asleep_.store(false, std::memory_order_relaxed);
                }
                continue;
            }
            last = s / 4;
            spin = 0;
            if (!slot_.compare_exchange_strong(s, s + 1, std::memory_order_acq_rel)) continue;  // kept by the caller
            const Part t = task_;
            t.fn(t.job, t.lo, t.hi);
            slot_.store(s + 3, std::memory_order_release);
        }
    }

    static const int SPIN = 200000;  // pauses, ~0.5 ms on Zen 4
    static constexpr std::chrono::microseconds LATE{2000};
    static constexpr std::chrono::milliseconds BACKOFF{100};
    std::atomic<std::chrono::steady_clock::time_point> backoff_until_{};
    std::mutex busy_, m_;
    std::condition_variable cv_;
    std::atomic<uint64_t> slot_{0};
    std::atomic<bool> asleep_{false};
    uint64_t ticket_ = 0;
    uint64_t posted_ = 0;  // the caller's part on the helper not joined yet (0: none)
    Part task_{};
};

// This thread holds the helper for a training loop (gemm_helper_claim).
static thread_local bool claimed = false;

bool gemm_helper_claim(void) {
    if (claimed) return true;
    if (openblas_get_num_threads() < 2 || gemm_family() == GEMM_BLAS || !Helper::get().available()) return false;
    claimed = Helper::get().try_claim();
    return claimed;
}

void gemm_helper_release(void) {
    if (!claimed) return;
    claimed = false;
    Helper::get().release();
}

static void whole_job(const void* job, int, int) {
    const std::pair<void (*)(const void*), const void*>& f = *(const std::pair<void (*)(const void*), const void*>*)job;
    f.first(f.second);
}

bool gemm_helper_post(void (*fn)(const void*), const void* ctx) {
    if (!claimed || !Helper::get().available()) return false;
    static thread_local std::pair<void (*)(const void*), const void*> job;
    Helper::get().join();  // the helper may still be reading the last job
    job = {fn, ctx};
    Helper::get().post(Part{whole_job, &job, 0, 0});
    return true;
}

void gemm_helper_join(void) {
    if (claimed) Helper::get().join();
}

// Products smaller than this run on one thread. Measured (2 threads, s per epoch): cutting the
// 0.47 MFLOP products of [784,30,10] m=10 made it slower (0.060 -> 0.074 s); the 1.6 MFLOP ones of
// [784,100,10] m=10 gain (0.17 -> 0.13 s), [784,800,10] m=10 1.35 -> 0.76 s.
static const double SPLIT_FLOPS = 1.0e6;

// fn over rows [0, rows), cut in two at a multiple of `align` rows when there are threads to
// spare. The forward's rows are columns of its output: there align = 16 (unless that leaves too few
// rows to cut, e.g. 30), whole cache lines of it when its rows start on one, so that the two
// threads do not write the same lines.
static void split_rows(void (*fn)(const void*, int, int), const void* job, int rows, double flops, int align) {
    if (flops >= SPLIT_FLOPS && rows >= 2 * align && openblas_get_num_threads() > 1) {
        Helper& helper = Helper::get();
        if (helper.available() && (claimed || helper.try_claim())) {
            const int mid = (rows / 2 + align / 2) / align * align;
            helper.run(Part{fn, job, 0, mid}, Part{fn, job, mid, rows});
            if (!claimed) helper.release();
            return;
        }
    }
    fn(job, 0, rows);
}

struct Product {
    int family, M, N, K;
    float alpha, beta;
    const float* A;
    int lda;
    const float* B;
    int ldb;
    float* C;
    int ldc;
    GemmThen then;
    const void* ctx;
};

// rows [lo, hi) of W: output columns of the forward
static void nt_part(const void* job, int lo, int hi) {
    const Product& p = *(const Product*)job;
    const float* B = p.B + (size_t)lo * p.ldb;
    if (p.family == GEMM_AVX512) k_avx512::nt(p.M, hi - lo, p.K, p.A, p.lda, B, p.ldb, p.C + lo, p.ldc);
    else k_avx2::nt(p.M, hi - lo, p.K, p.A, p.lda, B, p.ldb, p.C + lo, p.ldc);
    if (p.then) p.then(p.ctx, lo, hi);
}

// rows [lo, hi) of C = W
static void tn_part(const void* job, int lo, int hi) {
    const Product& p = *(const Product*)job;
    float* C = p.C + (size_t)lo * p.ldc;
    if (p.family == GEMM_AVX512) k_avx512::tn(hi - lo, p.N, p.K, p.alpha, p.A + lo, p.lda, p.B, p.ldb, p.beta, C, p.ldc);
    else k_avx2::tn(hi - lo, p.N, p.K, p.alpha, p.A + lo, p.lda, p.B, p.ldb, p.beta, C, p.ldc);
}

// rows [lo, hi) of C: examples
static void nn_part(const void* job, int lo, int hi) {
    const Product& p = *(const Product*)job;
    const float* A = p.A + (size_t)lo * p.lda;
    float* C = p.C + (size_t)lo * p.ldc;
    if (p.family == GEMM_AVX512) k_avx512::nn(hi - lo, p.N, p.K, A, p.lda, p.B, p.ldb, C, p.ldc);
    else k_avx2::nn(hi - lo, p.N, p.K, A, p.lda, p.B, p.ldb, C, p.ldc);
}

// ----------------------------------------------------------------------------
// the products and the rule that picks a kernel
//
// Own kernels for every product when the CPU has AVX-512 or AVX2 + FMA, except:
// - gemm_tn with K (the mini-batch) > TN_MAX_K: OpenBLAS (its packed kernels, at their best there);
// - AVX2, gemm_tn with K >= 32 and M >= 64: OpenBLAS's Haswell kernel updates wide layers at large
//   mini-batches faster (107-110 against 96-99 GFLOP/s at m = 100, [784,100] and [784,800]);
// - CPUs without AVX2 + FMA: OpenBLAS for everything, as before.
// On Zen 4 with AVX-512 the own kernels won at every shape of the benchmark, 1 or 2 threads.
// s per 50,000-image epoch (`npm run bench -- core --quick`, best of 3 runs on a shared machine),
// own kernels [OpenBLAS only, as before them]:
//                       1 thread          2 threads
//   [784,30,10]  m=10   0.060 [0.071]     0.061 [0.074]
//   [784,100,10] m=10   0.178 [0.192]     0.133 [0.191]
//   [784,800,10] m=10   1.35  [1.46]      0.85  [1.54]
//   [784,30,10]  m=100  0.058 [0.087]     0.060 [0.100]
//   [784,100,10] m=100  0.172 [0.203]     0.122 [0.164]
//   [784,800,10] m=100  1.31  [1.44]      0.74  [0.89]
// The tiny products of the output layer (e.g. 10 × 30 × 100) are faster in OpenBLAS by about a
// microsecond each (well under 1 % of an epoch); one path for all shapes is kept instead.

void gemm_nt(int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C, int ldc, GemmThen then,
             const void* ctx) {
    const int f = gemm_family();
    if (f != GEMM_BLAS) {
        const Product p{f, M, N, K, 1.0f, 0.0f, A, lda, B, ldb, C, ldc, then, ctx};
        split_rows(nt_part, &p, N, 2.0 * M * N * K, N >= 64 ? 16 : 4);
        return;
    }
    // out (M × N) = in (M × K) . W^T by blocks of output columns (rows of W)
    const int R = blas_row_block(M, N, K);
    for (int r = 0; r < N; r += R) {
        const int rows = N - r < R ? N - r : R;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, rows, K, 1.0f, A, lda, B + (size_t)r * ldb, ldb, 0.0f,
                    C + r, ldc);
    }
    if (then) then(ctx, 0, N);
}

void gemm_tn(int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float beta, float* C,
             int ldc) {
    int f = K <= TN_MAX_K ? gemm_family() : GEMM_BLAS;
    if (f == GEMM_AVX2 && K >= 32 && M >= 64) f = GEMM_BLAS;
    if (f != GEMM_BLAS) {
        const Product p{f, M, N, K, alpha, beta, A, lda, B, ldb, C, ldc, 0, 0};
        split_rows(tn_part, &p, M, 2.0 * M * N * K, 4);
        return;
    }
    const int R = blas_row_block(K, M, N);
    for (int r = 0; r < M; r += R) {
        const int rows = M - r < R ? M - r : R;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, N, K, alpha, A + r, lda, B, ldb, beta,
                    C + (size_t)r * ldc, ldc);
    }
}

void gemm_nn(int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C, int ldc) {
    const int f = gemm_family();
    if (f != GEMM_BLAS) {
        const Product p{f, M, N, K, 1.0f, 0.0f, A, lda, B, ldb, C, ldc, 0, 0};
        split_rows(nn_part, &p, M, 2.0 * M * N * K, 4);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
}

// ----------------------------------------------------------------------------
// pixels

static void pixels_divide(float* x, const unsigned char* p, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)p[i] / 255.0f;
}

// The vector conversions give the division's bits for all 256 bytes, or are not used.
static bool pixels_exact(int family) {
    unsigned char p[256];
    float want[256], got[256];
    for (int i = 0; i < 256; i++) p[i] = (unsigned char)i;
    pixels_divide(want, p, 256);
    if (family == GEMM_AVX512) k_avx512::pixels(got, p, 256);
    else k_avx2::pixels(got, p, 256);
    return memcmp(want, got, sizeof want) == 0;
}

void scale_pixels(float* x, const unsigned char* p, size_t n) {
    static const bool exact512 = gemm_family_auto() >= GEMM_AVX512 && pixels_exact(GEMM_AVX512);
    static const bool exact2 = gemm_family_auto() >= GEMM_AVX2 && pixels_exact(GEMM_AVX2);
    const int f = gemm_family();
    if (f == GEMM_AVX512 && exact512) k_avx512::pixels(x, p, n);
    else if (f >= GEMM_AVX2 && exact2) k_avx2::pixels(x, p, n);
    else pixels_divide(x, p, n);
}
