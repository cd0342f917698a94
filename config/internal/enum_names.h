#pragma once
// Internal to config/: the one list of each enum's spellings in the file. The loader accepts
// exactly these, its messages list them, and Name() prints them.

#include <array>

#include "config/config.h"
#include "config/internal/toml_reader.h"

namespace wb::config::internal {

inline constexpr std::array<EnumName<TlsVersion>, 2> kTlsVersionNames{{
    {"1.2", TlsVersion::kTls12},
    {"1.3", TlsVersion::kTls13},
}};

inline constexpr std::array<EnumName<DirectoryKind>, 2> kDirectoryKindNames{{
    {"ad", DirectoryKind::kActiveDirectory},
    {"openldap", DirectoryKind::kOpenLdap},
}};

inline constexpr std::array<EnumName<BindMethod>, 2> kBindMethodNames{{
    {"simple", BindMethod::kSimple},
    {"sasl_external", BindMethod::kSaslExternal},
}};

inline constexpr std::array<EnumName<LookupAttribute>, 5> kLookupAttributeNames{{
    {"userPrincipalName", LookupAttribute::kUserPrincipalName},
    {"sAMAccountName", LookupAttribute::kSamAccountName},
    {"uid", LookupAttribute::kUid},
    {"mail", LookupAttribute::kMail},
    {"dn", LookupAttribute::kDn},
}};

inline constexpr std::array<EnumName<HistoryOnReset>, 3> kHistoryOnResetNames{{
    {"enforce", HistoryOnReset::kEnforce},
    {"when_supported", HistoryOnReset::kWhenSupported},
    {"off", HistoryOnReset::kOff},
}};

inline constexpr std::array<EnumName<PolicyMode>, 2> kPolicyModeNames{{
    {"enforce", PolicyMode::kEnforce},
    {"log_only", PolicyMode::kLogOnly},
}};

inline constexpr std::array<EnumName<LogLevel>, 5> kLogLevelNames{{
    {"trace", LogLevel::kTrace},
    {"debug", LogLevel::kDebug},
    {"info", LogLevel::kInfo},
    {"warn", LogLevel::kWarn},
    {"error", LogLevel::kError},
}};

inline constexpr std::array<EnumName<LogFormat>, 3> kLogFormatNames{{
    {"auto", LogFormat::kAuto},
    {"text", LogFormat::kText},
    {"json", LogFormat::kJson},
}};

}  // namespace wb::config::internal
