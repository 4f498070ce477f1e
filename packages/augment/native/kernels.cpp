// See kernels.h for shapes, coordinates and the PRNG layout.
#include "kernels.h"

// splitmix64's finaliser (mix64) and increment (GOLDEN_GAMMA): the core's, one definition for
// both addons (packages/core/native, in binding.gyp's include_dirs).
#include "rng.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace aug {

namespace {

constexpr double CENTRE = 13.5;
constexpr int PAD = 32;  // stride of the zero-padded float copy of a source image

// Counter slots of one example's stream.
enum Slot : uint64_t {
  ROTATE_GATE = 0, ROTATE_ANGLE,
  TRANSLATE_GATE, TRANSLATE_X, TRANSLATE_Y,
  SKEW_GATE, SKEW_SHEAR,
  SCALE_GATE, SCALE_FACTOR,
  ELASTIC_GATE,
  FIELD = 16,  // PIXELS draws, two 24-bit values each (dx from the high bits, dy from the low)
};

inline uint64_t draw_bits(uint64_t key, uint64_t slot) { return mix64(key + (slot + 1) * GOLDEN_GAMMA); }

// Uniform in [0, 1) with 53 bits.
inline double unit(uint64_t key, uint64_t slot) { return (double)(draw_bits(key, slot) >> 11) * 0x1.0p-53; }

// Uniform in (-1, 1), symmetric: (2 b + 1) / 2^24 - 1 for a 24-bit b.
inline float signed24(uint64_t b) { return (float)(b & 0xFFFFFF) * 0x1.0p-23f - 1.0f + 0x1.0p-24f; }

}  // namespace

Params params_from(const double* v) {
  Params p;
  p.rotate_p = v[0];
  p.rotate_deg = v[1];
  p.translate_p = v[2];
  p.translate_px = v[3];
  p.skew_p = v[4];
  p.skew = v[5];
  p.scale_p = v[6];
  p.scale = v[7];
  p.elastic_p = v[8];
  p.elastic_alpha = v[9];
  p.elastic_sigma = v[10];
  p.expand_shifts = v[11] != 0.0;
  return p;
}

uint64_t example_key(uint64_t seed, uint32_t epoch, uint32_t index) {
  uint64_t h = mix64(seed + GOLDEN_GAMMA);
  h = mix64(h + (uint64_t)epoch + GOLDEN_GAMMA);
  return mix64(h + (uint64_t)index + GOLDEN_GAMMA);
}

void draw_example(const Params& p, uint64_t seed, uint32_t epoch, uint32_t index, Draw* d) {
  const uint64_t key = example_key(seed, epoch, index);
  d->key = key;
  d->shift = p.expand_shifts ? (int)(index % 5) : 0;
  d->rotate = unit(key, ROTATE_GATE) < p.rotate_p;
  d->angle_deg = d->rotate ? (2.0 * unit(key, ROTATE_ANGLE) - 1.0) * p.rotate_deg : 0.0;
  d->translate = unit(key, TRANSLATE_GATE) < p.translate_p;
  d->tx = d->translate ? (2.0 * unit(key, TRANSLATE_X) - 1.0) * p.translate_px : 0.0;
  d->ty = d->translate ? (2.0 * unit(key, TRANSLATE_Y) - 1.0) * p.translate_px : 0.0;
  d->skew = unit(key, SKEW_GATE) < p.skew_p;
  d->shear = d->skew ? (2.0 * unit(key, SKEW_SHEAR) - 1.0) * p.skew : 0.0;
  d->scale = unit(key, SCALE_GATE) < p.scale_p;
  d->factor = d->scale ? 1.0 + (2.0 * unit(key, SCALE_FACTOR) - 1.0) * p.scale : 1.0;
  d->elastic = unit(key, ELASTIC_GATE) < p.elastic_p && p.elastic_alpha > 0.0;
}

void inverse_map(const Draw& d, double map[6]) {
  // L = R S K; L^-1 = K^-1 S^-1 R^-1 with K^-1 = [[1, -shear], [0, 1]], R^-1 = R(-angle).
  const double theta = d.angle_deg * (M_PI / 180.0);
  const double cs = std::cos(theta), sn = std::sin(theta), inv = 1.0 / d.factor;
  // R^-1 = [[cs, sn], [-sn, cs]]
  const double r00 = cs * inv, r01 = sn * inv, r10 = -sn * inv, r11 = cs * inv;
  const double a = r00 - d.shear * r10, b = r01 - d.shear * r11, c = r10, e = r11;
  // u = C + L^-1 (p - C - t)  =>  offset = C - L^-1 (C + t)
  const double qx = CENTRE + d.tx, qy = CENTRE + d.ty;
  map[0] = a;
  map[1] = b;
  map[2] = c;
  map[3] = e;
  map[4] = CENTRE - (a * qx + b * qy);
  map[5] = CENTRE - (c * qx + e * qy);
}

