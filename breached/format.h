#pragma once
// Internal to breached/: the byte layout breached.h documents, shared by Import and List.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace wb::breached::format {

inline constexpr std::array<char, 8> kMagic = {'W', 'B', 'B', 'R', 'E', 'A', 'C', 'H'};
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 128;
inline constexpr std::size_t kHeaderChecked = 96;  // the header checksum covers bytes 0..95
inline constexpr std::size_t kChecksumSize = 32;   // SHA-256

// Field offsets in the header.
inline constexpr std::size_t kOffVersion = 8;
inline constexpr std::size_t kOffKind = 12;
inline constexpr std::size_t kOffCount = 16;
inline constexpr std::size_t kOffIndexBits = 24;
inline constexpr std::size_t kOffEntrySize = 28;
inline constexpr std::size_t kOffIndexOffset = 32;
inline constexpr std::size_t kOffEntriesOffset = 40;
inline constexpr std::size_t kOffIndexSum = 48;
inline constexpr std::size_t kOffHeaderSum = 96;

inline constexpr std::size_t kCountSize = 4;

inline std::uint64_t IndexBytes(std::uint32_t bits) {
  return ((std::uint64_t{1} << bits) + 1) * sizeof(std::uint64_t);
}

inline void Store32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void Store64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline std::uint32_t Load32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline std::uint64_t Load64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
// The first 8 bytes of a hash as a big-endian number: its position in the sorted order.
inline std::uint64_t Prefix64(const std::uint8_t* hash) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | hash[i];
  return v;
}
inline std::uint64_t BucketOf(const std::uint8_t* hash, std::uint32_t bits) {
  return Prefix64(hash) >> (64 - bits);
}

}  // namespace wb::breached::format
