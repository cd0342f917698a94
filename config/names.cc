// Printing: enum spellings and error lines.

#include "config/config.h"
#include "config/internal/enum_names.h"

namespace wb::config {
namespace {

template <typename E, std::size_t N>
std::string_view Lookup(const std::array<internal::EnumName<E>, N>& names, E value) {
  for (const internal::EnumName<E>& n : names) {
    if (n.value == value) return n.name;
  }
  return "?";  // unreachable for a valid enumerator
}

}  // namespace

std::string_view Name(TlsVersion v) { return Lookup(internal::kTlsVersionNames, v); }
std::string_view Name(DirectoryKind v) { return Lookup(internal::kDirectoryKindNames, v); }
std::string_view Name(BindMethod v) { return Lookup(internal::kBindMethodNames, v); }
std::string_view Name(LookupAttribute v) { return Lookup(internal::kLookupAttributeNames, v); }
std::string_view Name(HistoryOnReset v) { return Lookup(internal::kHistoryOnResetNames, v); }
std::string_view Name(PolicyMode v) { return Lookup(internal::kPolicyModeNames, v); }
std::string_view Name(LogLevel v) { return Lookup(internal::kLogLevelNames, v); }
std::string_view Name(LogFormat v) { return Lookup(internal::kLogFormatNames, v); }

std::string_view Name(LdapTransport v) {
  switch (v) {
    case LdapTransport::kLdaps:
      return "ldaps";
    case LdapTransport::kStartTls:
      return "starttls";
  }
  return "?";
}

std::string ConfigError::ToString() const {
  std::string out = file;
  if (line > 0) {
    out.append(":").append(std::to_string(line));
    if (column > 0) out.append(":").append(std::to_string(column));
  }
  out += ": ";
  if (!key.empty()) out += key + ": ";
  return out + problem;
}

std::string FormatErrors(const ConfigErrors& errors) {
  std::string out;
  for (const ConfigError& e : errors) out += e.ToString() + "\n";
  return out;
}

}  // namespace wb::config
