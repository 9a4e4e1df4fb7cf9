#include "lake/parquet_crypto.h"

#include "core/endian.h"
#include "lake/thrift_compact.h"

namespace watershed::lake {

Status AppendModule(keys::GcmCipher& cipher, std::string_view plaintext, std::string* out) {
  char len[4];
  PutFixed32(len, static_cast<uint32_t>(plaintext.size() + keys::kNonceBytes + keys::kTagBytes));
  out->append(len, 4);
  const std::string nonce = keys::RandomNonce();
  out->append(nonce);
  const size_t at = out->size();
  out->resize(at + plaintext.size() + keys::kTagBytes);
  Status s = cipher.SealTo(nonce, {}, plaintext, out->data() + at);
  if (!s.ok()) out->resize(at - kModuleOverhead + keys::kTagBytes);  // drop the length and nonce too
  return s;
}

Status NextModule(keys::GcmCipher& cipher, std::string_view* in, std::string* out) {
  if (in->size() < 4) return Status::Corruption("encrypted module cut before its length");
  const uint32_t len = GetFixed32(in->data());
  if (len < keys::kNonceBytes + keys::kTagBytes || len > in->size() - 4)
    return Status::Corruption("encrypted module length " + std::to_string(len) + " outside the chunk");
  const std::string_view module = in->substr(4, len);
  in->remove_prefix(4 + static_cast<size_t>(len));
  Status s = cipher.OpenTo(module.substr(0, keys::kNonceBytes), {}, module.substr(keys::kNonceBytes), out);
  if (!s.ok()) return Status(s.code(), "encrypted module: " + s.message());
  return Status::Ok();
}

Result<size_t> ParseFileCryptoMetaData(std::string_view tail) {
  thrift::Reader r(tail);
  bool gcm = false;
  RETURN_IF_ERROR(r.BeginStruct());
  for (;;) {
    thrift::Type type;
    int16_t id;
    RETURN_IF_ERROR(r.FieldHeader(&type, &id));
    if (type == thrift::Type::kStop) break;
    if (id != 1 || type != thrift::Type::kStruct) {  // key_metadata (2) and unknown fields: skipped
      RETURN_IF_ERROR(r.Skip(type));
      continue;
    }
    RETURN_IF_ERROR(r.BeginStruct());  // union EncryptionAlgorithm
    for (;;) {
      thrift::Type t;
      int16_t f;
      RETURN_IF_ERROR(r.FieldHeader(&t, &f));
      if (t == thrift::Type::kStop) break;
      if (f != 1 || t != thrift::Type::kStruct)
        return Status::FailedPrecondition("Parquet encryption algorithm " + std::to_string(f) +
                                          ": only AES_GCM_V1 is read");
      RETURN_IF_ERROR(r.BeginStruct());  // AesGcmV1{aad_prefix, aad_file_unique, supply_aad_prefix}
      for (;;) {
        thrift::Type a;
        int16_t g;
        RETURN_IF_ERROR(r.FieldHeader(&a, &g));
        if (a == thrift::Type::kStop) break;
        if (g == 1 || g == 2)
          return Status::FailedPrecondition("Parquet encryption with AAD (aad_prefix/aad_file_unique) is not read");
        RETURN_IF_ERROR(r.Skip(a));
      }
      RETURN_IF_ERROR(r.EndStruct());
      gcm = true;
    }
    RETURN_IF_ERROR(r.EndStruct());
  }
  RETURN_IF_ERROR(r.EndStruct());
  if (!gcm) return Status::Corruption("FileCryptoMetaData names no encryption algorithm");
  return r.position();
}

}  // namespace watershed::lake
