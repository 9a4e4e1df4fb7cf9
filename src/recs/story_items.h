#pragma once
// Item features of stories (docs/recs.md, "From the lake"): author,
// created_at, tags, language and title, from the story catalogue
// (catalog/story_catalog.h) or from a file in the catalogue's import format
// (catalog/story_codec.h: CSV with a header, or JSON).

#include <string>
#include <vector>

#include "catalog/story_catalog.h"
#include "core/file_system.h"
#include "core/status.h"
#include "recs/dataset.h"

namespace watershed::recs {

// The catalogue's stories at `dir` (StoryCatalog, read as the catalogue's own
// readers do). kNotFound when there is no catalogue there (nothing is created).
Result<std::vector<catalog::StoryRecord>> ReadCatalogStories(FileSystem* fs, const std::string& dir);

// The stories of an items file: CSV when `path` ends in .csv, JSON when in
// .json. A story listed twice: the later entry's fields win over the
// earlier's. Errors are "PATH:LINE: reason" (CSV) or "PATH: stories[i].field:
// reason" (JSON); a file with any error yields nothing.
Result<std::vector<catalog::StoryRecord>> ReadItemsFile(FileSystem* fs, const std::string& path);

// Lists the stories that are not deleted as items of `out` (in the given
// order; an item already listed gets its features replaced): author as its
// decimal id, created_at in unix seconds, tags, language, title. Call before
// adding interactions, so that stories nobody engaged with are candidates too.
void AddStories(const std::vector<catalog::StoryRecord>& stories, Dataset* out);

}  // namespace watershed::recs
