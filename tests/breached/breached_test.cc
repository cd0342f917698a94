// The breached-password list on small inputs: MD4 against RFC 1320, every refusal of Import
// and of Open, and the password hashing.
#include "breached/breached.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <array>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "breached/md4.h"
#include "tests/breached/generated_list.h"
#include "tests/support/process.h"

using wb::testing::Hash;

namespace wb::breached {
namespace {

using wb::testing::GeneratedEntry;
using wb::testing::HashFromHex;
using wb::testing::TempDir;
using wb::testing::WriteFile;

constexpr char kPasswordSha1[] = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8";
constexpr char kPasswordNtlm[] = "8846F7EAEE8FB117AD06BDD830B7586C";

std::string Md4Hex(std::string_view input) {
  std::array<std::uint8_t, kMd4Size> digest{};
  Md4(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(input.data()),
                                    input.size()),
      digest);
  return wb::testing::HexUpper(Hash(digest.begin(), digest.end()));
}

// RFC 1320, appendix A.5 (the 62- and 80-byte inputs cross the one- and two-block padding).
TEST(Md4Test, MatchesRfc1320TestSuite) {
  EXPECT_EQ(Md4Hex(""), "31D6CFE0D16AE931B73C59D7E0C089C0");
  EXPECT_EQ(Md4Hex("a"), "BDE52CB31DE33E46245E05FBDBD6FB24");
  EXPECT_EQ(Md4Hex("abc"), "A448017AAF21D8525FC10AE87AA6729D");
  EXPECT_EQ(Md4Hex("message digest"), "D9130A8164549FE818874806E1C7014B");
  EXPECT_EQ(Md4Hex("abcdefghijklmnopqrstuvwxyz"), "D79E1C308AA5BBCDEEA8ED63DF412DA9");
  EXPECT_EQ(Md4Hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
            "043F8582F241DB351CE627E153E7F0E4");
  EXPECT_EQ(Md4Hex("1234567890123456789012345678901234567890123456789012345678901234567890123456"
                   "7890"),
            "E33B4DDC9C38F2199C3E7B164FCC0536");
}

// Writes `text` to a file and imports it; the result of Import.
class ImportTest : public ::testing::Test {
 protected:
  Result<ImportSummary> ImportText(const std::string& text, ImportOptions options = {}) {
    EXPECT_TRUE(WriteFile(src(), text).ok());
    options.index_bits = kMinIndexBits;  // small files: a small index
    return Import(src(), dest(), options);
  }
  std::filesystem::path src() const { return dir_.path() / "pwned.txt"; }
  std::filesystem::path dest() const { return dir_.path() / "pwned.bin"; }
  const std::filesystem::path& dir() const { return dir_.path(); }

  // Expects an import refused with kInvalidArgument whose message contains `what`.
  void ExpectRefused(const std::string& text, const std::string& what, ImportOptions options = {}) {
    Result<ImportSummary> r = ImportText(text, options);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find(what), std::string::npos) << r.error().message();
    EXPECT_FALSE(std::filesystem::exists(dest()));
  }

 private:
  TempDir dir_;
};

const std::string kA = "0000000000000000000000000000000000000001";
const std::string kB = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8";
const std::string kC = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF";

TEST_F(ImportTest, ImportsSha1WithCrlfAndFindsEveryEntry) {
  Result<ImportSummary> r = ImportText(kA + ":1\r\n" + kB + ":3861493\r\n" + kC + ":7\r\n");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->kind, HashKind::kSha1);
  EXPECT_EQ(r->entries, 3u);
  EXPECT_EQ(r->output_bytes, std::filesystem::file_size(dest()));
  Result<List> list = List::Open(dest());
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  EXPECT_EQ(list->entries(), 3u);
  EXPECT_EQ(*list->CountHash(HashFromHex(kA)), 1u);
  EXPECT_EQ(*list->CountHash(HashFromHex(kC)), 7u);
  EXPECT_EQ(*list->Count(Secret("password")), 3861493u);
  EXPECT_EQ(*list->Count(Secret("Password")), 0u);
}

TEST_F(ImportTest, AcceptsLfAndALastLineWithoutNewline) {
  Result<ImportSummary> r = ImportText(kA + ":1\n" + kB + ":2\n" + kC + ":3");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->entries, 3u);
  EXPECT_EQ(*List::Open(dest())->CountHash(HashFromHex(kC)), 3u);
}