int gaussian_kernel(double sigma, float* taps) {
  const int full = std::max(1, (int)std::ceil(3.0 * sigma));
  const int r = std::min(full, MAX_RADIUS);
  auto weight = [sigma](int k) {
    const double z = (double)k / sigma;  // never 0/0, even for a vanishing sigma
    return std::exp(-0.5 * z * z);
  };
  double total = 0.0;
  for (int k = -full; k <= full; k++) total += weight(k);
  for (int k = -r; k <= r; k++) taps[k + r] = (float)(weight(k) / total);
  return r;
}

size_t field_scratch_floats(int r) {
  const size_t w = (size_t)SIDE + 2 * (size_t)r;
  // Two fields: raw rows padded horizontally [28][w], then rows padded vertically [w][28].
  return 2 * ((size_t)SIDE * w + w * (size_t)SIDE);
}

namespace {

// One field: horizontal then vertical pass of a separable blur over zero padding. The inner
// loops run over x so the compiler vectorises them; each output sums its taps in k order,
// so vectorising never changes a result. The AVX2 clone (picked at load time where the CPU has
// it) is twice as wide; with -ffp-contract=off it does the same operations in the same order
// as the baseline clone, so both give identical bytes.
__attribute__((target_clones("avx2", "default"))) void blur(const float* taps, int r, float* rows, float* cols, float alpha, float* out) {
  const int w = SIDE + 2 * r;
  const int n = 2 * r + 1;
  float acc[SIDE];
  for (int y = 0; y < SIDE; y++) {
    const float* row = rows + (size_t)y * w;
    for (int x = 0; x < SIDE; x++) acc[x] = 0.0f;
    for (int k = 0; k < n; k++) {
      const float tap = taps[k];
      const float* in = row + k;
      for (int x = 0; x < SIDE; x++) acc[x] += tap * in[x];
    }
    float* dst = cols + (size_t)(y + r) * SIDE;
    for (int x = 0; x < SIDE; x++) dst[x] = acc[x];
  }
  for (int y = 0; y < SIDE; y++) {
    for (int x = 0; x < SIDE; x++) acc[x] = 0.0f;
    for (int k = 0; k < n; k++) {
      const float tap = taps[k];
      const float* in = cols + (size_t)(y + k) * SIDE;
      for (int x = 0; x < SIDE; x++) acc[x] += tap * in[x];
    }
    float* dst = out + y * SIDE;
    for (int x = 0; x < SIDE; x++) dst[x] = alpha * acc[x];
  }
}

}  // namespace

void elastic_field(uint64_t key, float alpha, const float* taps, int r, float* scratch, float* dx, float* dy) {
  const size_t w = (size_t)SIDE + 2 * (size_t)r;
  float* rows_x = scratch;
  float* cols_x = rows_x + SIDE * w;
  float* rows_y = cols_x + w * SIDE;
  float* cols_y = rows_y + SIDE * w;
  for (int y = 0; y < SIDE; y++) {
    float* px = rows_x + (size_t)y * w + r;
    float* py = rows_y + (size_t)y * w + r;
    for (int x = 0; x < SIDE; x++) {
      const uint64_t bits = draw_bits(key, FIELD + (uint64_t)(y * SIDE + x));
      px[x] = signed24(bits >> 40);
      py[x] = signed24(bits >> 8);
    }
  }
  blur(taps, r, rows_x, cols_x, alpha, dx);
  blur(taps, r, rows_y, cols_y, alpha, dy);
}

void shift_image(const uint8_t* src, int shift, uint8_t* dst) {
  if (shift == 0) {
    std::memcpy(dst, src, PIXELS);
    return;
  }
  std::memset(dst, 0, PIXELS);
  switch (shift) {
    case 1:  // up: dst row y = src row y + 1
      std::memcpy(dst, src + SIDE, PIXELS - SIDE);
      break;
    case 2:  // down: dst row y = src row y - 1
      std::memcpy(dst + SIDE, src, PIXELS - SIDE);
      break;
    case 3:  // left: dst column x = src column x + 1
      for (int y = 0; y < SIDE; y++) std::memcpy(dst + y * SIDE, src + y * SIDE + 1, SIDE - 1);
      break;
    default:  // right: dst column x = src column x - 1
      for (int y = 0; y < SIDE; y++) std::memcpy(dst + y * SIDE + 1, src + y * SIDE, SIDE - 1);
      break;
  }
}

