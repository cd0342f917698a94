#pragma once
// Test support: a throwaway certificate authority made with the openssl CLI. Server
// certificates carry SAN IP:127.0.0.1 and DNS:localhost unless other names are given.

#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"

namespace wb::testing {

struct KeyPair {
  std::filesystem::path cert;  // PEM
  std::filesystem::path key;   // PEM, mode 0600
};

class TestCa {
 public:
  // Creates a CA (P-256) named `name` in `dir`.
  static Result<TestCa> Create(const std::filesystem::path& dir, const std::string& name);

  const std::filesystem::path& cert() const { return ca_.cert; }
  const KeyPair& ca() const { return ca_; }

  // A server certificate for `sans` (e.g. {"IP:127.0.0.1", "DNS:localhost"}) valid from
  // now + not_before_days for `days` days (negative values make expired certificates).
  Result<KeyPair> IssueServer(const std::string& name,
                              std::vector<std::string> sans = {"IP:127.0.0.1", "DNS:localhost"},
                              int days = 30, int not_before_days = 0) const;
  Result<KeyPair> IssueClient(const std::string& common_name, int days = 30) const;

 private:
  Result<KeyPair> Issue(const std::string& name, const std::string& subject,
                        const std::string& extensions, int days, int not_before_days) const;
  std::filesystem::path dir_;
  KeyPair ca_;
};

}  // namespace wb::testing
