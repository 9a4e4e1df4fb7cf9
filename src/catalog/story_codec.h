#pragma once
// Stories as clients write them: the JSON of POST /v1/stories and the CSV
// and JSON files of `watershed catalog import`. A client sends patches:
// story_id and whatever fields it sets; ApplyPatch merges one over the
// story's current record. Every error names the story (its index in the
// batch, or its line in a CSV file) and the field.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/story_catalog.h"

namespace watershed::catalog {

inline constexpr size_t kMaxStoriesPerBatch = 1000;

struct StoryPatch {
  std::string where;  // "stories[3]" or "line 5": for error messages
  StoryId story;
  std::optional<AuthorId> author;
  std::optional<int64_t> created_at_ms;
  std::optional<std::string> title;
  std::optional<std::vector<std::string>> tags;
  std::optional<std::string> language;
  std::optional<bool> is_original;
  std::optional<bool> deleted;
};

// {"stories": [STORY, ...]} with at most kMaxStoriesPerBatch stories (more:
// kTooLarge). STORY: {"story_id": N, "author_id": N, "created_at": ms,
// "title": "...", "tags": ["..."], "language": "en", "is_original": bool,
// "deleted": bool}; unknown keys are ignored. kInvalidArgument on anything
// else, e.g. "stories[3].tags: must be an array of strings".
Result<std::vector<StoryPatch>> ParseStoryBatchJson(std::string_view body);

// A file for `watershed catalog import`: a JSON batch as above (without the
// size limit) or a top-level JSON array of stories; or CSV (RFC 4180) whose
// header names the columns (story_id required, the JSON keys above, in any
// order; tags separated by '|'; an empty number or boolean cell leaves the
// field unset, an empty text or tags cell sets it empty). Errors name the
// line (CSV) or the index.
Result<std::vector<StoryPatch>> ParseStoryFile(std::string_view content, bool csv);

// The record after `patch`: fields it sets replace the current ones; a new
// story (current = nullopt) starts from defaults with created_at = now_ms.
// updated_at is now_ms. The author must be set for a new story
// (ValidateStory refuses author 0).
StoryRecord ApplyPatch(const std::optional<StoryRecord>& current, const StoryPatch& patch, int64_t now_ms);

// {"story_id":N,"author_id":N,"created_at":ms,"title":"...","tags":[...],
// "language":"...","is_original":b,"deleted":b,"updated_at":ms,"version":N}
void AppendStoryJson(const StoryRecord& r, std::string* out);

}  // namespace watershed::catalog
