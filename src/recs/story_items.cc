#include "recs/story_items.h"

#include <cctype>
#include <map>
#include <unordered_map>

#include "catalog/story_codec.h"

namespace watershed::recs {

Result<std::vector<catalog::StoryRecord>> ReadCatalogStories(FileSystem* fs, const std::string& dir) {
  if (!fs->FileExists(dir)) return Status::NotFound("no story catalogue at " + dir);
  ASSIGN_OR_RETURN(std::unique_ptr<catalog::StoryCatalog> cat, catalog::StoryCatalog::Open(fs, dir));
  return cat->All();
}

Result<std::vector<catalog::StoryRecord>> ReadItemsFile(FileSystem* fs, const std::string& path) {
  const bool csv = path.ends_with(".csv");
  if (!csv && !path.ends_with(".json"))
    return Status::InvalidArgument(path + ": an items file must end in .csv or .json");
  ASSIGN_OR_RETURN(std::string content, ReadWholeFile(fs, path));
  auto patches = catalog::ParseStoryFile(content, csv);
  if (!patches.ok()) {
    // The catalogue's parser says "line N: ..." for CSV: make it PATH:N: ... as the recs importers do.
    std::string message = patches.status().message();
    size_t digits = 5;
    while (digits < message.size() && std::isdigit(static_cast<unsigned char>(message[digits]))) ++digits;
    if (message.starts_with("line ") && digits > 5 && message.compare(digits, 2, ": ") == 0)
      return Status::InvalidArgument(path + ":" + message.substr(5, digits - 5) + ": " + message.substr(digits + 2));
    return Status::InvalidArgument(path + ": " + message);
  }
  std::vector<catalog::StoryRecord> out;
  std::map<uint64_t, size_t> index;  // story -> its record in out
  for (const catalog::StoryPatch& p : *patches) {
    auto [it, fresh] = index.try_emplace(p.story.value, out.size());
    if (fresh) {
      out.push_back(catalog::ApplyPatch(std::nullopt, p, /*now_ms=*/0));  // no created_at: 0, unknown
    } else {
      out[it->second] = catalog::ApplyPatch(out[it->second], p, 0);
    }
  }
  return out;
}

void AddStories(const std::vector<catalog::StoryRecord>& stories, Dataset* out) {
  std::unordered_map<std::string, uint32_t> tags;
  for (uint32_t i = 0; i < out->tag_names.size(); ++i) tags.emplace(out->tag_names[i], i);
  for (const catalog::StoryRecord& r : stories) {
    if (r.deleted) continue;
    const uint32_t item = out->items.Intern(std::to_string(r.story.value));
    if (out->features.size() <= item) out->features.resize(item + 1);
    ItemFeatures& f = out->features[item];
    f = {};
    for (const std::string& tag : r.tags) {
      auto [it, fresh] = tags.try_emplace(tag, static_cast<uint32_t>(out->tag_names.size()));
      if (fresh) out->tag_names.push_back(tag);
      f.tags.push_back(it->second);
    }
    f.title = r.title;
    f.author = r.author.value ? std::to_string(r.author.value) : "";
    f.language = r.language;
    f.created_at = r.created_at_ms / 1000;  // ValidateStory and the parsers refuse negative times
  }
  out->features.resize(out->items.size());
}

}  // namespace watershed::recs
