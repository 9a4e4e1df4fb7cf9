// Fuzzes the model registry's readers (recs/model_file.h, recs/registry.h, recs/dataset_file.h). The first byte
// picks the reader:
//  * even: the array file (weights.bin, `recs import`'s file), decoded as is and with its length and CRC fixed up
//    so the body parser is reached; then as a dataset and as each kind of model's arrays;
//  * odd: manifest.json.
// Properties checked (a violation traps): no input crashes, leaks or trips a sanitizer; errors name the file; a
// decoded array file re-encodes to the very bytes it was read from; a decoded dataset or manifest re-encodes to
// something that decodes to the same encoding.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fixed_up_header.h"
#include "recs/dataset_file.h"
#include "recs/model_file.h"
#include "recs/registry.h"

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
  for (const char* model : {"popularity", "bpr", "two-tower", "ranker"})
    for (uint32_t dim : {0u, 1u, 2u, 4u}) {
      m.model = model;
      m.dim = dim;
      (void)CheckModelArrays(m, *f);
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
