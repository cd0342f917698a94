// The JWE plaintext: the hand-written strict parser and writer.
#include "protocol/secret_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace wb::protocol {
namespace {

constexpr std::string_view kPw = "Sup3r-Secret-Pw";

void ExpectRefused(std::string_view plaintext) {
  auto r = ParsePasswords(plaintext);
  ASSERT_FALSE(r.ok()) << plaintext;
  EXPECT_EQ(r.error().message().find(kPw), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find("Sup3r"), std::string::npos) << r.error().message();
}

// Where the plaintext breaks would tell the log, the trail and the cloud something of the
// password (its length, where an odd character is): two breaks at different places read alike.
TEST(SecretJson, ASyntaxErrorSaysNothingOfWhereItIs) {
  auto early = ParsePasswords(R"({"new_password":"ab"x})");
  auto late = ParsePasswords(R"({"new_password":"Sup3r-Secret-Pw-and-more"x})");
  ASSERT_FALSE(early.ok());
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(early.error().message(), late.error().message());
  EXPECT_EQ(late.error().message(), "secret: not valid JSON");
}

TEST(SecretJson, ParsesNewAndOld) {
  auto r = ParsePasswords(R"( { "old_password" : "a" , "new_password":"Sup3r-Secret-Pw" } )");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->new_password.view(), kPw);
  EXPECT_EQ(r->old_password.view(), "a");
}

TEST(SecretJson, DecodesEveryEscape) {
  auto r = ParsePasswords(R"({"new_password":"\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00"})");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->new_password.view(), "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

TEST(SecretJson, AgreesWithNlohmannOnWhatItWrites) {
  std::string tricky;
  for (int c = 1; c < 128; ++c) tricky.push_back(static_cast<char>(c));
  tricky += "\xc3\xa9\xf0\x9f\x98\x80";
  WipedString out;
  ASSERT_TRUE(SerializePasswords(Passwords{Secret(tricky), Secret("old")}, out).ok());
  auto j = nlohmann::json::parse(out.view());
  EXPECT_EQ(j["new_password"], tricky);
  EXPECT_EQ(j["old_password"], "old");
  auto back = ParsePasswords(out.view());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->new_password.view(), tricky);
}

TEST(SecretJson, RefusesUnknownDuplicateAndMissingMembers) {
  ExpectRefused(R"({"new_password":"Sup3r-Secret-Pw","otp":"1"})");
  ExpectRefused(R"({"new_password":"Sup3r-Secret-Pw","new_password":"x"})");
  ExpectRefused(R"({"old_password":"Sup3r-Secret-Pw"})");
  ExpectRefused(R"({})");
}

TEST(SecretJson, RefusesBadJson) {
  ExpectRefused("");
  ExpectRefused(R"({"new_password":"Sup3r-Secret-Pw")");
  ExpectRefused(R"({"new_password":"Sup3r-Secret-Pw"} x)");
  ExpectRefused(R"({"new_password":"Sup3r-Secret-Pw",})");
  ExpectRefused(R"({"new_password":Sup3r-Secret-Pw})");
  ExpectRefused(R"({'new_password':'Sup3r-Secret-Pw'})");
  ExpectRefused("{\"new_password\":\"Sup3r-Secret-Pw\n\"}");  // raw control character
  ExpectRefused(R"({"new_password":"Sup3r-Secret-Pw\x"})");
  ExpectRefused(R"({"new_password":["Sup3r-Secret-Pw"]})");
  ExpectRefused(R"(["Sup3r-Secret-Pw"])");
}

TEST(SecretJson, RefusesBadPasswords) {
  ExpectRefused(R"({"new_password":""})");
  ExpectRefused(R"({"new_password":"Sup3r-Secret-Pw\u0000"})");
  ExpectRefused(R"({"new_password":"Sup3r-Secret-Pw\udc00"})");         // lone low surrogate
  ExpectRefused(R"({"new_password":"Sup3r-Secret-Pw\ud83d"})");         // lone high surrogate
  ExpectRefused("{\"new_password\":\"Sup3r-Secret-Pw\xc0\xaf\"}");      // overlong
  ExpectRefused("{\"new_password\":\"Sup3r-Secret-Pw\xed\xa0\x80\"}");  // encoded surrogate
  ExpectRefused("{\"new_password\":\"Sup3r-Secret-Pw\xff\"}");
  ExpectRefused(R"({"new_password":")" + std::string(kMaxPasswordBytes + 1, 'a') + "\"}");
  EXPECT_TRUE(
      ParsePasswords(R"({"new_password":")" + std::string(kMaxPasswordBytes, 'a') + "\"}").ok());
}

TEST(SecretJson, SerializeRefusesWhatParseWouldRefuse) {
  WipedString out;
  EXPECT_FALSE(SerializePasswords(Passwords{Secret(""), Secret()}, out).ok());
  EXPECT_FALSE(SerializePasswords(Passwords{Secret("a\xff"), Secret()}, out).ok());
  EXPECT_FALSE(
      SerializePasswords(Passwords{Secret(std::string(kMaxPasswordBytes + 1, 'a')), Secret()}, out)
          .ok());
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(IsValidUtf8("plain \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));
}

}  // namespace
}  // namespace wb::protocol
