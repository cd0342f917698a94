#pragma once
// "did you mean": the closest known word to a misspelt one (a config key or table, a command).
// A typo is usually one slip of a finger, so the nearest known word is usually the one meant.

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace wb {

// The closest of `candidates` to `word`, ignoring case, when it is near enough to be a likely
// typo: at most one edit (a letter added, dropped, changed, or two neighbours swapped) per
// three characters of `word`, and at least one. nullopt when none is that near.
std::optional<std::string> Suggest(std::string_view word, std::span<const std::string> candidates);

}  // namespace wb