void load_padded(const uint8_t* src, float* padded) {
  for (int y = 0; y < SIDE; y++) {
    float* row = padded + (y + 1) * PAD + 1;
    const uint8_t* in = src + y * SIDE;
    for (int x = 0; x < SIDE; x++) row[x] = (float)in[x];
  }
}

namespace {

// Bilinear sample of the padded source at (sx, sy); clamping to [-1, 28] keeps every read
// inside the padding and makes anything farther out exactly 0, without a branch.
inline uint8_t sample(const float* padded, float sx, float sy) {
  sx = std::min(std::max(sx, -1.0f), 28.0f);
  sy = std::min(std::max(sy, -1.0f), 28.0f);
  const float fx0 = std::floor(sx), fy0 = std::floor(sy);
  const float fx = sx - fx0, fy = sy - fy0;
  const float* p = padded + ((int)fy0 + 1) * PAD + ((int)fx0 + 1);
  const float top = (1.0f - fx) * p[0] + fx * p[1];
  const float bottom = (1.0f - fx) * p[PAD] + fx * p[PAD + 1];
  const float v = (1.0f - fy) * top + fy * bottom;
  return (uint8_t)std::min(v + 0.5f, 255.0f);
}

}  // namespace

void resample(const float* padded, const double map[6], const float* dx, const float* dy, uint8_t* dst) {
  const float a = (float)map[0], b = (float)map[1], c = (float)map[2], d = (float)map[3];
  const float e = (float)map[4], f = (float)map[5];
  if (dx) {
    for (int y = 0; y < SIDE; y++) {
      for (int x = 0; x < SIDE; x++) {
        const int i = y * SIDE + x;
        const float px = (float)x + dx[i], py = (float)y + dy[i];
        dst[i] = sample(padded, a * px + b * py + e, c * px + d * py + f);
      }
    }
  } else {
    for (int y = 0; y < SIDE; y++) {
      for (int x = 0; x < SIDE; x++) {
        const float px = (float)x, py = (float)y;
        dst[y * SIDE + x] = sample(padded, a * px + b * py + e, c * px + d * py + f);
      }
    }
  }
}

void augment_batch(const uint8_t* src, uint32_t n_src, const uint32_t* indices, uint32_t count, const Params& p,
                   uint64_t seed, uint32_t epoch, uint8_t* out) {
  (void)n_src;  // addon.cpp checked every index against it before the call
  float taps[2 * MAX_RADIUS + 1];
  int r = 0;
  std::vector<float> scratch, dx, dy;
  if (p.elastic_p > 0.0 && p.elastic_alpha > 0.0) {
    r = gaussian_kernel(p.elastic_sigma, taps);
    scratch.assign(field_scratch_floats(r), 0.0f);
    dx.assign(PIXELS, 0.0f);
    dy.assign(PIXELS, 0.0f);
  }
  std::vector<float> padded(PAD * PAD, 0.0f);
  uint8_t shifted[PIXELS];
  const float alpha = (float)p.elastic_alpha;
  for (uint32_t t = 0; t < count; t++) {
    const uint32_t j = indices[t];
    Draw d;
    draw_example(p, seed, epoch, j, &d);
    const uint32_t image = p.expand_shifts ? j / 5 : j;
    const uint8_t* source = src + (size_t)image * PIXELS;
    if (d.shift != 0) {
      shift_image(source, d.shift, shifted);
      source = shifted;
    }
    uint8_t* dst = out + (size_t)t * PIXELS;
    const bool affine = d.rotate || d.translate || d.skew || d.scale;
    if (!affine && !d.elastic) {
      std::memcpy(dst, source, PIXELS);
      continue;
    }
    double map[6];
    inverse_map(d, map);
    load_padded(source, padded.data());
    if (d.elastic) {
      elastic_field(d.key, alpha, taps, r, scratch.data(), dx.data(), dy.data());
      resample(padded.data(), map, dx.data(), dy.data(), dst);
    } else {
      resample(padded.data(), map, nullptr, nullptr, dst);
    }
  }
}

void affine_batch(const uint8_t* src, uint32_t count, const double* maps, uint8_t* out) {
  std::vector<float> padded(PAD * PAD, 0.0f);
  for (uint32_t t = 0; t < count; t++) {
    load_padded(src + (size_t)t * PIXELS, padded.data());
    resample(padded.data(), maps + (size_t)t * 6, nullptr, nullptr, out + (size_t)t * PIXELS);
  }
}

}  // namespace aug
