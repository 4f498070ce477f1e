// packing.cpp — see packing.h for the format.
#include "packing.h"

#include <emmintrin.h>
#include <string.h>

namespace pack {

static const size_t PIXELS = 784;

// Length of the run of zero (or non-zero) bytes at img[p..], at most `most`, 16 bytes at a time
// where they lie within the image (the last image's bytes end the buffer).
static inline size_t run_length(const uint8_t* img, size_t p, size_t most, bool zeros) {
    size_t n = 0;
    const __m128i zero = _mm_setzero_si128();
    while (n + 16 <= most) {
        const __m128i v = _mm_loadu_si128((const __m128i*)(img + p + n));
        unsigned is_zero = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero));
        const unsigned ends = zeros ? ~is_zero & 0xffffu : is_zero;  // bytes that end the run
        if (ends) return n + (size_t)__builtin_ctz(ends);
        n += 16;
    }
    while (n < most && (img[p + n] == 0) == zeros) n++;
    return n;
}

size_t pack_pixels(const uint8_t* pixels, size_t count, uint8_t* out, uint32_t* ends) {
    uint8_t* o = out;
    for (size_t i = 0; i < count; i++) {
        const uint8_t* img = pixels + i * PIXELS;
        size_t p = 0;
        while (p < PIXELS) {
            const size_t zeros = run_length(img, p, PIXELS - p < 255 ? PIXELS - p : 255, true);
            p += zeros;
            const size_t literals = run_length(img, p, PIXELS - p < 255 ? PIXELS - p : 255, false);
            *o++ = (uint8_t)zeros;
            *o++ = (uint8_t)literals;
            memcpy(o, img + p, literals);
            o += literals;
            p += literals;
        }
        ends[i] = (uint32_t)(o - out);
    }
    return (size_t)(o - out);
}

size_t select_packed(const uint8_t* set, const uint32_t* set_ends, const uint32_t* indices, size_t count, uint8_t* out,
                     uint32_t* out_ends) {
    size_t at = 0;
    for (size_t k = 0; k < count; k++) {
        const uint32_t i = indices[k];
        const uint32_t from = i == 0 ? 0 : set_ends[i - 1];
        const size_t n = set_ends[i] - from;
        memcpy(out + at, set + from, n);
        at += n;
        out_ends[k] = (uint32_t)at;
    }
    return at;
}

bool packed_valid(const uint8_t* packed, size_t bytes, size_t count) {
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        size_t p = 0;
        while (p < PIXELS) {
            if (bytes - at < 2) return false;
            const size_t zeros = packed[at], literals = packed[at + 1];
            at += 2;
            if (zeros + literals == 0 || zeros + literals > PIXELS - p || literals > bytes - at) return false;
            at += literals;
            p += zeros + literals;
        }
    }
    return at == bytes;
}

void unpack_pixels(const uint8_t* packed, size_t count, const uint8_t* skip, uint8_t* out) {
    const uint8_t* in = packed;
    for (size_t i = 0; i < count; i++) {
        uint8_t* img = out + i * PIXELS;
        const bool write = !skip || !skip[i];
        size_t p = 0;
        while (p < PIXELS) {
            const size_t zeros = in[0], literals = in[1];
            in += 2;
            if (write) {
                memset(img + p, 0, zeros);
                memcpy(img + p + zeros, in, literals);
            }
            in += literals;
            p += zeros + literals;
        }
    }
}

}  // namespace pack
