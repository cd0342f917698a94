// bind_password_credential: a systemd credential named in the config, resolved through
// $CREDENTIALS_DIRECTORY under systemd and, outside the unit, checked at the source that the
// unit's LoadCredential= names. SecretChecks::kSkip: commands that read no secret never fail
// because of one.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>  // NOLINT(modernize-deprecated-headers): setenv, unsetenv

#include <filesystem>
#include <string>

#include "tests/config/config_test_util.h"

namespace wb::config::testing {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr char kDir[] = "[[directory]]";

// kMinimal with the bind password named as a credential.
std::string WithCredential(std::string_view name = "\"ad-bind\"") {
  std::string text = RemoveKey(kMinimal, kDir, "bind_password_file");
  return SetKey(text, kDir, "bind_password_credential", name);
}

class CredentialTest : public ConfigTest {
 protected:
  void SetUp() override {
    ConfigTest::SetUp();
    units_ = dir_ / "units";
    fs::create_directories(units_);
    options_.unit_path = {dir_ / "etc-units", units_};  // the first one is empty
  }

  // Writes units_/wbagent.service (or a drop-in: `file` relative to units_).
  fs::path WriteUnit(std::string_view body, const std::string& file = "wbagent.service") {
    const fs::path path = units_ / file;
    fs::create_directories(path.parent_path());
    WriteFile(fs::relative(path, dir_).string(), body);
    return path;
  }

  fs::path units_;
};

constexpr char kUnit[] = R"([Unit]
Description=wbagent

[Service]
ExecStart=/usr/bin/wbagent run
# LoadCredential=ad-bind:/nowhere (a comment)
LoadCredential=ad-bind:SOURCE
LoadCredential=audit.key:/etc/wbagent/audit.key
)";

std::string UnitWithSource(const fs::path& source) {
  std::string unit = kUnit;
  unit.replace(unit.find("SOURCE"), 6, source.string());
  return unit;
}

TEST_F(CredentialTest, UnderSystemdTheCredentialIsReadFromCredentialsDirectory) {
  fs::create_directories(dir_ / "creds");
  WriteFile("creds/ad-bind", "pw\n", 0400);
  options_.credentials_directory = dir_ / "creds";
  const Config c = LoadOk(WithCredential());
  EXPECT_EQ(c.directories.at(0).bind_password_file, dir_ / "creds" / "ad-bind");
  EXPECT_EQ(c.directories.at(0).bind_password_credential, "ad-bind");
}

TEST_F(CredentialTest, UnderSystemdAMissingCredentialNamesTheKeyAndLine) {
  fs::create_directories(dir_ / "creds");
  options_.credentials_directory = dir_ / "creds";
  const std::string text = WithCredential();
  const ConfigError e =
      ExpectOneError(text, "directory[0].bind_password_credential", "does not exist");
  EXPECT_EQ(e.line, LineOf(text, "bind_password_credential"));
  EXPECT_THAT(e.problem, HasSubstr("$CREDENTIALS_DIRECTORY"));
}

TEST_F(CredentialTest, OutsideSystemdTheUnitsLoadCredentialSourceIsChecked) {
  const fs::path source = WriteFile("ad-bind", "pw\n", 0600);
  WriteUnit(UnitWithSource(source));
  const Config c = LoadOk(WithCredential());
  EXPECT_EQ(c.directories.at(0).bind_password_file, source);
}

TEST_F(CredentialTest, OutsideSystemdAMissingSourceNamesTheUnitLine) {
  const fs::path unit = WriteUnit(UnitWithSource(dir_ / "ad-bind"));
  const ConfigError e =
      ExpectOneError(WithCredential(), "directory[0].bind_password_credential", "does not exist");
  EXPECT_THAT(e.problem, HasSubstr(unit.string() + ":7"));  // line 6 is the comment
}

TEST_F(CredentialTest, OutsideSystemdAGroupReadableSourceIsRefused) {
  WriteUnit(UnitWithSource(WriteFile("ad-bind", "pw\n", 0640)));
  ExpectOneError(WithCredential(), "directory[0].bind_password_credential", "chmod 600");
}

