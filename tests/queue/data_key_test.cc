#include "queue/data_key.h"

#include <gtest/gtest.h>

#include "queue/sealed_passwords.h"

namespace wb::queue {
namespace {

DataKey MustGenerate() {
  auto k = DataKey::Generate();
  EXPECT_TRUE(k.ok());
  return std::move(k).value();
}

TEST(DataKeyTest, SealThenOpenRoundTrips) {
  DataKey key = MustGenerate();
  auto blob = key.Seal("hello", "id-1");
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(blob->size(), 1 + 12 + 5 + 16u);
  auto plain = key.Open(*blob, "id-1");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->view(), "hello");
}

TEST(DataKeyTest, EachSealUsesAFreshNonce) {
  DataKey key = MustGenerate();
  EXPECT_NE(*key.Seal("same", "id"), *key.Seal("same", "id"));
}

TEST(DataKeyTest, OtherAssociatedDataIsCorruption) {
  DataKey key = MustGenerate();
  EXPECT_EQ(key.Open(*key.Seal("x", "id-1"), "id-2").error().code(), Code::kCorruption);
}

TEST(DataKeyTest, OtherKeyIsCorruption) {
  DataKey a = MustGenerate();
  DataKey b = MustGenerate();
  EXPECT_EQ(b.Open(*a.Seal("x", "id"), "id").error().code(), Code::kCorruption);
}

TEST(DataKeyTest, AlteredTagIsCorruption) {
  DataKey key = MustGenerate();
  std::string blob = *key.Seal("secret", "id");
  blob.back() ^= 0x80;
  EXPECT_EQ(key.Open(blob, "id").error().code(), Code::kCorruption);
}

TEST(DataKeyTest, ShortBlobIsCorruption) {
  DataKey key = MustGenerate();
  EXPECT_EQ(key.Open("abc", "id").error().code(), Code::kCorruption);
  EXPECT_EQ(key.Open("", "id").error().code(), Code::kCorruption);
}

TEST(DataKeyTest, UnknownVersionIsCorruption) {
  DataKey key = MustGenerate();
  std::string blob = *key.Seal("secret", "id");
  blob[0] = 9;
  EXPECT_EQ(key.Open(blob, "id").error().code(), Code::kCorruption);
}

TEST(DataKeyTest, HexRoundTripsAndIdIsStable) {
  DataKey key = MustGenerate();
  Secret hex = key.ToHex();
  EXPECT_EQ(hex.size(), 64u);
  auto again = DataKey::FromHex(hex.view(), "test");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Id(), key.Id());
  EXPECT_EQ(key.Id().size(), 16u);
  EXPECT_NE(MustGenerate().Id(), key.Id());
  EXPECT_EQ(again->Open(*key.Seal("x", "i"), "i")->view(), "x");
}

TEST(DataKeyTest, HexOfWrongLengthIsCorruption) {
  auto k = DataKey::FromHex("abcd", "the key file");
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().code(), Code::kCorruption);
  EXPECT_NE(k.error().message().find("the key file"), std::string::npos);
}

TEST(DataKeyTest, NonHexDigitIsCorruption) {
  EXPECT_EQ(DataKey::FromHex(std::string(63, 'a') + "g", "k").error().code(), Code::kCorruption);
}

TEST(SealedPasswordsTest, NewAndOldPasswordsRoundTrip) {
  DataKey key = MustGenerate();
  auto blob = SealPasswords(key, "id", Secret("new"), Secret("old"));
  ASSERT_TRUE(blob.ok());
  auto pw = OpenPasswords(key, "id", *blob);
  ASSERT_TRUE(pw.ok());
  EXPECT_EQ(pw->new_password.view(), "new");
  EXPECT_EQ(pw->old_password.view(), "old");
}

TEST(SealedPasswordsTest, NoPasswordsSealToNothing) {
  DataKey key = MustGenerate();
  EXPECT_TRUE(SealPasswords(key, "id", Secret(), Secret())->empty());
}

TEST(SealedPasswordsTest, MalformedLayoutIsCorruption) {
  DataKey key = MustGenerate();
  auto blob = key.Seal(std::string("\0\0\0\x09short", 9), "id");  // length beyond the data
  EXPECT_EQ(OpenPasswords(key, "id", *blob).error().code(), Code::kCorruption);
}

}  // namespace
}  // namespace wb::queue
