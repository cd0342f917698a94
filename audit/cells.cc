// Cell texts shared by the record and request views.
#include <cctype>

#include "audit/internal/format.h"

namespace wb::audit::internal {
namespace {

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string JoinText(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string JoinOperations(const std::vector<Operation>& operations, std::string_view separator) {
  std::string out;
  for (Operation op : operations) {
    if (!out.empty()) out += separator;
    out += Name(op);
  }
  return out;
}

std::string TableTime(WallTime time) {
  std::string text = FormatTime(time).substr(0, 19);
  text[10] = ' ';
  return text;
}

std::string ShortRequestId(const std::string& id) { return id.substr(0, kShortRequestId); }

std::string DurationText(const std::optional<std::chrono::milliseconds>& duration) {
  return duration ? std::to_string(duration->count()) : std::string();
}

std::string RequesterText(const Requester& requester, const Target& target) {
  std::string out(Name(requester.kind));
  if (requester.id.empty() || EqualsIgnoringCase(requester.id, target.requested)) return out;
  if (!out.empty()) out += ':';
  out += requester.id;
  return out;
}

std::string Count(std::size_t n, std::string_view noun) {
  std::string out = std::to_string(n);
  out.append(" ").append(noun).append(n == 1 ? "" : "s").append("\n");
  return out;
}

}  // namespace wb::audit::internal
