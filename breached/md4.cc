#include "breached/md4.h"

#include <cstring>

#include "common/secret.h"

namespace wb::breached {
namespace {

constexpr std::uint32_t Rotl(std::uint32_t x, int s) { return (x << s) | (x >> (32 - s)); }
constexpr std::uint32_t F(std::uint32_t x, std::uint32_t y, std::uint32_t z) {
  return (x & y) | (~x & z);
}
constexpr std::uint32_t G(std::uint32_t x, std::uint32_t y, std::uint32_t z) {
  return (x & y) | (x & z) | (y & z);
}
constexpr std::uint32_t H(std::uint32_t x, std::uint32_t y, std::uint32_t z) { return x ^ y ^ z; }

struct State {
  std::uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  std::uint32_t x[16] = {};
};

// One 64-byte block (RFC 1320, section 3.4).
void Block(State& st, const std::uint8_t* block) {
  for (int i = 0; i < 16; ++i) {
    st.x[i] = static_cast<std::uint32_t>(block[4 * i]) |
              (static_cast<std::uint32_t>(block[4 * i + 1]) << 8) |
              (static_cast<std::uint32_t>(block[4 * i + 2]) << 16) |
              (static_cast<std::uint32_t>(block[4 * i + 3]) << 24);
  }
  std::uint32_t a = st.h[0], b = st.h[1], c = st.h[2], d = st.h[3];
  const std::uint32_t* x = st.x;
  static constexpr int kS1[4] = {3, 7, 11, 19};
  for (int i = 0; i < 16; ++i) {
    const std::uint32_t t = Rotl(a + F(b, c, d) + x[i], kS1[i % 4]);
    a = d;
    d = c;
    c = b;
    b = t;
  }
  static constexpr int kS2[4] = {3, 5, 9, 13};
  for (int i = 0; i < 16; ++i) {
    const int k = (i % 4) * 4 + i / 4;
    const std::uint32_t t = Rotl(a + G(b, c, d) + x[k] + 0x5a827999, kS2[i % 4]);
    a = d;
    d = c;
    c = b;
    b = t;
  }
  static constexpr int kS3[4] = {3, 9, 11, 15};
  static constexpr int kOrder3[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
  for (int i = 0; i < 16; ++i) {
    const std::uint32_t t = Rotl(a + H(b, c, d) + x[kOrder3[i]] + 0x6ed9eba1, kS3[i % 4]);
    a = d;
    d = c;
    c = b;
    b = t;
  }
  st.h[0] += a;
  st.h[1] += b;
  st.h[2] += c;
  st.h[3] += d;
}

}  // namespace

void Md4(std::span<const std::uint8_t> data, std::span<std::uint8_t, kMd4Size> digest) {
  State st;
  std::size_t pos = 0;
  for (; data.size() - pos >= 64; pos += 64) Block(st, data.data() + pos);
  // Padding: 0x80, zeros, then the length in bits (64-bit little-endian), to a multiple of 64.
  std::uint8_t tail[128] = {};
  const std::size_t rest = data.size() - pos;
  if (rest > 0) std::memcpy(tail, data.data() + pos, rest);
  tail[rest] = 0x80;
  const std::size_t tail_size = rest < 56 ? 64 : 128;
  const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  for (int i = 0; i < 8; ++i) tail[tail_size - 8 + i] = static_cast<std::uint8_t>(bits >> (8 * i));
  for (std::size_t off = 0; off < tail_size; off += 64) Block(st, tail + off);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) digest[4 * i + j] = static_cast<std::uint8_t>(st.h[i] >> (8 * j));
  }
  WipeBytes(tail, sizeof(tail));
  WipeBytes(&st, sizeof(st));
}

}  // namespace wb::breached
