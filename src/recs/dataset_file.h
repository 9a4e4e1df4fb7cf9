#pragma once
// The normalised interactions file `watershed recs import` writes (docs/recs.md, "Import, train and the model
// registry"): a Dataset (dataset.h) as a model_file.h array file of kind "dataset", so training reads it back
// without re-parsing the source. Arrays:
//   users, items, tag_names (strings)          external ids in dense-id order; the tag names
//   item.title, item.author, item.language (strings), item.created_at (i64), item.tag_offsets (u32, items + 1),
//   item.tags (u32)                            the item features
//   interaction.user, interaction.item (u32), interaction.weight (f32), interaction.timestamp (i64)
//   below_threshold (i64, one value)
//   source (strings, "key=value")              where it came from: the loading flags, each input file's
//                                              size and SHA-256, or the lake snapshot

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_system.h"
#include "core/status.h"
#include "recs/dataset.h"
#include "recs/model_file.h"

namespace watershed::recs {

ArrayFile EncodeDataset(const Dataset& data, const std::map<std::string, std::string>& source);
// Checks every array's length and every id against the others; errors name the
// file.
Result<Dataset> DecodeDataset(const ArrayFile& file, std::map<std::string, std::string>* source = nullptr);

// The lowercase hex SHA-256 of `bytes` (OpenSSL's libcrypto).
std::string Sha256Hex(std::string_view bytes);

}  // namespace watershed::recs
