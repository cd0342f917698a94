// Checks across [[directory]] tables. A request names its user by UPN or by DN; the router
// sends it to the directory whose upn_suffixes or base_dns match. These checks make that
// choice unambiguous before the agent starts, instead of failing per request later.

#include <map>

#include "config/internal/sections.h"
#include "ldap/dn.h"

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

// One value (a UPN suffix) may route to one directory only.
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

struct ParsedBase {
  const Field<std::string>* field;
  std::size_t directory;
  ldap::Dn dn;
};

// Base DNs, compared as the router compares them (ldap::Dn: parsed RDNs, case folded). The
// router takes the first directory, in file order, with a base DN the target lies within. A
// base DN that can never be reached is refused: one spelt another way than an earlier one
// ("OU=Dirección" and "ou=DIRECCIÓN", which once passed as different text), and one inside an
// earlier directory's ("ou=Lab,dc=corp" after "dc=corp"), whose accounts went to the outer
// directory, under its scope and password rules. The reverse order, the more specific first
// (a child domain before its parent, a catch-all last), routes as written and is allowed, as
// are nested base DNs within one directory.
void CheckBaseDnsRouteOnce(const std::vector<DirectoryRoutes>& routes, Diagnostics& diag) {
  std::vector<ParsedBase> seen;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    for (const Field<std::string>& route : routes[i].base_dns) {
      Result<ldap::Dn> dn = ldap::Dn::Parse(route.value);
      if (!dn.ok()) continue;  // refused where it was loaded (CheckDn)
      for (const ParsedBase& earlier : seen) {
        const bool same_directory = earlier.directory == i;
        if (*dn == earlier.dn) {
          diag.Add(route.at, route.key,
                   same_directory ? "is listed twice (also " + earlier.field->key + ")"
                                  : Quote(route.value) + " already routes to " +
                                        DirectoryLabel(routes, earlier.directory) + " (as " +
                                        Quote(earlier.field->value) +
                                        "); a route may lead to one directory only");
          break;
        }
        if (!same_directory && dn->IsWithin(earlier.dn)) {
          diag.Add(route.at, route.key,
                   Quote(route.value) + " lies within " + Quote(earlier.field->value) +
                       ", a base DN of " + DirectoryLabel(routes, earlier.directory) +
                       ", which comes first: the router takes the first directory whose base "
                       "DN holds the account, so no request would reach this one; list the "
                       "more specific directory first");
          break;
        }
      }
      seen.push_back({&route, i, std::move(*dn)});
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
  CheckBaseDnsRouteOnce(routes, diag);
}

}  // namespace wb::config::internal