TEST_F(ImportTest, DetectsNtlmFromTheFirstLine) {
  Result<ImportSummary> r = ImportText(std::string(kPasswordNtlm) + ":12\n");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->kind, HashKind::kNtlm);
  Result<List> list = List::Open(dest());
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->kind(), HashKind::kNtlm);
  EXPECT_EQ(*list->Count(Secret("password")), 12u);
}

TEST_F(ImportTest, SaturatesCountsAboveFourBillion) {
  ASSERT_TRUE(ImportText(kA + ":99999999999999999999999\n" + kB + ":4294967296\n").ok());
  Result<List> list = List::Open(dest());
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list->CountHash(HashFromHex(kA)), 4294967295u);
  EXPECT_EQ(*list->CountHash(HashFromHex(kB)), 4294967295u);
}

TEST_F(ImportTest, RefusesUnsortedInputNamingTheLine) {
  ExpectRefused(kA + ":1\n" + kC + ":1\n" + kB + ":1\n", "pwned.txt:3: not sorted");
}

TEST_F(ImportTest, RefusesDuplicateHashNamingTheLine) {
  ExpectRefused(kA + ":1\n" + kB + ":1\n" + kB + ":2\n", "pwned.txt:3: duplicate hash");
}

TEST_F(ImportTest, RefusesALineWithoutColonNamingTheLine) {
  ExpectRefused(kA + ":1\n" + kB + "\n", "pwned.txt:2: expected HASH:COUNT");
}

TEST_F(ImportTest, RefusesLowercaseHexNamingTheLine) {
  ExpectRefused(kA + ":1\n5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8:1\n",
                "pwned.txt:2: the hash is not uppercase hex");
}

TEST_F(ImportTest, RefusesAHashOfTheOtherKindNamingTheLine) {
  ExpectRefused(kA + ":1\n" + kPasswordNtlm + ":1\n", "pwned.txt:2: expected a hash of 40");
}

TEST_F(ImportTest, RefusesAFirstLineThatIsNoHash) {
  ExpectRefused("hello world\n", "pwned.txt:1: expected HASH:COUNT with a SHA-1");
}

TEST_F(ImportTest, RefusesAKindOptionTheInputDoesNotMatch) {
  ImportOptions options;
  options.kind = HashKind::kNtlm;
  ExpectRefused(kA + ":1\n", "pwned.txt:1: expected a hash of 32", options);
}

TEST_F(ImportTest, RefusesANonDecimalCountNamingTheLine) {
  ExpectRefused(kA + ":1\n" + kB + ":12x\n", "pwned.txt:2: the count is not a decimal number");
  ExpectRefused(kA + ":\n", "pwned.txt:1: the count is not a decimal number");
}

TEST_F(ImportTest, RefusesAZeroCountNamingTheLine) {
  ExpectRefused(kA + ":0\n", "pwned.txt:1: the count is 0");
}

TEST_F(ImportTest, RefusesAnEmptyLineNamingTheLine) {
  ExpectRefused(kA + ":1\n\n" + kB + ":1\n", "pwned.txt:2:");
}

TEST_F(ImportTest, RefusesAnInputWithNoEntries) { ExpectRefused("", "no entries"); }

TEST_F(ImportTest, SizesTheIndexFromTheInputForAboutSixtyFourEntriesPerBucket) {
  std::string text;
  std::vector<Hash> hashes;
  wb::testing::GenerateEntries(100000, 20, {}, 3, [&](const GeneratedEntry& e, std::uint64_t) {
    text += wb::testing::HexUpper(e.hash);
    text += ':';
    text += std::to_string(e.count);
    text += "\r\n";
    if (hashes.size() < 1000) hashes.push_back(e.hash);
  });
  ASSERT_TRUE(WriteFile(src(), text).ok());
  Result<ImportSummary> r = Import(src(), dest(), {});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->index_bits, 11u);  // 100,000 / 2^11 = 49 entries per bucket
  EXPECT_EQ(r->output_bytes, std::filesystem::file_size(dest()));
  Result<List> list = List::Open(dest());
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  for (const Hash& h : hashes) EXPECT_GT(*list->CountHash(h), 0u);
}

