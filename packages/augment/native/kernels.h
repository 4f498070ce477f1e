// Augmentation kernels for 28x28 greyscale digits: plain functions over flat arrays.
//
// Shapes (all flat, row-major):
//   image     uint8[784]           28 rows x 28 columns, 0 = background
//   src       uint8[n_src * 784]   the training images
//   indices   uint32[count]        which examples to produce: indices into the training set,
//                                  or into the expanded set when params.expand_shifts
//   out       uint8[count * 784]   one output image per index
//   maps      double[count * 6]    explicit inverse maps (a, b, c, d, e, f): output pixel (x, y)
//                                  samples the source at (a x + b y + e, c x + d y + f)
//   taps      float[2 r + 1]       normalised Gaussian, r <= MAX_RADIUS
//   dx, dy    float[784]           elastic displacement (pixels) of each output pixel
//
// Coordinates are pixel centres: pixel (x, y) is the point (x, y); the image centre is
// (13.5, 13.5). Everything outside the source is background 0.
//
// Expanded index j (params.expand_shifts): source image j / 5 with shift j % 5:
//   0 original, 1 up, 2 down, 3 left, 4 right. The content moves one pixel that way; the row
//   or column it leaves is 0 and the one pushed over the edge is lost.
//
// One example's transform depends only on (seed, epoch, j): a counter-based PRNG (splitmix64
// finaliser over key + counter) keyed by example_key(seed, epoch, j). Every draw has a fixed
// counter slot, whatever the probabilities, so switching one transform off never changes the
// others.
//
// Forward transform of the affine part, about the centre c: F(u) = c + R S K (u - c) + t with
// R the rotation by angle (radians, x right, y down: positive turns clockwise on screen),
// S = factor * I, K = [[1, shear], [0, 1]] (horizontal shear) and t = (tx, ty). The elastic
// displacement acts on output coordinates: output pixel p samples the source at
// F^-1(p + alpha * field(p)). All of it is one bilinear resampling pass.
#pragma once
#include <cstddef>
#include <cstdint>

namespace aug {

constexpr int SIDE = 28;
constexpr int PIXELS = SIDE * SIDE;
// A tap farther than 27 pixels only ever meets the zero padding.
constexpr int MAX_RADIUS = SIDE - 1;
constexpr int PARAM_COUNT = 12;

struct Params {
  double rotate_p, rotate_deg;
  double translate_p, translate_px;
  double skew_p, skew;
  double scale_p, scale;
  double elastic_p, elastic_alpha, elastic_sigma;
  int expand_shifts;
};

// Reads PARAM_COUNT doubles in the order of the struct above (expand_shifts as 0 or 1).
Params params_from(const double* values);

// What the PRNG drew for one example: everything its output depends on besides the source.
struct Draw {
  int shift;
  int rotate, translate, skew, scale, elastic;
  double angle_deg, tx, ty, shear, factor;
  uint64_t key;
};
constexpr int DRAW_FIELDS = 11;

uint64_t example_key(uint64_t seed, uint32_t epoch, uint32_t index);
void draw_example(const Params& p, uint64_t seed, uint32_t epoch, uint32_t index, Draw* d);
// The inverse map of the affine part (identity when nothing affine fired).
void inverse_map(const Draw& d, double map[6]);
// Writes 2r + 1 taps (r = min(ceil(3 sigma), MAX_RADIUS), normalised over ceil(3 sigma)) and returns r.
int gaussian_kernel(double sigma, float* taps);
// Floats of scratch that elastic_field needs for radius r (zero it once: the padding is never written).
size_t field_scratch_floats(int r);
void elastic_field(uint64_t key, float alpha, const float* taps, int r, float* scratch, float* dx, float* dy);
void shift_image(const uint8_t* src, int shift, uint8_t* dst);
// padded: float[32 * 32], zero outside the 28x28 interior at offset (1, 1); dx/dy may be null.
void load_padded(const uint8_t* src, float* padded);
void resample(const float* padded, const double map[6], const float* dx, const float* dy, uint8_t* dst);

void augment_batch(const uint8_t* src, uint32_t n_src, const uint32_t* indices, uint32_t count, const Params& p,
                   uint64_t seed, uint32_t epoch, uint8_t* out);
void affine_batch(const uint8_t* src, uint32_t count, const double* maps, uint8_t* out);

}  // namespace aug
