#pragma once
// MD4 (RFC 1320), for NTLM hashes only. OpenSSL 3 offers MD4 only through its legacy provider,
// which a distribution may not ship and which would have to be loaded into the process-wide
// library context; MD4 is a tiny public algorithm, so it is computed here instead. MD4 is
// broken as a cryptographic hash: use it for nothing but NTLM lookups.

#include <array>
#include <cstdint>
#include <span>

namespace wb::breached {

inline constexpr std::size_t kMd4Size = 16;

// Writes MD4(data) to `digest`. Its working state is wiped before it returns (the input may be
// a password).
void Md4(std::span<const std::uint8_t> data, std::span<std::uint8_t, kMd4Size> digest);

}  // namespace wb::breached
