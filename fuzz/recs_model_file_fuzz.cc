// Fuzzes the model registry's readers (recs/model_file.h, recs/registry.h, recs/dataset_file.h). The first byte
// picks the reader:
//  * even: the array file (weights.bin, `recs import`'s file), decoded as is and with its length and CRC fixed up
//    so the body parser is reached; then as a dataset and as each kind of model's arrays;
//  * odd: manifest.json.
// Properties checked (a violation traps): no input crashes, leaks or trips a
// sanitizer; errors name the file; a decoded array file re-encodes to the very
// bytes it was read from; a decoded dataset or manifest re-encodes to something
// that decodes to the same encoding; model arrays that pass the checks give a
// stored item tower (format 2 two-tower and ranker) that embeds a new item, or
// a clear refusal (any other kind, format 1).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fixed_up_header.h"
#include "recs/dataset_file.h"
#include "recs/model_file.h"
#include "recs/registry.h"
#include "recs/stored_tower.h"

namespace {

using namespace watershed::recs;

using watershed::fuzz::Check;

void Arrays(const std::string& bytes) {
  auto f = DecodeArrayFile(bytes, "fuzz");
  if (!f.ok()) {
    Check(f.status().message().rfind("fuzz: ", 0) == 0);
    return;
  }
  Check(EncodeArrayFile(*f) == bytes);
  std::map<std::string, std::string> source;
  auto d = DecodeDataset(*f, &source);
  if (d.ok()) {
    const std::string again = EncodeArrayFile(EncodeDataset(*d, source));
    auto back = DecodeArrayFile(again, "again");
    Check(back.ok());
    auto d2 = DecodeDataset(*back, nullptr);
    Check(d2.ok() && EncodeArrayFile(EncodeDataset(*d2, source)) == again);
  } else {
    Check(d.status().message().rfind("fuzz: ", 0) == 0);
  }
  ModelManifest m;
  m.config["candidates"] = "5";
  if (auto users = f->Strings("user_ids", ArrayFile::kAnyCount); users.ok()) m.users = (*users)->size();
  if (auto items = f->Strings("item_ids", ArrayFile::kAnyCount); items.ok()) m.items = (*items)->size();
  for (uint32_t format : {1u, 2u})
    for (const char* model : {"popularity", "bpr", "two-tower", "ranker"})
      for (uint32_t dim : {0u, 1u, 2u, 4u}) {
        m.format_version = format;
        m.model = model;
        m.dim = dim;
        if (!CheckModelArrays(m, *f).ok()) continue;
        // Arrays that pass the checks must give a usable item tower (format 2)
        // or a clear refusal.
        auto tower = StoredItemTower::FromLoaded({m, *f});
        Check(tower.ok() == (format == 2 && (m.model == std::string("two-tower") || m.model == std::string("ranker"))));
        if (!tower.ok()) continue;
        const auto* names = f->Strings("tower.features", ArrayFile::kAnyCount).value();
        ItemDescription item;
        for (const std::string& name : *names)
          if (name.rfind("tag:", 0) == 0) item.tags.push_back(name.substr(4));
        item.tags.push_back("unknown");
        item.author = "7";
        size_t unknown = 0;
        Check(tower->EmbedItem(item, &unknown).vector.size() == dim && unknown >= 1);
      }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 1) {
    auto m = DecodeManifest(input, "fuzz");
    if (!m.ok()) {
      Check(m.status().message().rfind("fuzz: ", 0) == 0);
      return 0;
    }
    const std::string text = EncodeManifest(*m);
    auto back = DecodeManifest(text, "again");
    Check(back.ok() && EncodeManifest(*back) == text);
    return 0;
  }
  Arrays(input);
  if (watershed::fuzz::FixUpHeader(&input, 24, 12, 16)) Arrays(input);
  return 0;
}
