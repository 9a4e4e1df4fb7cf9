// The story catalogue's endpoints: POST /v1/stories (a creator registers
// and edits their own stories, an admin any) and GET /v1/stories/{id}.

#include <set>

#include "catalog/story_codec.h"
#include "gateway/api.h"

namespace watershed::gateway {
namespace {

using http::HttpRequest;
using http::HttpResponse;
using http::JsonError;
using http::Responder;

bool IsOperator(const std::optional<auth::Claims>& caller, auth::Role role) { return !caller || caller->roles.Has(role); }

}  // namespace

void Api::PostStories(HttpRequest&& req, const Caller& caller, Responder send) {
  // A catalogue write is an admin action: with a governance-file it is audited before it is applied (fail closed:
  // 503 audit_unavailable, nothing applied), a failure after that adds a record; refusals are audited too.
  const int64_t arrived_us = deps_.clock->NowMs() * 1000;
  std::string what = "POST /v1/stories";
  int64_t rows = 0;
  auto respond = [&](HttpResponse&& r) {
    const Status outcome = r.status == 403 ? Status::PermissionDenied(r.body) : Status::InvalidArgument(r.body);
    if (auto failed = Audit(caller, what, arrived_us, {"catalog"}, rows, outcome)) return send(std::move(*failed));
    send(std::move(r));
  };
  auto patches = catalog::ParseStoryBatchJson(req.body);
  if (!patches.ok()) {
    if (patches.status().code() == StatusCode::kTooLarge)
      return respond(JsonError(413, "batch_too_large", patches.status().message()));
    return respond(JsonError(400, "malformed_body", patches.status().message()));
  }
  const bool admin = IsOperator(caller, auth::Role::kAdmin);
  const int64_t now = deps_.clock->NowMs();
  std::vector<catalog::CatalogChange> changes;
  std::set<uint64_t> seen;
  for (catalog::StoryPatch& p : *patches) {
    const std::string where = p.where + ": ";
    if (!seen.insert(p.story.value).second)
      return respond(JsonError(400, "duplicate_story", where + "story " + std::to_string(p.story.value) +
                                                           " appears twice in the batch"));
    std::optional<catalog::StoryRecord> current = deps_.catalog->Get(p.story);
    if (!admin) {
      // A creator writes only their own stories, and cannot take over one:
      // authorship is what this check protects.
      const AuthorId self(caller->user.value);
      if (p.author && *p.author != self) {
        forbidden_->Add();
        return respond(JsonError(403, "not_story_author", where + "author_id must be the token's subject"));
      }
      if (current && current->author != self) {
        forbidden_->Add();
        return respond(JsonError(403, "not_story_author", where + "story " + std::to_string(p.story.value) +
                                                               " belongs to another author"));
      }
      p.author = self;
    }
    catalog::StoryRecord record = catalog::ApplyPatch(current, p, now);
    if (Status s = catalog::ValidateStory(record); !s.ok())
      return respond(JsonError(400, "invalid_story", where + s.message()));
    // The checks above read `current`: apply only if it is still current.
    changes.push_back({std::move(record), "api", {}, current ? current->version : 0});
  }
  std::vector<StoryId> ids;
  for (const auto& c : changes) ids.push_back(c.record.story);
  constexpr size_t kNamed = 100;  // stories named in the audit record; past them, a count
  for (size_t i = 0; i < ids.size() && i < kNamed; ++i) what += (i ? "," : ": ") + std::to_string(ids[i].value);
  if (ids.size() > kNamed) what += " and " + std::to_string(ids.size() - kNamed) + " more";
  rows = static_cast<int64_t>(ids.size());
  if (auto failed = Audit(caller, what, arrived_us, {"catalog"}, rows, Status::Ok())) return send(std::move(*failed));
  auto applied = deps_.catalog->Apply(std::move(changes));
  if (!applied.ok()) {
    if (applied.status().code() == StatusCode::kFailedPrecondition)
      return respond(JsonError(409, "story_changed", applied.status().message() + "; read it and retry"));
    HttpResponse r = JsonError(503, "catalog_unavailable", "stories not stored: " + applied.status().message());
    r.headers.emplace_back("Retry-After", "1");
    return respond(std::move(r));
  }
  stories_written_->Add(*applied);
  std::string body = "{\"applied\":" + std::to_string(*applied) + ",\"stories\":[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) body += ',';
    if (auto r = deps_.catalog->Get(ids[i])) catalog::AppendStoryJson(*r, &body);
  }
  HttpResponse r;
  r.body = body + "]}";
  send(std::move(r));  // audited before the write
}

HttpResponse Api::GetStoryRecord(uint64_t story, const Caller& caller) {
  using auth::Role;
  const bool reads_all = IsOperator(caller, Role::kAnalyst) || IsOperator(caller, Role::kAdmin);
  if (!reads_all && !caller->roles.Has(Role::kCreator)) {
    forbidden_->Add();
    return JsonError(403, "role_required", "stories need the creator, analyst or admin role");
  }
  std::optional<catalog::StoryRecord> r = deps_.catalog->Get(StoryId(story));
  if (!r || (!reads_all && r->deleted))
    return JsonError(404, "story_not_found", "story " + std::to_string(story) + " is not in the story catalogue");
  if (!reads_all && r->author.value != caller->user.value) {
    forbidden_->Add();
    return JsonError(403, "not_story_author", "a creator reads only the stories they authored");
  }
  HttpResponse resp;
  catalog::AppendStoryJson(*r, &resp.body);
  return resp;
}

void Api::CountAuthorHints(const std::vector<Event>& events) {
  if (!deps_.catalog) return;
  for (const Event& e : events) {
    if (e.author_id.value == 0) continue;
    std::optional<AuthorId> author = deps_.catalog->AuthorOf(e.story_id);
    if (author && *author != e.author_id) author_hint_mismatches_->Add();
  }
}

}  // namespace watershed::gateway