TEST_F(CredentialTest, AUnitWithoutTheCredentialSaysSoAndHowToAddIt) {
  WriteUnit("[Service]\nLoadCredential=other:/etc/wbagent/other\n");
  const ConfigError e = ExpectOneError(WithCredential(), "directory[0].bind_password_credential",
                                       "cannot be checked");
  EXPECT_THAT(e.problem, HasSubstr("$CREDENTIALS_DIRECTORY is not set"));
  EXPECT_THAT(e.problem, HasSubstr("no LoadCredential=ad-bind:PATH"));
  EXPECT_THAT(e.problem, HasSubstr("systemctl edit wbagent"));
}

TEST_F(CredentialTest, NoInstalledUnitSaysWhereItLooked) {
  const ConfigError e = ExpectOneError(WithCredential(), "directory[0].bind_password_credential",
                                       "cannot be checked");
  EXPECT_THAT(e.problem, HasSubstr("no wbagent.service is installed in"));
  EXPECT_THAT(e.problem, HasSubstr(units_.string()));
}

TEST_F(CredentialTest, ALoadCredentialOutsideServiceSectionIsIgnored) {
  WriteUnit("[Install]\nLoadCredential=ad-bind:" + WriteFile("ad-bind", "pw\n", 0600).string() +
            "\n");
  ExpectOneError(WithCredential(), "directory[0].bind_password_credential", "cannot be checked");
}

TEST_F(CredentialTest, ADropInOverridesTheUnitsSource) {
  WriteUnit(UnitWithSource(dir_ / "missing"));
  const fs::path source = WriteFile("ad-bind", "pw\n", 0600);
  WriteUnit("[Service]\nLoadCredential=ad-bind:" + source.string() + "\n",
            "wbagent.service.d/50-bind.conf");
  const Config c = LoadOk(WithCredential());
  EXPECT_EQ(c.directories.at(0).bind_password_file, source);
}

TEST_F(CredentialTest, AnEmptyLoadCredentialInADropInForgetsTheUnitsLines) {
  WriteUnit(UnitWithSource(WriteFile("ad-bind", "pw\n", 0600)));
  WriteUnit("[Service]\nLoadCredential=\n", "wbagent.service.d/10-reset.conf");
  ExpectOneError(WithCredential(), "directory[0].bind_password_credential", "and its drop-ins");
}

TEST_F(CredentialTest, AnEarlierUnitDirectoryWins) {
  const fs::path good = WriteFile("ad-bind", "pw\n", 0600);
  WriteUnit(UnitWithSource(dir_ / "missing"));
  fs::create_directories(dir_ / "etc-units");
  WriteFile("etc-units/wbagent.service", UnitWithSource(good));
  const Config c = LoadOk(WithCredential());
  EXPECT_EQ(c.directories.at(0).bind_password_file, good);
}

TEST_F(CredentialTest, ARelativeSourceCannotBeCheckedAndSaysWhy) {
  WriteUnit("[Service]\nLoadCredential=ad-bind:ad-bind\n");
  const ConfigError e = ExpectOneError(WithCredential(), "directory[0].bind_password_credential",
                                       "cannot be checked");
  EXPECT_THAT(e.problem, HasSubstr("names no absolute source path"));
}

TEST_F(CredentialTest, CredentialAndPasswordFileTogetherAreRefused) {
  const std::string text =
      SetKey(kMinimal, kDir, "bind_password_credential", "\"ad-bind\"");  // file kept
  ExpectOneError(text, "directory[0].bind_password_credential", "use one of them");
}

TEST_F(CredentialTest, ACredentialNameWithASlashIsRefused) {
  ExpectOneError(WithCredential("\"../ad-bind\""), "directory[0].bind_password_credential",
                 "must be a credential name");
}

TEST_F(CredentialTest, SaslExternalRefusesACredential) {
  WriteFile("client.pem", "cert\n");
  WriteFile("client.key", "key\n", 0600);
  std::string text = SetKey(WithCredential(), kDir, "bind_method", "\"sasl_external\"");
  text = RemoveKey(text, kDir, "bind_dn");
  text = SetKey(text, kDir, "client_cert_file", "\"client.pem\"");
  text = SetKey(text, kDir, "client_key_file", "\"client.key\"");
  ExpectOneError(text, "directory[0].bind_password_credential",
                 "only valid with bind_method = \"simple\"");
}

