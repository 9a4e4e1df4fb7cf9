#include "lake/sink_state.h"

#include <algorithm>

#include "core/endian.h"

namespace watershed::lake {
namespace {

constexpr size_t kGroupBytes = 1 + 4 + 4 + 8 + 8;
constexpr size_t kMinuteBytes = 8 + 8 + 1 + 6 * 8;

void Put32(std::string* out, uint32_t v) {
  char b[4];
  PutFixed32(b, v);
  out->append(b, 4);
}
void Put64(std::string* out, uint64_t v) {
  char b[8];
  PutFixed64(b, v);
  out->append(b, 8);
}

// Reads fixed-width fields; `ok` turns false (and stays) once input runs out.
struct Reader {
  std::string_view in;
  bool ok = true;
  bool Has(size_t n) {
    ok = ok && in.size() >= n;
    return ok;
  }
  uint8_t U8() {
    if (!Has(1)) return 0;
    const auto v = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    return v;
  }
  uint32_t U32() {
    if (!Has(4)) return 0;
    const uint32_t v = GetFixed32(in.data());
    in.remove_prefix(4);
    return v;
  }
  uint64_t U64() {
    if (!Has(8)) return 0;
    const uint64_t v = GetFixed64(in.data());
    in.remove_prefix(8);
    return v;
  }
};

}  // namespace

void DistinctBits::Set(uint64_t offset) {
  if (offset < base_) return;  // below the buffered span: never asked
  const uint64_t word = (offset - base_) / 64;
  if (word >= words_.size()) words_.resize(word + 1, 0);
  words_[word] |= uint64_t{1} << ((offset - base_) % 64);
  end_ = std::max(end_, offset + 1);
}

bool DistinctBits::Get(uint64_t offset) const {
  if (offset < base_) return false;
  const uint64_t word = (offset - base_) / 64;
  return word < words_.size() && (words_[word] >> ((offset - base_) % 64) & 1) != 0;
}

void DistinctBits::TrimBelow(uint64_t offset) {
  const uint64_t new_base = offset / 64 * 64;
  if (new_base <= base_) return;
  const uint64_t drop = (new_base - base_) / 64;
  if (drop >= words_.size()) {
    words_.clear();
  } else {
    words_.erase(words_.begin(), words_.begin() + static_cast<std::ptrdiff_t>(drop));
  }
  base_ = new_base;
  end_ = std::max(end_, base_);
}

void DistinctBits::Clear(uint64_t base) {
  words_.clear();
  base_ = base / 64 * 64;
  end_ = base_;
}

std::vector<uint32_t> DistinctBits::Runs(uint64_t from, uint64_t to) const {
  std::vector<uint32_t> runs;
  bool current = false;
  uint64_t run = 0;
  for (uint64_t o = from; o < to; ++o) {
    const bool bit = Get(o);
    if (bit != current || run == UINT32_MAX) {
      runs.push_back(static_cast<uint32_t>(run));
      if (run == UINT32_MAX && bit == current) runs.push_back(0);  // a 0-long run of the other value
      current = bit;
      run = 0;
    }
    ++run;
  }
  if (run > 0 || runs.empty()) runs.push_back(static_cast<uint32_t>(run));
  return runs;
}

Status DistinctBits::SetRuns(uint64_t from, uint64_t to, const std::vector<uint32_t>& runs) {
  if (to < from) return Status::Corruption("lake sink state: distinct bits end before they begin");
  uint64_t sum = 0;
  for (uint32_t r : runs) sum += r;
  if (sum != to - from) return Status::Corruption("lake sink state: distinct bits do not cover their range");
  Clear(from);
  uint64_t o = from;
  bool bit = false;
  for (uint32_t r : runs) {
    if (bit)
      for (uint64_t k = 0; k < r; ++k) Set(o + k);
    o += r;
    bit = !bit;
  }
  end_ = std::max(end_, to);
  return Status::Ok();
}

uint64_t CarriedBuffers::RefillFrom(uint64_t none) const {
  uint64_t from = none;
  for (const CarriedGroup& g : groups) from = std::min(from, g.from);
  return from;
}

void EncodeCarried(const CarriedBuffers& c, std::string* out) {
  Put32(out, static_cast<uint32_t>(c.groups.size()));
  for (const CarriedGroup& g : c.groups) {
    out->push_back(static_cast<char>(g.table));
    Put32(out, static_cast<uint32_t>(g.time_part));
    Put32(out, static_cast<uint32_t>(g.bucket));
    Put64(out, g.from);
    Put64(out, static_cast<uint64_t>(g.opened_ms));
  }
  Put64(out, c.bits_from);
  Put64(out, c.bits_to);
  Put32(out, static_cast<uint32_t>(c.runs.size()));
  for (uint32_t r : c.runs) Put32(out, r);
  Put32(out, static_cast<uint32_t>(c.minutes.size()));
  for (const StoryMinuteRow& m : c.minutes) {
    Put64(out, m.story_id);
    Put64(out, m.author_id);
    out->push_back(static_cast<char>(m.region));
    Put64(out, static_cast<uint64_t>(m.minute_ms));
    Put64(out, m.views);
    Put64(out, m.unique_viewers);
    Put64(out, m.watch_time_ms);
    Put64(out, m.shares);
    Put64(out, m.replies);
  }
}

Status DecodeCarried(std::string_view* in, CarriedBuffers* c) {
  auto bad = [](const std::string& what) { return Status::Corruption("lake sink state: " + what); };
  Reader r{*in};
  *c = CarriedBuffers();
  const uint32_t groups = r.U32();
  if (!r.ok || groups > r.in.size() / kGroupBytes) return bad("bad group count");
  for (uint32_t i = 0; i < groups; ++i) {
    CarriedGroup g;
    const uint8_t table = r.U8();
    if (table > static_cast<uint8_t>(LakeTableId::kEvents)) return bad("a buffered group of an unknown table");
    g.table = static_cast<LakeTableId>(table);
    g.time_part = static_cast<int32_t>(r.U32());
    g.bucket = static_cast<int32_t>(r.U32());
    g.from = r.U64();
    g.opened_ms = static_cast<int64_t>(r.U64());
    c->groups.push_back(g);
  }
  c->bits_from = r.U64();
  c->bits_to = r.U64();
  const uint32_t runs = r.U32();
  if (!r.ok || runs > r.in.size() / 4) return bad("bad run count");
  c->runs.reserve(runs);
  for (uint32_t i = 0; i < runs; ++i) c->runs.push_back(r.U32());
  const uint32_t minutes = r.U32();
  if (!r.ok || minutes > r.in.size() / kMinuteBytes) return bad("bad minute count");
  for (uint32_t i = 0; i < minutes; ++i) {
    StoryMinuteRow m;
    m.story_id = r.U64();
    m.author_id = r.U64();
    const uint8_t region = r.U8();
    if (region >= RegionCount()) return bad("a minute row of an unknown region");
    m.region = static_cast<Region>(region);
    m.minute_ms = static_cast<int64_t>(r.U64());
    m.views = r.U64();
    m.unique_viewers = r.U64();
    m.watch_time_ms = r.U64();
    m.shares = r.U64();
    m.replies = r.U64();
    c->minutes.push_back(m);
  }
  if (!r.ok) return bad("truncated");
  uint64_t sum = 0;
  for (uint32_t run : c->runs) sum += run;
  if (c->bits_to < c->bits_from || sum != c->bits_to - c->bits_from)
    return bad("distinct bits do not cover their range");
  for (const CarriedGroup& g : c->groups)
    if (g.table == LakeTableId::kEvents && g.from < c->bits_from) return bad("a group starts before its bits");
  *in = r.in;
  return Status::Ok();
}

}  // namespace watershed::lake
