// `watershed plan`: a capacity and cost plan from per-core figures, and
// `watershed bench profile`: those figures measured on this machine
// (src/plan/capacity_plan.h, docs/operations.md).

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/flags.h"
#include "core/file_system.h"
#include "lake/lake_sink.h"
#include "log/record_codec.h"
#include "plan/capacity_plan.h"
#include "stream/partition_processor.h"
#include "stream/region_processor.h"
#include "workload/generator.h"

namespace watershed::app {
namespace {

constexpr char kPlanHelp[] =
    "usage: watershed plan --events-per-second N [flags]\n"
    "\n"
    "Sizes gateways, log brokers, processors, live store, lake storage and query nodes per region\n"
    "from per-core figures, prints the bill of materials, a monthly and yearly cost, the comparison\n"
    "with the seed design (1,600 cores, $5 M a year at 10 M events/s) and every input with its source.\n"
    "\n"
    "  --events-per-second N   average events per second, all regions (suffixes k, M: 10M)\n"
    "  --peak-factor F         peak / average (3)\n"
    "  --regions LIST          region names (default: region-names) or name=share,... (shares sum to 1)\n"
    "  --retention-days N      days the events table keeps events (90; raw_events: 7)\n"
    "  --log-retention-days N  days the log keeps records (7)\n"
    "  --active-stories N      stories in the live store at once (10M)\n"
    "  --utilization F         busy share of a core at peak (0.6)\n"
    "  --queries-per-second F --rows-per-query N   the lake's query load (2, 50M)\n"
    "  --profile FILE          per-core figures (`watershed bench profile` writes one; default: bench/RESULTS.md)\n"
    "  --pricing FILE          prices per month (JSON: vcpu_month, memory_gib_month, ssd_gib_month,\n"
    "                          object_gib_month, currency, source; default: round list prices)\n"
    "  --json                  the plan as JSON\n";

constexpr char kBenchHelp[] =
    "usage: watershed bench profile [--events N] [--out FILE]\n"
    "\n"
    "Measures on this machine the per-core figures `watershed plan --profile` reads: the processor\n"
    "with the lake sink (one core, thread CPU time), the log's bytes per event and the lake's bytes\n"
    "per event, over N generated events (500000). The other figures are copied from the default\n"
    "profile and say so. Writes JSON to FILE (default: stdout).\n";

// "10M", "250k", "1.5e6" → a number.
Result<double> ParseCount(const std::string& flag, const std::string& text) {
  std::string digits = text;
  double scale = 1;
  if (!digits.empty() && (digits.back() == 'k' || digits.back() == 'K')) scale = 1e3, digits.pop_back();
  if (!digits.empty() && digits.back() == 'M') scale = 1e6, digits.pop_back();
  if (!digits.empty() && digits.back() == 'G') scale = 1e9, digits.pop_back();
  ASSIGN_OR_RETURN(double v, ParseNumber<double>(flag, digits, 0, 1e15));
  return v * scale;
}

// The file of --`flag` parsed by `parse` (errors name the file), or `fallback` without the flag.
template <typename T>
Result<T> ReadInput(const Flags& flags, const std::string& flag, T fallback, Result<T> (*parse)(std::string_view)) {
  if (!flags.Has(flag)) return fallback;
  const std::string path = flags.Get(flag);
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(FileSystem::Default(), path));
  Result<T> parsed = parse(text);
  if (!parsed.ok()) return Status::InvalidArgument(path + ": " + parsed.status().message());
  return parsed;
}

Result<plan::Scenario> ParseScenario(const Flags& f) {
  plan::Scenario s;
  if (!f.Has("events-per-second")) return Status::InvalidArgument("--events-per-second is required");
  ASSIGN_OR_RETURN(s.events_per_second, ParseCount("--events-per-second", f.Get("events-per-second")));
  ASSIGN_OR_RETURN(s.peak_factor, f.GetNumber<double>("peak-factor", 3, 1, 1000));
  ASSIGN_OR_RETURN(s.retention_days, f.GetNumber<double>("retention-days", 90, 1, 36'500));
  ASSIGN_OR_RETURN(s.log_retention_days, f.GetNumber<double>("log-retention-days", 7, 0.01, 3'650));
  ASSIGN_OR_RETURN(s.utilization, f.GetNumber<double>("utilization", 0.6, 0.01, 1));
  ASSIGN_OR_RETURN(s.queries_per_second, f.GetNumber<double>("queries-per-second", 2, 0, 1e6));
  if (f.Has("active-stories")) {
    ASSIGN_OR_RETURN(s.active_stories, ParseCount("--active-stories", f.Get("active-stories")));
  }
  if (f.Has("rows-per-query")) {
    ASSIGN_OR_RETURN(s.rows_per_query, ParseCount("--rows-per-query", f.Get("rows-per-query")));
  }
  std::vector<std::string> names;
  std::vector<double> shares;
  std::string list = f.Get("regions", RegionNamesText(","));
  for (size_t start = 0; start <= list.size();) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string item = list.substr(start, end - start);
    start = end + 1;
    if (item.empty()) return Status::InvalidArgument("--regions: an empty region name");
    const size_t eq = item.find('=');
    names.push_back(item.substr(0, eq));
    if (eq != std::string::npos) {
      ASSIGN_OR_RETURN(double share, ParseNumber<double>("--regions " + names.back(), item.substr(eq + 1), 0, 1));
      shares.push_back(share);
    }
    if (end == list.size()) break;
  }
  if (!shares.empty() && shares.size() != names.size())
    return Status::InvalidArgument("--regions: give a share to every region or to none");
  for (size_t i = 0; i < names.size(); ++i)
    s.regions.emplace_back(names[i], shares.empty() ? 1.0 / static_cast<double>(names.size()) : shares[i]);
  return s;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// The processor with the lake sink over `events` generated events, as
// `watershed serve` runs one partition: batches of 8,192, a checkpoint's
// Prepare every 200,000 records, one commit at the end.
Result<plan::Profile> MeasureProfile(size_t events) {
  workload::WorkloadOptions w;
  w.base_time_ms = 1'700'000'000'000;
  w.event_time_rate = 20'000;
  workload::Generator gen(w);
  std::vector<log::LogRecord> records(events);
  std::string encoded;
  for (size_t i = 0; i < events; ++i) {
    records[i].event = gen.Next();
    records[i].append_time = AppendTimeMs(w.base_time_ms + static_cast<int64_t>(i / 20));
    records[i].offset = LogOffset(i);
    log::AppendRecord(records[i].append_time.value, records[i].event, &encoded);
  }
  const std::string root = std::filesystem::temp_directory_path() / ("watershed-profile-" + std::to_string(getpid()));
  std::filesystem::remove_all(root);
  lake::LakeSinkOptions options;
  ASSIGN_OR_RETURN(auto lake, lake::RegionLake::Open(FileSystem::Default(), root, Region::kUs, options));
  const double start = ThreadCpuSeconds();
  stream::PartitionProcessor processor(Region::kUs, 0, stream::ProcessorOptions{});
  lake::PartitionSink sink(lake.get(), 0);
  RETURN_IF_ERROR(sink.Recover("", 0));
  serve::PartitionWrite write;
  std::vector<uint8_t> distinct;
  std::vector<log::LogRecord> batch;
  uint64_t done = 0, last_checkpoint = 0;
  for (size_t i = 0; i < events; i += 8192) {
    batch.assign(records.begin() + static_cast<ptrdiff_t>(i),
                 records.begin() + static_cast<ptrdiff_t>(std::min(events, i + 8192)));
    processor.ProcessBatch(batch, &distinct);
    processor.TakeWrite(&write);
    stream::FeedLakeSink(sink, Region::kUs, nullptr, batch, distinct, write);
    done += batch.size();
    RETURN_IF_ERROR(sink.MaybeFlush(done));
    if (done - last_checkpoint >= 200'000 || done == events) {
      if (auto prepared = sink.Prepare(done, done == events); !prepared.ok()) return prepared.status();
      sink.Saved();
      last_checkpoint = done;
    }
  }
  RETURN_IF_ERROR(sink.Commit());
  const double cpu = ThreadCpuSeconds() - start;
  uint64_t lake_bytes = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(root))
    if (f.is_regular_file() && f.path().extension() == ".parquet") lake_bytes += f.file_size();
  std::filesystem::remove_all(root);

  char host[256] = "this machine";
  gethostname(host, sizeof host - 1);
  const std::string where = std::string("measured by `watershed bench profile` on ") + host + ", " +
                            std::to_string(events) + " generated events";
  plan::Profile p = plan::DefaultProfile();
  for (plan::Figure* f : {&p.ingest_events_per_core_s, &p.broker_mb_per_core_s, &p.store_commands_per_event,
                          &p.store_commands_per_core_s, &p.store_bytes_per_story, &p.query_rows_per_core_s})
    f->source = "not measured by bench profile; default: " + f->source;
  p.name = where;
  p.processor_events_per_core_s = {static_cast<double>(events) / cpu, where + ", one thread's CPU time"};
  p.log_record_bytes = {static_cast<double>(encoded.size()) / static_cast<double>(events), where};
  p.lake_bytes_per_event = {static_cast<double>(lake_bytes) / static_cast<double>(events),
                            where + ", Parquet files of every table"};
  return p;
}

}  // namespace

int PlanCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(
      args, {"events-per-second", "peak-factor", "regions", "retention-days", "log-retention-days", "active-stories",
             "utilization", "queries-per-second", "rows-per-query", "profile", "pricing", "json!", "help!"});
  if (!flags.ok()) return Fail("plan", flags.status().message() + "\n\n" + kPlanHelp, 2);
  if (flags->Has("help")) return std::printf("%s", kPlanHelp), 0;
  auto scenario = ParseScenario(*flags);
  if (!scenario.ok()) return Fail("plan", scenario.status().message(), 2);
  auto profile = ReadInput(*flags, "profile", plan::DefaultProfile(), plan::ParseProfileJson);
  if (!profile.ok()) return Fail("plan", profile.status().message(), 2);
  auto pricing = ReadInput(*flags, "pricing", plan::DefaultPricing(), plan::ParsePricingJson);
  if (!pricing.ok()) return Fail("plan", pricing.status().message(), 2);
  auto made = plan::MakePlan(*scenario, *profile, *pricing);
  if (!made.ok()) return Fail("plan", made.status().message(), 2);
  std::fputs((flags->Has("json") ? plan::PlanToJson(*made) : plan::FormatPlan(*made)).c_str(), stdout);
  return 0;
}

int BenchCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "profile") return Fail("bench", std::string("unknown subcommand\n\n") + kBenchHelp, 2);
  auto flags = Flags::Parse(std::vector<std::string>(args.begin() + 1, args.end()), {"events", "out", "help!"});
  if (!flags.ok()) return Fail("bench", flags.status().message() + "\n\n" + kBenchHelp, 2);
  if (flags->Has("help")) return std::printf("%s", kBenchHelp), 0;
  auto events = flags->GetNumber<size_t>("events", 500'000, 10'000, 100'000'000);
  if (!events.ok()) return Fail("bench", events.status().message(), 2);
  auto profile = MeasureProfile(*events);
  if (!profile.ok()) return Fail("bench", profile.status().message());
  const std::string json = plan::ProfileToJson(*profile);
  if (!flags->Has("out")) return std::fputs(json.c_str(), stdout), 0;
  Status s = WriteFileAtomically(FileSystem::Default(), flags->Get("out"), json);
  return s.ok() ? 0 : Fail("bench", s.message());
}

}  // namespace watershed::app
