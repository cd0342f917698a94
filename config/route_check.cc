// Checks across [[directory]] tables. A request names its user by UPN or by DN; the router
// sends it to the directory whose upn_suffixes or base_dns match. These checks make that
// choice unambiguous before the agent starts, instead of failing per request later.

#include <map>

#include "config/internal/sections.h"

namespace wb::config::internal {
namespace {

// Where a route value was first seen.
struct FirstUse {
  std::size_t directory;
  std::string key;
};

std::string DirectoryLabel(const std::vector<DirectoryRoutes>& routes, std::size_t i) {
  if (!routes[i].name) return routes[i].key;
  return "directory " + Quote(routes[i].name->value) + " (" + routes[i].key + ")";
}

void CheckUniqueNames(const std::vector<DirectoryRoutes>& routes, Diagnostics& diag) {
  std::map<std::string, std::size_t, std::less<>> seen;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    if (!routes[i].name) continue;
    auto [it, inserted] = seen.emplace(routes[i].name->value, i);
    if (!inserted) {
      diag.Add(routes[i].name->at, routes[i].name->key,
               Quote(routes[i].name->value) + " is already the name of " + routes[it->second].key);
    }
  }
}

// One value (a UPN suffix, a canonical base DN) may route to one directory only.
void CheckUniqueRoutes(const std::vector<DirectoryRoutes>& routes,
                       std::vector<Field<std::string>> DirectoryRoutes::*member,
                       Diagnostics& diag) {
  std::map<std::string, FirstUse, std::less<>> seen;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    for (const Field<std::string>& route : routes[i].*member) {
      auto [it, inserted] = seen.emplace(route.value, FirstUse{i, route.key});
      if (inserted) continue;
      if (it->second.directory == i) {
        diag.Add(route.at, route.key, "is listed twice (also " + it->second.key + ")");
      } else {
        diag.Add(route.at, route.key,
                 Quote(route.value) + " already routes to " +
                     DirectoryLabel(routes, it->second.directory) +
                     "; a route may lead to one "
                     "directory only");
      }
    }
  }
}

}  // namespace

void CheckDirectoryRoutes(const std::vector<DirectoryRoutes>& routes, Diagnostics& diag) {
  CheckUniqueNames(routes, diag);
  if (routes.size() >= 2) {
    for (const DirectoryRoutes& r : routes) {
      if (r.upn_suffixes.empty() && r.base_dns.empty()) {
        diag.Add(r.at, r.key,
                 "with more than one directory, each needs upn_suffixes or base_dns so that "
                 "requests can be routed to it");
      }
    }
  }
  CheckUniqueRoutes(routes, &DirectoryRoutes::upn_suffixes, diag);
  CheckUniqueRoutes(routes, &DirectoryRoutes::base_dns, diag);
}

}  // namespace wb::config::internal
