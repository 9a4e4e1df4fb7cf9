#include "recs/dataset_file.h"

#include <openssl/evp.h>

#include <cmath>
#include <unordered_set>

#include "core/hex.h"

namespace watershed::recs {

ArrayFile EncodeDataset(const Dataset& data, const std::map<std::string, std::string>& source) {
  ArrayFile f;
  f.kind = "dataset";
  std::vector<std::string> users(data.num_users()), items(data.num_items()), titles(data.num_items()),
      authors(data.num_items()), languages(data.num_items());
  std::vector<int64_t> created(data.num_items(), 0);
  std::vector<uint32_t> offsets = {0}, tags;
  for (uint32_t u = 0; u < users.size(); ++u) users[u] = data.users.Name(u);
  for (uint32_t i = 0; i < items.size(); ++i) {
    items[i] = data.items.Name(i);
    if (i < data.features.size()) {
      const ItemFeatures& x = data.features[i];
      titles[i] = x.title;
      authors[i] = x.author;
      languages[i] = x.language;
      created[i] = x.created_at;
      tags.insert(tags.end(), x.tags.begin(), x.tags.end());
    }
    offsets.push_back(static_cast<uint32_t>(tags.size()));
  }
  f.Put("users", std::move(users));
  f.Put("items", std::move(items));
  f.Put("tag_names", data.tag_names);
  f.Put("item.title", std::move(titles));
  f.Put("item.author", std::move(authors));
  f.Put("item.language", std::move(languages));
  f.Put("item.created_at", std::move(created));
  f.Put("item.tag_offsets", std::move(offsets));
  f.Put("item.tags", std::move(tags));
  const size_t n = data.interactions.size();
  std::vector<uint32_t> iu(n), ii(n);
  std::vector<float> iw(n);
  std::vector<int64_t> it(n);
  for (size_t k = 0; k < n; ++k) {
    const Interaction& x = data.interactions[k];
    iu[k] = x.user;
    ii[k] = x.item;
    iw[k] = x.weight;
    it[k] = x.timestamp;
  }
  f.Put("interaction.user", std::move(iu));
  f.Put("interaction.item", std::move(ii));
  f.Put("interaction.weight", std::move(iw));
  f.Put("interaction.timestamp", std::move(it));
  f.Put("below_threshold", std::vector<int64_t>{static_cast<int64_t>(data.below_threshold)});
  std::vector<std::string> src;
  for (const auto& [k, v] : source) src.push_back(k + "=" + v);
  f.Put("source", std::move(src));
  return f;
}

Result<Dataset> DecodeDataset(const ArrayFile& f, std::map<std::string, std::string>* source) {
  auto bad = [&](const std::string& what) { return Status::Corruption(f.path + ": " + what); };
  if (f.kind != "dataset") return bad("holds a '" + f.kind + "', not a dataset");
  Dataset d;
  ASSIGN_OR_RETURN(const std::vector<std::string>* users, f.Strings("users", ArrayFile::kAnyCount));
  ASSIGN_OR_RETURN(const std::vector<std::string>* items, f.Strings("items", ArrayFile::kAnyCount));
  for (const std::string& u : *users)
    if (d.users.Find(u) >= 0 || (d.users.Intern(u), false)) return bad("user id '" + u + "' is listed twice");
  for (const std::string& i : *items)
    if (d.items.Find(i) >= 0 || (d.items.Intern(i), false)) return bad("item id '" + i + "' is listed twice");
  const size_t ni = items->size();
  ASSIGN_OR_RETURN(const std::vector<std::string>* tag_names, f.Strings("tag_names", ArrayFile::kAnyCount));
  d.tag_names = *tag_names;
  ASSIGN_OR_RETURN(const std::vector<std::string>* titles, f.Strings("item.title", ni));
  ASSIGN_OR_RETURN(const std::vector<std::string>* authors, f.Strings("item.author", ni));
  ASSIGN_OR_RETURN(const std::vector<std::string>* languages, f.Strings("item.language", ni));
  ASSIGN_OR_RETURN(const std::vector<int64_t>* created, f.I64("item.created_at", ni));
  ASSIGN_OR_RETURN(const std::vector<uint32_t>* offsets, f.U32("item.tag_offsets", ni + 1));
  ASSIGN_OR_RETURN(const std::vector<uint32_t>* tags, f.U32("item.tags", ArrayFile::kAnyCount));
  if ((*offsets)[0] != 0 || (*offsets)[ni] != tags->size()) return bad("item.tag_offsets do not span item.tags");
  for (size_t i = 0; i < ni; ++i)  // all checked before any is used: with the ends, every offset is in range
    if ((*offsets)[i + 1] < (*offsets)[i]) return bad("item.tag_offsets decrease at item " + std::to_string(i));
  d.features.resize(ni);
  for (size_t i = 0; i < ni; ++i) {
    ItemFeatures& x = d.features[i];
    x.tags.assign(tags->begin() + (*offsets)[i], tags->begin() + (*offsets)[i + 1]);
    for (uint32_t t : x.tags)
      if (t >= d.tag_names.size())
        return bad("item " + std::to_string(i) + " has tag " + std::to_string(t) + " of " +
                   std::to_string(d.tag_names.size()));
    x.title = (*titles)[i];
    x.author = (*authors)[i];
    x.language = (*languages)[i];
    x.created_at = (*created)[i];
  }
  ASSIGN_OR_RETURN(const std::vector<uint32_t>* iu, f.U32("interaction.user", ArrayFile::kAnyCount));
  const size_t n = iu->size();
  ASSIGN_OR_RETURN(const std::vector<uint32_t>* ii, f.U32("interaction.item", n));
  ASSIGN_OR_RETURN(const std::vector<float>* iw, f.F32("interaction.weight", n));
  ASSIGN_OR_RETURN(const std::vector<int64_t>* it, f.I64("interaction.timestamp", n));
  d.interactions.resize(n);
  std::unordered_set<uint64_t> pairs;
  pairs.reserve(n);
  for (size_t k = 0; k < n; ++k) {
    if (!pairs.insert(uint64_t{(*iu)[k]} << 32 | (*ii)[k]).second)
      return bad("interaction " + std::to_string(k) + " repeats a user-item pair");
    if ((*iu)[k] >= users->size() || (*ii)[k] >= ni)
      return bad("interaction " + std::to_string(k) + " names a user or item beyond the lists");
    if (!std::isfinite((*iw)[k])) return bad("interaction " + std::to_string(k) + " has a non-finite weight");
    d.interactions[k] = {(*iu)[k], (*ii)[k], (*iw)[k], (*it)[k]};
  }
  ASSIGN_OR_RETURN(const std::vector<int64_t>* below, f.I64("below_threshold", 1));
  if ((*below)[0] < 0) return bad("below_threshold is negative");
  d.below_threshold = static_cast<size_t>((*below)[0]);
  ASSIGN_OR_RETURN(const std::vector<std::string>* src, f.Strings("source", ArrayFile::kAnyCount));
  if (source) {
    source->clear();
    for (const std::string& kv : *src) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos) return bad("source entry '" + kv + "' is not key=value");
      (*source)[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  return d;
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  return LowerHex(digest, length);
}

}  // namespace watershed::recs
