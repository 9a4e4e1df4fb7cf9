// Parquet modular encryption (lake/parquet_crypto.h) and the lake files'
// key sidecars (lake/file_keys.h).

#include <gtest/gtest.h>

#include <fstream>

#include "core/endian.h"
#include "core/testing/temp_dir.h"
#include "keys/key_provider.h"
#include "lake/file_keys.h"
#include "lake/parquet.h"
#include "lake/parquet_crypto.h"
#include "lake/testing/parquet_samples.h"

namespace watershed::lake {
namespace {

using testing::EventSchema;
using testing::MakeRows;
using testing::SliceRows;

class ParquetEncryptionTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) { return dir_.Path(name); }

  // Writes `rows` sample rows encrypted under `keys`, small pages and row
  // groups so the file has many of both, and dictionary pages.
  std::string WriteFile(const std::string& name, size_t rows, std::shared_ptr<FileKeys> keys) {
    ParquetWriterOptions o;
    o.page_bytes = 2048;
    o.row_group_bytes = 64 << 10;
    o.file_keys = std::move(keys);
    const std::string path = Path(name);
    auto w = ParquetWriter::Create(fs_, path, EventSchema(), o);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    const auto values = MakeRows(rows, 7);
    for (size_t begin = 0; begin < rows; begin += 500) {  // row groups are cut between writes
      const size_t n = std::min<size_t>(500, rows - begin);
      std::vector<ColumnValues> part = SliceRows(values, begin, n);
      EXPECT_TRUE((*w)->Write(part, n).ok());
    }
    EXPECT_TRUE((*w)->Finish().ok());
    return path;
  }

  // Every row group's columns, or the first error.
  Result<std::vector<std::vector<ColumnValues>>> ReadAll(const std::string& path, FileKeys* keys) {
    ASSIGN_OR_RETURN(auto r, ParquetReader::Open(fs_, path, keys));
    std::vector<int> all(r->info().schema.size());
    for (size_t c = 0; c < all.size(); ++c) all[c] = static_cast<int>(c);
    std::vector<std::vector<ColumnValues>> out;
    for (size_t g = 0; g < r->info().row_groups.size(); ++g) {
      ASSIGN_OR_RETURN(auto cols, r->ReadRowGroup(g, all));
      out.push_back(std::move(cols));
    }
    return out;
  }

  FileSystem* fs_ = FileSystem::Default();
  watershed::testing::TempDir dir_{"parquet-enc"};
  keys::SecretKey key_ = keys::SecretKey::Random();
  std::shared_ptr<FileKeys> fixed_ = NewFixedFileKey(key_);
};

// Plain and encrypted files of the same rows read back the same values.
TEST_F(ParquetEncryptionTest, RoundTripsManyRowGroupsPagesAndDictionaries) {
  const std::string plain = WriteFile("plain.parquet", 6000, nullptr);
  const std::string enc = WriteFile("enc.parquet", 6000, fixed_);
  auto a = ReadAll(plain, nullptr);
  auto b = ReadAll(enc, fixed_.get());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto r = ParquetReader::Open(fs_, enc, fixed_.get());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE((*r)->info().encrypted);
  EXPECT_GT((*r)->info().row_groups.size(), 2u);
  EXPECT_TRUE((*r)->info().row_groups[0].columns[1].dictionary_page_offset.has_value());
  ASSERT_EQ(a->size(), b->size());
  for (size_t g = 0; g < a->size(); ++g)
    for (size_t c = 0; c < (*a)[g].size(); ++c) {
      EXPECT_EQ((*a)[g][c].ints, (*b)[g][c].ints);
      EXPECT_EQ((*a)[g][c].bytes, (*b)[g][c].bytes);
      EXPECT_EQ((*a)[g][c].present, (*b)[g][c].present);
    }
  // "PARE" at both ends; no plaintext value of a low-cardinality column shows.
  auto raw = ReadWholeFile(fs_, enc);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->substr(0, 4), "PARE");
  EXPECT_EQ(raw->substr(raw->size() - 4), "PARE");
  EXPECT_EQ(raw->find("story_id"), std::string::npos);  // the footer's column names
  EXPECT_EQ(raw->find("share"), std::string::npos);     // a dictionary value
  EXPECT_EQ(ReadWholeFile(fs_, plain)->substr(0, 4), "PAR1");
}

TEST_F(ParquetEncryptionTest, AWrongKeyOrNoKeyIsAClearError) {
  const std::string enc = WriteFile("enc.parquet", 500, fixed_);
  auto wrong = NewFixedFileKey(keys::SecretKey::Random());
  auto r = ParquetReader::Open(fs_, enc, wrong.get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("wrong key or corrupted"), std::string::npos) << r.status().ToString();
  auto none = ParquetReader::Open(fs_, enc);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kFailedPrecondition) << none.status().ToString();
  EXPECT_NE(none.status().message().find("encrypted"), std::string::npos);
}

