#include "agent/policy_summary.h"

#include <algorithm>

namespace wb::agent {
namespace {

// Ten years: the bound the protocol sets (a longer minimum age reads the same to a user).
constexpr std::chrono::seconds kMaxMinAge{10LL * 366 * 24 * 3600};

protocol::DirectoryRulesSummary Summarise(const ldap::PasswordPolicy& p) {
  return protocol::DirectoryRulesSummary{
      .min_length = std::clamp(p.min_length, 0, protocol::kMaxSummaryLength),
      .max_length = std::clamp(p.max_length, 0, protocol::kMaxSummaryLength),
      .complexity = p.complexity,
      .history_length = std::clamp(p.history_length, 0, protocol::kMaxSummaryHistory),
      .min_age = std::clamp(p.min_age, std::chrono::seconds{0}, kMaxMinAge)};
}

const Result<ldap::PasswordPolicy, ldap::Outcome>* Find(const DefaultPolicies& defaults,
                                                        const std::string& name) {
  for (const auto& [directory, policy] : defaults) {
    if (directory == name) return &policy;
  }
  return nullptr;
}

}  // namespace

protocol::PolicySummary BuildPolicySummary(const std::vector<config::DirectoryConfig>& directories,
                                           const policy::Policy& rules,
                                           const DefaultPolicies& defaults) {
  protocol::PolicySummary summary;
  for (const config::DirectoryConfig& d : directories) {
    protocol::DirectorySummary entry;
    entry.name = d.name;
    entry.upn_suffixes = d.upn_suffixes;
    if (entry.upn_suffixes.size() > protocol::kMaxSummarySuffixes) {
      entry.upn_suffixes.resize(protocol::kMaxSummarySuffixes);
    }
    if (const auto* read = Find(defaults, d.name); read != nullptr && read->ok()) {
      entry.directory = Summarise(**read);
    }
    entry.self = rules.PasswordSummaryFor(d.name, protocol::RequesterType::kSelf);
    entry.admin = rules.PasswordSummaryFor(d.name, protocol::RequesterType::kAdmin);
    summary.directories.push_back(std::move(entry));
  }
  return summary;
}

}  // namespace wb::agent