TEST_F(ImportTest, RefusesIndexBitsOutOfRange) {
  ImportOptions options;
  options.index_bits = kMaxIndexBits + 1;
  Result<ImportSummary> r = Import(src(), dest(), options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
}

TEST_F(ImportTest, AMissingSourceIsNotFound) {
  Result<ImportSummary> r = Import(dir() / "absent.txt", dest(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dest()));
}

TEST_F(ImportTest, AFailedImportLeavesTheOldFileAndNoTemporaryFile) {
  ASSERT_TRUE(ImportText(kA + ":1\n").ok());
  const auto before = wb::testing::ReadFileOrEmpty(dest());
  Result<ImportSummary> r = ImportText(kB + ":1\n" + kA + ":1\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(wb::testing::ReadFileOrEmpty(dest()), before);
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir())) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"pwned.bin", "pwned.txt"}));
}

TEST_F(ImportTest, ANewImportReplacesTheFile) {
  ASSERT_TRUE(ImportText(kA + ":1\n").ok());
  ASSERT_TRUE(ImportText(kB + ":5\n").ok());
  Result<List> list = List::Open(dest());
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list->CountHash(HashFromHex(kA)), 0u);
  EXPECT_EQ(*list->CountHash(HashFromHex(kB)), 5u);
}

// A list of a few thousand entries (every entry checked at Open), to damage byte by byte.
class OpenTest : public ImportTest {
 protected:
  void SetUp() override {
    std::string text;
    wb::testing::GenerateEntries(5000, 20, {}, 7, [&](const GeneratedEntry& e, std::uint64_t) {
      text += wb::testing::HexUpper(e.hash);
      text += ':';
      text += std::to_string(e.count);
      text += '\n';
      hashes_.push_back(e.hash);
    });
    ASSERT_TRUE(ImportText(text).ok());
    bytes_ = wb::testing::ReadFileOrEmpty(dest());
    ASSERT_GT(bytes_.size(), kEntries);
  }
  // Writes the damaged bytes and opens them; expects kCorruption mentioning `what`.
  void ExpectRefused(const std::string& what) {
    ASSERT_TRUE(WriteFile(dest(), bytes_).ok());
    Result<List> list = List::Open(dest());
    ASSERT_FALSE(list.ok());
    EXPECT_EQ(list.error().code(), Code::kCorruption) << list.error().ToString();
    EXPECT_NE(list.error().message().find(what), std::string::npos) << list.error().message();
    EXPECT_NE(list.error().message().find(dest().string()), std::string::npos);
  }
  void ExpectOpens() {
    ASSERT_TRUE(WriteFile(dest(), bytes_).ok());
    Result<List> list = List::Open(dest());
    ASSERT_TRUE(list.ok()) << list.error().ToString();
    for (const Hash& h : hashes_) EXPECT_GT(*list->CountHash(h), 0u);
  }
  // Recomputes both checksums, as a tool that rewrote the index would.
  void Reseal() {
    auto* b = reinterpret_cast<unsigned char*>(bytes_.data());
    unsigned int len = 0;
    const std::size_t index_bytes = ((std::size_t{1} << kMinIndexBits) + 1) * 8;
    EVP_Digest(b + 128, index_bytes, b + 48, &len, EVP_sha256(), nullptr);
    EVP_Digest(b, 96, b + 96, &len, EVP_sha256(), nullptr);
  }
  std::size_t EntryOffset(std::size_t i) const {
    return 128 + ((std::size_t{1} << kMinIndexBits) + 1) * 8 + i * 24;
  }

  static constexpr std::size_t kEntries = 128;
  std::string bytes_;
  std::vector<Hash> hashes_;
};

TEST_F(OpenTest, TheUndamagedFileOpens) { ExpectOpens(); }

TEST_F(OpenTest, RefusesATruncatedFile) {
  bytes_.resize(bytes_.size() - 1);
  ExpectRefused("truncated");
}

TEST_F(OpenTest, RefusesAFileCutInsideItsHeader) {
  bytes_.resize(100);
  ExpectRefused("shorter than its 128-byte header");
}

TEST_F(OpenTest, RefusesTrailingBytes) {
  bytes_ += "x";
  ExpectRefused("bytes after the last entry");
}

TEST_F(OpenTest, RefusesAFileThatIsNotAList) {
  bytes_.replace(0, 8, "SQLite f");
  ExpectRefused("bad magic");
}

