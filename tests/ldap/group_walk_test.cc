// The memberOf walk over a graph held in memory; the real slapd tests are in
// openldap_scope_test.cc. Each test names what it proves.
#include "ldap/group_walk.h"

#include <gtest/gtest.h>

#include <map>

namespace wb::ldap {
namespace {

// Groups and their memberOf values; counts the reads.
class Graph {
 public:
  void Parents(const std::string& group, std::vector<std::string> parents) {
    parents_[group] = std::move(parents);
  }
  ReadParentGroups Reader() {
    return [this](const Dn& group) -> Result<std::vector<std::string>, Outcome> {
      ++reads;
      auto it = parents_.find(group.text());
      if (it == parents_.end()) return std::vector<std::string>{};
      return it->second;
    };
  }
  int reads = 0;

 private:
  // By the text the walk reads: the memberOf values it was given.
  std::map<std::string, std::vector<std::string>> parents_;
};

std::string G(int n) { return "cn=g" + std::to_string(n) + ",ou=groups,dc=example,dc=test"; }

std::vector<Dn> Dns(const std::vector<std::string>& texts) {
  std::vector<Dn> out;
  for (const auto& t : texts) out.push_back(*Dn::Parse(t));
  return out;
}

// g1 -> g2 -> ... -> g<n>: the account is in g1 only.
Graph Chain(int n) {
  Graph graph;
  for (int i = 1; i < n; ++i) graph.Parents(G(i), {G(i + 1)});
  return graph;
}

TEST(GroupWalkTest, DirectGroupsNeedNoRead) {
  Graph graph;
  auto found = FindNestedGroups({G(1), G(2)}, Dns({G(2), G(1)}), graph.Reader());
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_EQ(*found, (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(graph.reads, 0);
}

TEST(GroupWalkTest, TheAnswerIsTheIndicesOfTheGroupsFoundAscending) {
  Graph graph;
  auto found = FindNestedGroups({G(1), G(2)}, Dns({G(2), G(9), G(1)}), graph.Reader());
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_EQ(*found, (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(graph.reads, 2);  // g9 is still wanted: g1 and g2 are read to look for it
}

TEST(GroupWalkTest, AGroupOfAGroupIsFound) {
  Graph graph = Chain(3);
  auto found = FindNestedGroups({G(1)}, Dns({G(3)}), graph.Reader());
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_EQ(*found, std::vector<std::size_t>{0});
}

TEST(GroupWalkTest, GroupsAreComparedAsDns) {
  Graph graph = Chain(2);
  auto found =
      FindNestedGroups({G(1)}, Dns({"CN=G2 ,  OU=Groups,DC=Example,DC=Test"}), graph.Reader());
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_EQ(*found, std::vector<std::size_t>{0});
}

TEST(GroupWalkTest, NotAMemberReadsEveryReachableGroupOnce) {
  Graph graph = Chain(4);
  graph.Parents(G(1), {G(2), G(3)});  // g3 reached twice: level 2 and through g2
  auto found = FindNestedGroups({G(1)}, Dns({G(99)}), graph.Reader());
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_TRUE(found->empty());
  EXPECT_EQ(graph.reads, 4);
}

TEST(GroupWalkTest, ACycleEnds) {
  Graph graph;
  graph.Parents(G(1), {G(2)});
  graph.Parents(G(2), {G(1)});
  auto found = FindNestedGroups({G(1)}, Dns({G(99)}), graph.Reader());
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_TRUE(found->empty());
  EXPECT_EQ(graph.reads, 2);
}

TEST(GroupWalkTest, TheWalkStopsOnceEveryWantedGroupIsFound) {
  Graph graph = Chain(100);
  auto found = FindNestedGroups({G(1)}, Dns({G(2)}), graph.Reader());
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_EQ(*found, std::vector<std::size_t>{0});
  EXPECT_EQ(graph.reads, 1);
}

TEST(GroupWalkTest, AGroupAtTheDeepestLevelAllowedIsFound) {
  Graph graph = Chain(Directory::kMaxGroupDepth + 1);
  auto found = FindNestedGroups({G(1)}, Dns({G(Directory::kMaxGroupDepth)}), graph.Reader());
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_EQ(*found, std::vector<std::size_t>{0});
}

TEST(GroupWalkTest, AChainOfExactlyTheDepthLimitIsAnsweredNotAMember) {
  Graph graph = Chain(Directory::kMaxGroupDepth);
  auto found = FindNestedGroups({G(1)}, Dns({G(99)}), graph.Reader());
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_TRUE(found->empty());
}

TEST(GroupWalkTest, NestingDeeperThanTheLimitIsAnErrorNamingItNotANonMember) {
  Graph graph = Chain(Directory::kMaxGroupDepth + 1);
  auto found = FindNestedGroups({G(1)}, Dns({G(99)}), graph.Reader());
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code, OutcomeCode::kInternalError);
  EXPECT_NE(found.error().reason.find("kMaxGroupDepth"), std::string::npos)
      << found.error().ToString();
}

TEST(GroupWalkTest, MoreGroupsToReadThanTheLimitIsAnErrorNamingIt) {
  Graph graph;
  std::vector<std::string> many;
  for (int i = 2; i < 2 + Directory::kMaxGroupsRead; ++i) many.push_back(G(i));
  graph.Parents(G(1), many);  // g1 plus kMaxGroupsRead groups above it: one read too many
  auto found = FindNestedGroups({G(1)}, Dns({G(0)}), graph.Reader());
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code, OutcomeCode::kInternalError);
  EXPECT_NE(found.error().reason.find("kMaxGroupsRead"), std::string::npos)
      << found.error().ToString();
  EXPECT_EQ(graph.reads, Directory::kMaxGroupsRead);
}

TEST(GroupWalkTest, ExactlyTheReadLimitIsEnough) {
  Graph graph;
  std::vector<std::string> many;
  for (int i = 2; i < 1 + Directory::kMaxGroupsRead; ++i) many.push_back(G(i));
  graph.Parents(G(1), many);
  auto found = FindNestedGroups({G(1)}, Dns({G(0)}), graph.Reader());
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_EQ(graph.reads, Directory::kMaxGroupsRead);
}

TEST(GroupWalkTest, AReadErrorIsPassedOnNotTakenAsNoParents) {
  auto found = FindNestedGroups({G(1)}, Dns({G(2)}),
                                [](const Dn&) -> Result<std::vector<std::string>, Outcome> {
                                  return MakeOutcome(OutcomeCode::kDirectoryTimeout, "slow");
                                });
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code, OutcomeCode::kDirectoryTimeout);
}

TEST(GroupWalkTest, AMemberOfValueThatIsNotADnIsAnError) {
  Graph graph;
  graph.Parents(G(1), {"not a dn"});
  auto found = FindNestedGroups({G(1)}, Dns({G(2)}), graph.Reader());
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code, OutcomeCode::kInternalError);
  EXPECT_NE(found.error().reason.find("not a DN"), std::string::npos) << found.error().ToString();
}

TEST(GroupWalkTest, NoGroupsMeansNoneAndNoRead) {
  Graph graph;
  auto found = FindNestedGroups({}, Dns({G(1)}), graph.Reader());
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->empty());
  EXPECT_EQ(graph.reads, 0);
}

}  // namespace
}  // namespace wb::ldap
