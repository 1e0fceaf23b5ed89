// The packed bodies of statement and result records (docs/design/audit_log_format.md,
// "Packed bodies").
//
// Statements and results are nearly all of the log, one of each per statement run. Their
// bodies are written in a compact binary form: the session's thread packs the event
// (recorder.cc), the writer thread appends a statement's analysis (finish_statement), and
// the record holds those bytes. Nobody renders JSON on the data path; readers (verify,
// replay, export, the live tail) turn a body into its JSON with body_json(), which gives the
// same JSON the record would have held as a JSON body. Every other kind is a JSON body.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "audit/format.h"
#include "audit/packed.h"
#include "core/status.h"
#include "hook/statement_stage.h"
#include "sql/facts.h"

namespace sluice::audit {

// The first byte of a packed body (a JSON body starts with '{').
inline constexpr std::uint8_t kPackedBody = 1;

// The on-disk codes of a statement's origin and verdict (fixed, whatever the enums become).
std::uint8_t origin_code(hook::Origin origin);
enum class VerdictCode : std::uint8_t { allow = 0, refuse = 1, hold = 2 };

// Appends the analysis part of a statement body: packed once per distinct analysis on the
// writer thread (statements repeat, and share their analysis), then copied.
void pack_analysis(const sql::Analysis* analysis, std::string& out);

// The writer's step for a statement record (AuditLog::Finish): the packed event, then its
// analysis (`held`, a sql::Analysis, or none).
void finish_statement(std::string_view packed, const std::shared_ptr<const void>& held,
                      std::string& body);

// The body of a record as JSON: a JSON body as it is, a packed one rendered. An error says
// which part of a packed body is malformed (only a bug, or an edit made with the CRC
// recomputed, which the hash chain catches too).
Result<std::string> body_json(Kind kind, std::string_view body);

// Whether `body` belongs to session `id`: the packed bodies' first field, a JSON body's
// "session" member.
bool body_has_session(std::string_view body, std::string_view id);

}  // namespace sluice::audit
