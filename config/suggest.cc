// "did you mean" for unknown keys: a misspelt key is the commonest config mistake, and the
// closest known key is usually the one that was meant.

#include <algorithm>
#include <cctype>
#include <numeric>
#include <vector>

#include "config/internal/toml_reader.h"

namespace wb::config::internal {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Levenshtein distance, one row at a time.
std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::optional<std::string> Suggest(std::string_view key, std::span<const std::string> candidates) {
  // At most one edit per three characters (and at least one): "ca_fle" finds "ca_file",
  // while a short key only finds a near-identical one.
  const std::size_t limit = std::max<std::size_t>(1, key.size() / 3);
  const std::string lower_key = Lower(key);
  std::optional<std::string> best;
  std::size_t best_distance = limit + 1;
  for (const std::string& candidate : candidates) {
    const std::size_t distance = EditDistance(lower_key, Lower(candidate));
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace wb::config::internal