TEST_F(CredentialTest, APasswordFileUnderRunCredentialsPointsAtTheCredentialKey) {
  const std::string text =
      SetKey(kMinimal, kDir, "bind_password_file", "\"/run/credentials/wbagent.service/ad-bind\"");
  const ConfigError e = ExpectOneError(text, "directory[0].bind_password_file", "does not exist");
  EXPECT_THAT(e.problem, HasSubstr("bind_password_credential = \"ad-bind\""));
}

TEST_F(CredentialTest, SkippedSecretsLoadWithoutTheUnitOrTheCredential) {
  options_.secrets = SecretChecks::kSkip;
  const Config c = LoadOk(WithCredential());
  EXPECT_EQ(c.directories.at(0).bind_password_credential, "ad-bind");
  EXPECT_FALSE(c.directories.at(0).bind_password_file.has_value());
}

TEST_F(CredentialTest, SkippedSecretsLoadWithMissingOrLooseSecretFiles) {
  options_.secrets = SecretChecks::kSkip;
  fs::remove(dir_ / "bind.password");
  WriteFile("client.pem", "cert\n");
  WriteFile("client.key", "key\n", 0644);
  WriteFile("state-audit.key", "k\n", 0644);
  std::string text = SetKey(kMinimal, kDir, "client_cert_file", "\"client.pem\"");
  text = SetKey(text, kDir, "client_key_file", "\"client.key\"");
  text = SetKey(text, "[audit]", "key_file", "\"state-audit.key\"");
  LoadOk(text);
}

TEST_F(CredentialTest, ExaminedSecretsStillRefuseAMissingPasswordFile) {
  fs::remove(dir_ / "bind.password");
  ExpectOneError(kMinimal, "directory[0].bind_password_file", "does not exist");
}

// Restores an environment variable when the test ends.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;  // NOLINT(concurrency-mt-unsafe)
    if (value != nullptr) {
      ::setenv(name, value, 1);  // NOLINT(concurrency-mt-unsafe): single-threaded test
    } else {
      ::unsetenv(name);  // NOLINT(concurrency-mt-unsafe)
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
    } else {
      ::unsetenv(name_);  // NOLINT(concurrency-mt-unsafe)
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(LoadOptionsTest, EnvironmentGivesCredentialsDirectoryAndUnitPath) {
  ScopedEnv creds("CREDENTIALS_DIRECTORY", "/run/credentials/wbagent.service");
  ScopedEnv path("SYSTEMD_UNIT_PATH", "/a::/b");
  const LoadOptions o = LoadOptions::FromEnvironment(SecretChecks::kSkip);
  EXPECT_EQ(o.secrets, SecretChecks::kSkip);
  EXPECT_EQ(o.credentials_directory, fs::path("/run/credentials/wbagent.service"));
  EXPECT_EQ(o.unit_path, (std::vector<fs::path>{"/a", "/b"}));
}

TEST(LoadOptionsTest, ATrailingColonInSystemdUnitPathAppendsTheDefaults) {
  ScopedEnv creds("CREDENTIALS_DIRECTORY", nullptr);
  ScopedEnv path("SYSTEMD_UNIT_PATH", "/a:");
  const LoadOptions o = LoadOptions::FromEnvironment(SecretChecks::kExamine);
  EXPECT_TRUE(o.credentials_directory.empty());
  std::vector<fs::path> expected{"/a"};
  for (const fs::path& p : LoadOptions::DefaultUnitPath()) expected.push_back(p);
  EXPECT_EQ(o.unit_path, expected);
}

TEST(LoadOptionsTest, WithoutSystemdUnitPathTheDefaultPathIsUsed) {
  ScopedEnv path("SYSTEMD_UNIT_PATH", nullptr);
  EXPECT_EQ(LoadOptions::FromEnvironment(SecretChecks::kExamine).unit_path,
            LoadOptions::DefaultUnitPath());
}

}  // namespace
}  // namespace wb::config::testing
