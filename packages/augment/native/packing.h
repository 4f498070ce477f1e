// packing.h — the slice protocol's pixel packing: images as runs of zeros and literal bytes.
//
// MNIST digits are about 80 % background (0) pixels, augmented ones too, so a reply part carries
// each image as tokens (zeros: u8, literals: u8, literals bytes): `zeros` background pixels, then
// `literals` pixels copied as they are. Each image's tokens cover exactly its 784 pixels, and no
// token is empty. About 200 bytes an image instead of 784: a quarter of the bytes through NATS, its
// server and the trainer's client, which is where the pipeline's time went (issue 12).
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace pack {

// Enough room for any image: every token covers at least one pixel and costs 2 bytes plus its literals.
constexpr size_t MAX_PACKED_PER_IMAGE = 3 * 784;

// pixels (count, 784) -> out; ends[i] = bytes written after image i. Returns the total.
// out must hold count * MAX_PACKED_PER_IMAGE bytes.
size_t pack_pixels(const uint8_t* pixels, size_t count, uint8_t* out, uint32_t* ends);

// Images indices[0..count) of a packed set (its ends as pack_pixels wrote them) copied into out,
// in that order; out_ends[k] = bytes written after image k. Returns the total. The caller checks
// every index against the set's size and gives out room for the selected images' bytes.
size_t select_packed(const uint8_t* set, const uint32_t* set_ends, const uint32_t* indices, size_t count, uint8_t* out,
                     uint32_t* out_ends);

// true when packed (bytes) holds exactly count well-formed images; nothing is written.
bool packed_valid(const uint8_t* packed, size_t bytes, size_t count);

// Unpacks count images already checked by packed_valid into out (count, 784), leaving alone the
// images whose skip byte is non-zero (skip may be null).
void unpack_pixels(const uint8_t* packed, size_t count, const uint8_t* skip, uint8_t* out);

}  // namespace pack