TEST_F(OpenTest, RefusesACorruptHeader) {
  bytes_[16] = static_cast<char>(bytes_[16] ^ 1);  // the entry count
  ExpectRefused("the header is corrupt");
}

TEST_F(OpenTest, RefusesAnUnknownVersion) {
  bytes_[8] = 2;
  Reseal();
  ExpectRefused("unsupported format version 2");
}

TEST_F(OpenTest, RefusesACorruptIndex) {
  bytes_[128 + 8 * 17] = static_cast<char>(bytes_[128 + 8 * 17] ^ 4);
  ExpectRefused("the index is corrupt");
}

TEST_F(OpenTest, RefusesAnIndexThatIsNotMonotonic) {
  // Bucket 17 starts after bucket 18: an unsorted file whose checksums are right.
  bytes_[128 + 8 * 17 + 1] = static_cast<char>(bytes_[128 + 8 * 17 + 1] + 1);
  Reseal();
  ExpectRefused("the index is not monotonic at bucket 18: the file is not sorted");
}

TEST_F(OpenTest, RefusesEntriesOutOfOrderInABucket) {
  // Entries 1 and 2 share bucket 0 (5000 entries, 256 buckets) and swap places.
  ASSERT_EQ(hashes_[1][0], hashes_[2][0]);
  std::string first = bytes_.substr(EntryOffset(1), 24);
  bytes_.replace(EntryOffset(1), 24, bytes_.substr(EntryOffset(2), 24));
  bytes_.replace(EntryOffset(2), 24, first);
  ExpectRefused("are not in ascending order: the file is not sorted");
}

TEST_F(OpenTest, RefusesAnEntryOutsideItsBucket) {
  bytes_[EntryOffset(4000)] = static_cast<char>(bytes_[EntryOffset(4000)] ^ 0x80);
  ExpectRefused("lies outside its index bucket");
}

TEST(ListTest, AMissingFileIsNotFound) {
  Result<List> list = List::Open("/nonexistent/pwned.bin");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().code(), Code::kNotFound);
}

TEST_F(ImportTest, CountHashRefusesAHashOfTheWrongSize) {
  ASSERT_TRUE(ImportText(kA + ":1\n").ok());
  Result<List> list = List::Open(dest());
  ASSERT_TRUE(list.ok());
  Result<std::uint64_t> r = list->CountHash(HashFromHex(kPasswordNtlm));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
}

TEST_F(ImportTest, NtlmHashesTheUtf16FormOfNonAsciiPasswords) {
  // MD4 of the UTF-16LE form (a surrogate pair for U+1F600), from OpenSSL's legacy provider.
  ASSERT_TRUE(ImportText("203BE5131FA61DDDD2457D29097C8143:9\n").ok());
  Result<List> list = List::Open(dest());
  ASSERT_TRUE(list.ok());
  Result<std::uint64_t> r = list->Count(Secret("P\xC3\xA4ssw\xC3\xB6rd\xF0\x9F\x98\x80"));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, 9u);
}

TEST_F(ImportTest, NtlmRefusesAPasswordThatIsNotUtf8WithoutNamingIt) {
  ASSERT_TRUE(ImportText(std::string(kPasswordNtlm) + ":1\n").ok());
  Result<List> list = List::Open(dest());
  ASSERT_TRUE(list.ok());
  // Bad: a byte that starts nothing, a cut sequence, a surrogate, an overlong form.
  for (const char* bad : {"zqx\xFFwv", "zqx\xC3", "zqx\xED\xA0\x80", "zqx\xC0\xAF"}) {
    Result<std::uint64_t> r = list->Count(Secret(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.error().message().find("zqx"), std::string::npos);
  }
}

TEST(HashKindTest, NamesRoundTrip) {
  for (HashKind kind : {HashKind::kSha1, HashKind::kNtlm}) {
    EXPECT_EQ(ParseHashKind(HashKindName(kind)), kind);
  }
  EXPECT_EQ(ParseHashKind("md5"), std::nullopt);
  EXPECT_EQ(HashSize(HashKind::kSha1), 20u);
  EXPECT_EQ(HashSize(HashKind::kNtlm), 16u);
  EXPECT_STREQ(kPasswordSha1, kB.c_str());
}

}  // namespace
}  // namespace wb::breached
