// The breached-password list at a few million generated entries: every sampled entry found with
// its count, the first and last entry of buckets, near misses and random hashes not found, the
// real hashes of "password", concurrent lookups, and Open's sampled check on a file too big to
// check whole. One process: the lists are generated and imported once.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "breached/breached.h"
#include "tests/breached/generated_list.h"
#include "tests/support/process.h"

namespace wb::breached {
namespace {

using wb::testing::GeneratedEntry;
using wb::testing::Hash;
using wb::testing::HashFromHex;

constexpr std::uint64_t kSha1Entries = 3'000'000;  // 72 MB of entries: Open samples buckets
constexpr std::uint64_t kNtlmEntries = 1'000'000;  // 20 MB: Open checks every entry
constexpr std::uint32_t kPasswordCount = 3861493;

struct Expected {
  std::vector<GeneratedEntry> present;       // every 97th entry
  std::vector<GeneratedEntry> bucket_edges;  // first and last entries of buckets
  std::vector<Hash> absent;                  // present hashes with the last byte changed
};

class LargeListTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new wb::testing::TempDir("wbbreached");
    sha1_ = Build("sha1", kSha1Entries, 20, "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8", "\r\n",
                  sha1_expected_);
    ntlm_ =
        Build("ntlm", kNtlmEntries, 16, "8846F7EAEE8FB117AD06BDD830B7586C", "\n", ntlm_expected_);
  }
  static void TearDownTestSuite() {
    delete sha1_;
    delete ntlm_;
    delete dir_;
  }

  // Generates `n` entries plus `password_hex`, writes the text, imports it and opens it.
  static List* Build(const std::string& name, std::uint64_t n, std::size_t hash_size,
                     const std::string& password_hex, const std::string& eol, Expected& expected) {
    const auto text = dir_->path() / (name + ".txt");
    const auto bin = dir_->path() / (name + ".bin");
    const auto start = std::chrono::steady_clock::now();
    {
      wb::testing::TextWriter writer(text, eol);
      Hash previous;
      GeneratedEntry previous_entry;
      wb::testing::GenerateEntries(n, hash_size, {{HashFromHex(password_hex), kPasswordCount}}, 42,
                                   [&](const GeneratedEntry& e, std::uint64_t i) {
                                     writer.Write(e);
                                     if (i % 97 == 0) expected.present.push_back(e);
                                     if (i % 89 == 0) {
                                       Hash near = e.hash;
                                       near.back() ^= 1;
                                       expected.absent.push_back(near);
                                     }
                                     // Bucket = the first 20 bits (the default index).
                                     const auto bucket = [](const Hash& h) {
                                       return wb::testing::Prefix(h) >> 44;
                                     };
                                     if (i > 0 && bucket(e.hash) != bucket(previous) &&
                                         expected.bucket_edges.size() < 4000) {
                                       expected.bucket_edges.push_back(previous_entry);
                                       expected.bucket_edges.push_back(e);
                                     }
                                     previous = e.hash;
                                     previous_entry = e;
                                   });
      expected.bucket_edges.push_back(previous_entry);  // the very last entry
    }
    const auto generated = std::chrono::steady_clock::now();
    ImportOptions options;
    options.index_bits = kDefaultIndexBits;  // the bucket edges below assume 20 bits
    Result<ImportSummary> summary = Import(text, bin, options);
    EXPECT_TRUE(summary.ok()) << summary.error().ToString();
    if (!summary.ok()) return nullptr;
    EXPECT_EQ(summary->entries, n + 1);
    const auto imported = std::chrono::steady_clock::now();
    Result<List> list = List::Open(bin);
    EXPECT_TRUE(list.ok()) << list.error().ToString();
    const auto opened = std::chrono::steady_clock::now();
    const auto ms = [](auto d) {
      return static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    };
    std::printf("%s: %llu entries; generated in %lld ms, imported in %lld ms, opened in %lld ms\n",
                name.c_str(), static_cast<unsigned long long>(n + 1), ms(generated - start),
                ms(imported - generated), ms(opened - imported));
    std::filesystem::remove(text);
    return list.ok() ? new List(std::move(list).value()) : nullptr;
  }

