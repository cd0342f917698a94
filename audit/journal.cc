// The journal mirror: each record as structured journal fields, for forwarding to a SIEM.
#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <string>
#include <vector>

#include "audit/audit.h"
#include "common/log_escape.h"

namespace wb::audit {
namespace {

class JournalMirror final : public Mirror {
 public:
  void Publish(const Record& record, std::string_view line) override {
    const Event& e = record.event;
    std::vector<std::string> fields;
    auto add = [&fields](std::string_view name, std::string_view value) {
      if (!value.empty()) fields.push_back(std::string(name) + "=" + std::string(value));
    };
    std::string message = "audit " + std::to_string(record.seq) + " " + std::string(Name(e.type));
    if (!e.target.requested.empty()) message += " target=" + EscapeForLog(e.target.requested, 128);
    if (!e.outcome.empty()) message += " outcome=" + EscapeForLog(e.outcome, 64);
    add("MESSAGE", message);
    add("PRIORITY", std::to_string(LOG_NOTICE));
    add("SYSLOG_IDENTIFIER", "wbagent-audit");
    add("WB_AUDIT_SEQ", std::to_string(record.seq));
    add("WB_AUDIT_TIME", FormatTime(record.time));
    add("WB_AUDIT_AGENT", record.agent);
    add("WB_AUDIT_EVENT", Name(e.type));
    add("WB_AUDIT_REQUEST_ID", e.request_id);
    add("WB_AUDIT_CORRELATION_ID", e.correlation_id);
    add("WB_AUDIT_TENANT", e.tenant);
    add("WB_AUDIT_TARGET", e.target.requested);
    add("WB_AUDIT_TARGET_DN", e.target.dn);
    add("WB_AUDIT_REQUESTER_KIND", Name(e.requester.kind));
    add("WB_AUDIT_REQUESTER", e.requester.id);
    add("WB_AUDIT_DECISION", Name(e.decision));
    add("WB_AUDIT_DIRECTORY", e.directory);
    add("WB_AUDIT_SERVER", e.server);
    add("WB_AUDIT_OUTCOME", e.outcome);
    if (e.duration) add("WB_AUDIT_DURATION_MS", std::to_string(e.duration->count()));
    add("WB_AUDIT_RECORD", line);
    std::vector<iovec> iov;
    iov.reserve(fields.size());
    for (std::string& f : fields) iov.push_back({f.data(), f.size()});
    // A journal that cannot take the record does not fail the append: the file is the record.
    (void)sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  }
};

}  // namespace

std::unique_ptr<Mirror> MakeJournalMirror() { return std::make_unique<JournalMirror>(); }

}  // namespace wb::audit