// Bytes flipped, one at a time, in a small file: the open or the read fails
// with kCorruption; no flip ever yields values.
TEST_F(ParquetEncryptionTest, EveryFlippedByteIsCorruptionNeverGarbage) {
  ParquetWriterOptions o;
  o.file_keys = fixed_;
  o.page_bytes = 256;
  const std::string path = Path("small.parquet");
  auto w = ParquetWriter::Create(fs_, path, EventSchema(), o);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(MakeRows(60, 3), 60).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  const std::string good = ReadWholeFile(fs_, path).value();
  ASSERT_TRUE(ReadAll(path, fixed_.get()).ok());
  const std::string flipped = Path("flipped.parquet");
  // The plaintext FileCryptoMetaData may turn into another algorithm: refused as such.
  const size_t crypto_at = good.size() - 8 - GetFixed32(good.data() + good.size() - 8);
  // Every byte of the first pages and of the tail, every 7th between.
  for (size_t i = 0; i < good.size(); i += (i < 400 || i + 400 > good.size()) ? 1 : 7) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    {  // no fsync per flip
      std::ofstream f(flipped, std::ios::binary | std::ios::trunc);
      f.write(bad.data(), static_cast<std::streamsize>(bad.size()));
    }
    auto got = ReadAll(flipped, fixed_.get());
    ASSERT_FALSE(got.ok()) << "byte " << i << " of " << good.size() << " flipped still reads";
    const bool crypto_metadata = i >= crypto_at && i < crypto_at + kFileCryptoMetaData.size();
    EXPECT_TRUE(got.status().code() == StatusCode::kCorruption ||
                (crypto_metadata && got.status().code() == StatusCode::kFailedPrecondition))
        << "byte " << i << ": " << got.status().ToString();
  }
}

TEST_F(ParquetEncryptionTest, ModulesRefuseCutInputAndForeignAlgorithms) {
  keys::GcmCipher cipher(key_);
  std::string m;
  ASSERT_TRUE(AppendModule(cipher, "hello", &m).ok());
  EXPECT_EQ(m.size(), 5 + kModuleOverhead);
  std::string_view in = m;
  std::string out;
  ASSERT_TRUE(NextModule(cipher, &in, &out).ok());
  EXPECT_EQ(out, "hello");
  EXPECT_TRUE(in.empty());
  std::string_view cut = std::string_view(m).substr(0, m.size() - 1);
  EXPECT_EQ(NextModule(cipher, &cut, &out).code(), StatusCode::kCorruption);
  EXPECT_EQ(ParseFileCryptoMetaData(kFileCryptoMetaData).value(), 5u);
  // AES_GCM_CTR_V1 (union field 2) and AAD (aad_file_unique) are refused.
  EXPECT_FALSE(ParseFileCryptoMetaData(std::string_view("\x1c\x2c\x00\x00\x00", 5)).ok());
  EXPECT_FALSE(ParseFileCryptoMetaData(std::string_view("\x1c\x1c\x28\x02\x41\x42\x00\x00\x00", 9)).ok());
}

// Sidecar keys: wrapped by the region's KEK, re-wrapped after a rotation
// without touching the data file, which reads on with the new key alone.
TEST_F(ParquetEncryptionTest, SidecarKeysRewrapWithoutRewritingTheFile) {
  const std::string keys_dir = Path("keys");
  keys::LocalKeyStore store(keys_dir, "eu");
  auto first = store.Create(true);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::shared_ptr<keys::KeyProvider> provider = keys::NewLocalKeyProvider(keys_dir, "eu");
  std::shared_ptr<FileKeys> sidecars = NewSidecarFileKeys([p = provider](const std::string&) { return p.get(); });
  const std::string path = WriteFile("lake.parquet", 800, sidecars);
  auto sidecar = DecodeSidecar(ReadWholeFile(fs_, SidecarPath(path)).value());
  ASSERT_TRUE(sidecar.ok()) << sidecar.status().ToString();
  EXPECT_EQ(sidecar->key_id, *first);
  ASSERT_TRUE(ReadAll(path, sidecars.get()).ok());
  const std::string before = ReadWholeFile(fs_, path).value();

  auto second = store.Create(true);  // rotate
  ASSERT_TRUE(second.ok());
  auto rewrapped = RewrapSidecar(fs_, *provider, path);
  ASSERT_TRUE(rewrapped.ok()) << rewrapped.status().ToString();
  EXPECT_EQ(*rewrapped, *second);
  EXPECT_EQ(ReadWholeFile(fs_, path).value(), before);  // the data file is byte-identical
  ASSERT_TRUE(store.Retire(*first).ok());
  auto after = ReadAll(path, sidecars.get());
  EXPECT_TRUE(after.ok()) << after.status().ToString();

  // A missing or damaged sidecar is a clear error.
  ASSERT_TRUE(WriteFileAtomically(fs_, SidecarPath(path), "watershed-lake-key-v1\nnope").ok());
  EXPECT_EQ(ReadAll(path, sidecars.get()).status().code(), StatusCode::kCorruption);
  ASSERT_TRUE(RemoveLakeFile(fs_, path).ok());
  EXPECT_FALSE(fs_->FileExists(path));
  EXPECT_FALSE(fs_->FileExists(SidecarPath(path)));
  EXPECT_TRUE(RemoveLakeFile(fs_, path).ok());  // already gone: no error
}

TEST_F(ParquetEncryptionTest, LakeKeysNameTheRegionByThePath) {
  const std::string keys_dir = Path("keys");
  ASSERT_TRUE(keys::LocalKeyStore(keys_dir, "us").Create(true).ok());
  std::shared_ptr<keys::KeyProvider> us = keys::NewLocalKeyProvider(keys_dir, "us");
  std::shared_ptr<FileKeys> lake = NewLakeFileKeys(
      Path("lake") + "/", [us](std::string_view region) { return region == "us" ? us.get() : nullptr; });
  EXPECT_TRUE(lake->NewKey(Path("lake/us/events/data/a.parquet")).ok());
  auto other = lake->NewKey(Path("lake/eu/events/data/a.parquet"));
  EXPECT_EQ(other.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(lake->NewKey(Path("elsewhere/us/a.parquet")).ok());
  EXPECT_FALSE(lake->NewKey(Path("lake/us")).ok());
}

}  // namespace
}  // namespace watershed::lake