  static void ExpectFindsAndMisses(const List& list, const Expected& expected) {
    ASSERT_GT(expected.present.size(), 1000u);
    for (const GeneratedEntry& e : expected.present) {
      EXPECT_EQ(*list.CountHash(e.hash), e.count) << wb::testing::HexUpper(e.hash);
    }
    ASSERT_GT(expected.bucket_edges.size(), 1000u);
    for (const GeneratedEntry& e : expected.bucket_edges) {
      EXPECT_EQ(*list.CountHash(e.hash), e.count) << wb::testing::HexUpper(e.hash);
    }
    for (const Hash& h : expected.absent) {
      EXPECT_EQ(*list.CountHash(h), 0u) << wb::testing::HexUpper(h);
    }
    std::mt19937_64 rng(5);
    Hash random(expected.present.front().hash.size());
    for (int i = 0; i < 100000; ++i) {
      for (auto& b : random) b = static_cast<std::uint8_t>(rng());
      EXPECT_EQ(*list.CountHash(random), 0u);
    }
    // The lowest and highest possible hashes.
    EXPECT_EQ(*list.CountHash(Hash(random.size(), 0x00)), 0u);
    EXPECT_EQ(*list.CountHash(Hash(random.size(), 0xFF)), 0u);
  }

  static wb::testing::TempDir* dir_;
  static List* sha1_;
  static List* ntlm_;
  static Expected sha1_expected_;
  static Expected ntlm_expected_;
};

wb::testing::TempDir* LargeListTest::dir_ = nullptr;
List* LargeListTest::sha1_ = nullptr;
List* LargeListTest::ntlm_ = nullptr;
Expected LargeListTest::sha1_expected_;
Expected LargeListTest::ntlm_expected_;

TEST_F(LargeListTest, Sha1FindsPresentEntriesAndMissesAbsentOnes) {
  ASSERT_NE(sha1_, nullptr);
  EXPECT_EQ(sha1_->kind(), HashKind::kSha1);
  ExpectFindsAndMisses(*sha1_, sha1_expected_);
}

TEST_F(LargeListTest, NtlmFindsPresentEntriesAndMissesAbsentOnes) {
  ASSERT_NE(ntlm_, nullptr);
  EXPECT_EQ(ntlm_->kind(), HashKind::kNtlm);
  ExpectFindsAndMisses(*ntlm_, ntlm_expected_);
}

TEST_F(LargeListTest, FindsPasswordByItsRealSha1AndNtlmHash) {
  ASSERT_NE(sha1_, nullptr);
  ASSERT_NE(ntlm_, nullptr);
  EXPECT_EQ(*sha1_->Count(Secret("password")), kPasswordCount);
  EXPECT_EQ(*ntlm_->Count(Secret("password")), kPasswordCount);
  EXPECT_EQ(*sha1_->Count(Secret("password1-not-in-this-generated-list")), 0u);
  EXPECT_EQ(*ntlm_->Count(Secret("password1-not-in-this-generated-list")), 0u);
}

TEST_F(LargeListTest, LookupsFromSeveralThreadsAgree) {
  ASSERT_NE(sha1_, nullptr);
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&wrong, t] {
      for (const GeneratedEntry& e : sha1_expected_.present) {
        if (*sha1_->CountHash(e.hash) != e.count) ++wrong[static_cast<std::size_t>(t)];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
}

// The SHA-1 file is above Open's whole-file limit (64 MiB): Open checks sampled buckets, and
// bucket 0 is always among them.
TEST_F(LargeListTest, OpenRefusesAnUnsortedBigFileInASampledBucket) {
  const auto copy = dir_->path() / "unsorted.bin";
  std::filesystem::copy_file(dir_->path() / "sha1.bin", copy);
  // Swap entries 0 and 1 in place: whichever bucket entry 1 is in, the order breaks in
  // bucket 0 (the generator's hashes strictly increase).
  const std::streamoff entries = 128 + ((std::streamoff{1} << kDefaultIndexBits) + 1) * 8;
  {
    std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
    std::array<char, 48> two{};
    f.seekg(entries);
    f.read(two.data(), two.size());
    std::array<char, 48> swapped{};
    std::copy(two.begin() + 24, two.end(), swapped.begin());
    std::copy(two.begin(), two.begin() + 24, swapped.begin() + 24);
    f.seekp(entries);
    f.write(swapped.data(), swapped.size());
    ASSERT_TRUE(f.good());
  }
  Result<List> list = List::Open(copy);
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().code(), Code::kCorruption);
  EXPECT_NE(list.error().message().find("the file is not sorted"), std::string::npos)
      << list.error().message();
}

}  // namespace
}  // namespace wb::breached
