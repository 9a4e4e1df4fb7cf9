#include "gov/policy.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/testing/temp_dir.h"

namespace watershed::gov {
namespace {

constexpr char kExample[] = R"(# an example
version = 1
mask-key-file = "mask.key"

[[table]]
name = "story_minute"
personal = []

[[region]]
name = "eu"
export = "aggregates"
k = 25
retention.raw_events = 3
retention.events = 30

[[role]]
name = "analyst"
tables = ["*"]
deny = ["raw_events.personal"]
mask-outside-region = ["personal"]

[[role]]
name = "admin"
tables = ["*"]

[audit]
flush-rows = 50
flush-seconds = 5
)";

std::string ErrorOf(std::string_view text) {
  auto p = ParsePolicy(text, "gov.toml");
  EXPECT_FALSE(p.ok()) << text;
  return p.ok() ? "" : p.status().message();
}

TEST(PolicyTest, ParsesTheExampleWithDefaultsForWhatItLeavesOut) {
  auto p = ParsePolicy(kExample, "gov.toml");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->IsPersonal(lake::LakeTableId::kEvents, "viewer_id"));
  EXPECT_TRUE(p->IsPersonal(lake::LakeTableId::kRawEvents, "event_id"));
  EXPECT_TRUE(p->IsPersonal(lake::LakeTableId::kArchiveEvents, "viewer_id"));
  EXPECT_FALSE(p->IsPersonal(lake::LakeTableId::kEvents, "story_id"));
  const RegionPolicy& eu = p->regions[static_cast<int>(Region::kEu)];
  EXPECT_EQ(eu.export_rule, Export::kAggregates);
  EXPECT_EQ(eu.k, 25);
  EXPECT_EQ(eu.retention_days[static_cast<int>(lake::LakeTableId::kRawEvents)], 3);
  EXPECT_EQ(eu.retention_days[static_cast<int>(lake::LakeTableId::kEvents)], 30);
  EXPECT_FALSE(eu.retention_days[static_cast<int>(lake::LakeTableId::kStoryMinute)].has_value());
  EXPECT_EQ(eu.rule, "gov.toml:9: [[region]] eu");
  const RegionPolicy& us = p->regions[static_cast<int>(Region::kUs)];
  EXPECT_EQ(us.export_rule, Export::kAggregates);  // the default: aggregates over >= 10 viewers
  EXPECT_EQ(us.k, 10);
  ASSERT_NE(p->RoleOf(auth::Role::kAnalyst), nullptr);
  EXPECT_EQ(p->RoleOf(auth::Role::kAnalyst)->Rule("deny"), "gov.toml:16: [[role]] analyst deny");
  EXPECT_EQ(p->RoleOf(auth::Role::kViewer), nullptr);
  EXPECT_EQ(p->audit.flush_rows, 50);
  EXPECT_EQ(p->audit.flush_seconds, 5);
  EXPECT_EQ(p->mask_key_file, "mask.key");
}

TEST(PolicyTest, AnEmptyFileIsTheDefaults) {
  auto p = ParsePolicy("", "gov.toml");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->roles.empty());  // nobody reads anything
  EXPECT_EQ(p->audit.flush_rows, 1000);
}

TEST(PolicyTest, ErrorsNameFileLineAndColumn) {
  EXPECT_EQ(ErrorOf("version = 2\n"), "gov.toml:1:11: version: must be in [1, 1]");
  EXPECT_EQ(ErrorOf("\n[[role]]\nname = \"boss\"\ntables = []\n"),
            "gov.toml:3:8: [[role]] name: unknown role 'boss' (known: viewer, creator, analyst, admin)");
  EXPECT_EQ(ErrorOf("[[role]]\nname = \"analyst\"\n"),
            "gov.toml:1:1: [[role]] tables: missing (the tables the role may read; [] for none)");
  EXPECT_EQ(ErrorOf("[[role]]\nname = \"analyst\"\ntables = [\"*\"]\ndeny = [\"events.viewer\"]\n"),
            "gov.toml:4:9: [[role]] analyst deny: 'events.viewer': no such column in that table");
  EXPECT_EQ(ErrorOf("[[role]]\nname = \"analyst\"\ntables = [\"eu.evnts\"]\n"),
            "gov.toml:3:11: [[role]] analyst tables: 'eu.evnts': unknown table 'evnts' (known: raw_events, events, "
            "story_minute, archive_events, archive_story_minute)");
  EXPECT_EQ(ErrorOf("[[role]]\nname = \"analyst\"\ntables = [\"mars.*\"]\n"),
            "gov.toml:3:11: [[role]] analyst tables: 'mars.*': unknown region 'mars' (known: us, eu, apac)");
  EXPECT_EQ(ErrorOf("[[role]]\nname = \"analyst\"\ntables = []\nmask = [\"personal\"]\n"),
            "gov.toml:4:8: [[role]] mask: masking needs mask-key-file (at the top)");
  EXPECT_EQ(ErrorOf("[[role]]\nname = \"admin\"\ntables = []\n[[role]]\nname = \"admin\"\ntables = []\n"),
            "gov.toml:5:8: [[role]] name: role 'admin' has a [[role]] already");
  EXPECT_EQ(ErrorOf("[[region]]\nname = \"eu\"\nexport = \"everything\"\n"),
            "gov.toml:3:10: [[region]] export: must be \"aggregates\", \"none\" or \"rows\", not 'everything'");
  EXPECT_EQ(ErrorOf("[[region]]\nname = \"eu\"\nk = 0\n"), "gov.toml:3:5: [[region]] k: must be in [1, 1000000]");
  EXPECT_EQ(ErrorOf("[[region]]\nname = \"eu\"\nretention.events = 0\n"),
            "gov.toml:3:20: [[region]] retention.events: must be a number of days in [1, 36500], not '0'");
  EXPECT_EQ(ErrorOf("[[region]]\nname = \"eu\"\nretention.evnts = 5\n"),
            "gov.toml:3:19: [[region]] retention.evnts: unknown table 'evnts' (known: raw_events, events, "
            "story_minute, archive_events, archive_story_minute)");
  EXPECT_EQ(ErrorOf("[[table]]\nname = \"events\"\npersonal = [\"viewer_id\", \"ip\"]\n"),
            "gov.toml:3:26: [[table]] personal: events has no column 'ip'");
  EXPECT_EQ(ErrorOf("[roles]\n"),
            "gov.toml:1:1: unknown table [roles] (known: [[table]], [[region]], [[role]], [audit])");
  EXPECT_EQ(ErrorOf("[audit]\nflush-rows = 0\n"), "gov.toml:2:14: [audit] flush-rows: must be in [1, 10000000]");
  EXPECT_EQ(ErrorOf("[audit]\nflush-row = 5\n").rfind("gov.toml:2:", 0), 0u);  // unknown key, named
}

