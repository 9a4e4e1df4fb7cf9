#include "keys/envelope.h"

#include <cstring>

namespace watershed::keys {
namespace {

constexpr std::string_view kMagic = "WSE1";

struct Parsed {
  WrappedKey key;
  std::string_view nonce, body;  // body: ciphertext || tag
};

bool ReadU16(std::string_view data, size_t* at, uint16_t* v) {
  if (*at + 2 > data.size()) return false;
  *v = static_cast<uint16_t>(static_cast<uint8_t>(data[*at]) | static_cast<uint8_t>(data[*at + 1]) << 8);
  *at += 2;
  return true;
}

void AppendU16(std::string* out, size_t v) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>(v >> 8));
}

Result<Parsed> Parse(std::string_view data) {
  Parsed p;
  size_t at = kMagic.size();
  uint16_t id_len = 0, blob_len = 0;
  if (!IsSealed(data) || !ReadU16(data, &at, &id_len) || at + id_len > data.size())
    return Status::Corruption("not a sealed message, or its header is cut");
  p.key.key_id = std::string(data.substr(at, id_len));
  at += id_len;
  if (!ReadU16(data, &at, &blob_len) || at + blob_len + kNonceBytes + kTagBytes > data.size())
    return Status::Corruption("sealed message's header is cut");
  p.key.blob = std::string(data.substr(at, blob_len));
  at += blob_len;
  p.nonce = data.substr(at, kNonceBytes);
  p.body = data.substr(at + kNonceBytes);
  return p;
}

std::string Header(const WrappedKey& k) {
  std::string h(kMagic);
  AppendU16(&h, k.key_id.size());
  h += k.key_id;
  AppendU16(&h, k.blob.size());
  h += k.blob;
  return h;
}

std::string Aad(std::string_view context) { return std::string(kMagic) + std::string(context); }

}  // namespace

bool IsSealed(std::string_view data) { return data.substr(0, kMagic.size()) == kMagic; }

Result<std::string> SealMessage(KeyProvider& provider, std::string_view context, std::string_view plaintext) {
  ASSIGN_OR_RETURN(DataKey dk, NewDataKey(provider));
  if (dk.wrapped.key_id.size() > 0xffff || dk.wrapped.blob.size() > 0xffff)
    return Status::Internal("wrapped data key too large for the envelope");
  const std::string nonce = RandomNonce();
  ASSIGN_OR_RETURN(std::string body, Seal(dk.key, nonce, Aad(context), plaintext));
  return Header(dk.wrapped) + nonce + body;
}

Result<std::string> OpenMessage(KeyProvider& provider, std::string_view context, std::string_view sealed) {
  ASSIGN_OR_RETURN(Parsed p, Parse(sealed));
  ASSIGN_OR_RETURN(SecretKey key, provider.Unwrap(p.key));
  return Open(key, p.nonce, Aad(context), p.body);
}

Result<WrappedKey> SealedKey(std::string_view sealed) {
  ASSIGN_OR_RETURN(Parsed p, Parse(sealed));
  return p.key;
}

Result<std::string> RewrapMessage(KeyProvider& provider, std::string_view sealed) {
  ASSIGN_OR_RETURN(Parsed p, Parse(sealed));
  ASSIGN_OR_RETURN(SecretKey key, provider.Unwrap(p.key));
  ASSIGN_OR_RETURN(WrappedKey fresh, provider.Wrap(key));
  if (fresh.key_id.size() > 0xffff || fresh.blob.size() > 0xffff)
    return Status::Internal("wrapped data key too large for the envelope");
  return Header(fresh) + std::string(p.nonce) + std::string(p.body);
}

}  // namespace watershed::keys