TEST(PolicyTest, LoadReadsTheMaskKeyBesideThePolicy) {
  testing::TempDir dir("gov_policy");
  FileSystem* fs = FileSystem::Default();
  const std::string path = dir.path() + "/governance.toml";
  ASSERT_TRUE(WriteFileAtomically(fs, path, kExample).ok());
  auto missing = LoadPolicy(fs, path);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(path + ": mask-key-file " + dir.path() + "/mask.key"), std::string::npos)
      << missing.status().message();
  ASSERT_TRUE(CreatePrivateFile(dir.path() + "/mask.key", "00112233445566778899aabbccddeeff\n").ok());
  auto p = LoadPolicy(fs, path);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE(p->mask_key.has_value());
  EXPECT_EQ(p->mask_key->k0, 0x0011223344556677ull);
  EXPECT_EQ(p->mask_key->k1, 0x8899aabbccddeeffull);
  ASSERT_TRUE(fs->RemoveFile(dir.path() + "/mask.key").ok());
  ASSERT_TRUE(CreatePrivateFile(dir.path() + "/mask.key", "not hex at all, not at all, nope").ok());
  auto bad = LoadPolicy(fs, path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("is not one"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(LoadPolicy(fs, dir.path() + "/none.toml").ok());
}

// The mask key is a secret: a key readable by others, or reached through a symlink, refuses the start.
TEST(PolicyTest, LoadRefusesALooseOrLinkedMaskKeyAndAHugePolicy) {
  testing::TempDir dir("gov_policy_key");
  FileSystem* fs = FileSystem::Default();
  const std::string path = dir.path() + "/governance.toml";
  ASSERT_TRUE(WriteFileAtomically(fs, path, kExample).ok());
  const std::string key = dir.path() + "/mask.key";
  ASSERT_TRUE(WriteFileAtomically(fs, key, "00112233445566778899aabbccddeeff\n").ok());
  ASSERT_EQ(::chmod(key.c_str(), 0644), 0);
  auto loose = LoadPolicy(fs, path);
  ASSERT_FALSE(loose.ok());
  EXPECT_NE(loose.status().message().find("chmod 600"), std::string::npos) << loose.status().message();
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
  ASSERT_TRUE(LoadPolicy(fs, path).ok());
  ASSERT_TRUE(fs->RenameFile(key, dir.path() + "/real.key").ok());
  ASSERT_EQ(::symlink((dir.path() + "/real.key").c_str(), key.c_str()), 0);
  auto linked = LoadPolicy(fs, path);
  ASSERT_FALSE(linked.ok());
  EXPECT_NE(linked.status().message().find("symbolic link"), std::string::npos) << linked.status().message();
  ASSERT_TRUE(WriteFileAtomically(fs, path, std::string(kExample) + std::string(2 << 20, '#')).ok());
  auto huge = LoadPolicy(fs, path);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("larger than"), std::string::npos) << huge.status().message();
}

TEST(PolicyTest, TheDeployExampleParses) {
  auto text = ReadWholeFile(FileSystem::Default(),
                            std::string(WATERSHED_SOURCE_DIR) + "/deploy/governance/governance.example.toml");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  auto p = ParsePolicy(*text, "governance.example.toml");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->roles.size(), 2u);
  EXPECT_EQ(p->regions[static_cast<int>(Region::kApac)].k, 20);
}

}  // namespace
}  // namespace watershed::gov
