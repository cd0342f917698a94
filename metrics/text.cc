// The Prometheus text exposition format 0.0.4, the readiness answer, and the Recorder.

#include <charconv>
#include <cmath>
#include <string>

#include "metrics/metrics.h"

namespace wb::metrics {

void HistogramCounts::Observe(std::chrono::duration<double> d) {
  const double seconds = d.count() > 0 ? d.count() : 0.0;
  for (std::size_t i = 0; i < kLatencyBounds.size(); ++i) {
    if (seconds <= kLatencyBounds[i]) ++cumulative[i];
  }
  ++count;
  sum += seconds;
}

void Recorder::CountRequest(std::string_view operation, std::string_view outcome) {
  std::lock_guard lock(mu_);
  ++recorded_.requests[{std::string(operation), std::string(outcome)}];
}

void Recorder::CountDecision(std::string_view stage, std::string_view rule,
                             std::string_view decision) {
  std::lock_guard lock(mu_);
  ++recorded_.decisions[{std::string(stage), std::string(rule), std::string(decision)}];
}

void Recorder::CountReconnect(std::string_view reason) {
  std::lock_guard lock(mu_);
  ++recorded_.reconnects[std::string(reason)];
}

void Recorder::Observe(Latency which, std::chrono::duration<double> d) {
  std::lock_guard lock(mu_);
  switch (which) {
    case Latency::kEnvelopeCheck:
      return recorded_.envelope_check.Observe(d);
    case Latency::kQueueWait:
      return recorded_.queue_wait.Observe(d);
    case Latency::kDirectoryWrite:
      return recorded_.directory_write.Observe(d);
    case Latency::kStay:
      return recorded_.stay.Observe(d);
  }
}

Recorded Recorder::Read() const {
  std::lock_guard lock(mu_);
  return recorded_;
}

namespace {

// A label value: backslash, double quote and line feed escaped (format 0.0.4).
std::string EscapeLabel(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A sample value: integers exactly, others with enough digits to round-trip.
std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // The shortest text that reads back as the same double ("0.0025", not "0.00250000000001").
  char buf[64];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::string(buf, end);
}

using Labels = std::vector<std::pair<std::string_view, std::string>>;

class Writer {
 public:
  // HELP and TYPE, once per metric family, before its samples.
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void Sample(std::string_view name, const Labels& labels, double value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      bool first = true;
      for (const auto& [key, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += key;
        out_ += "=\"";
        out_ += EscapeLabel(v);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += Number(value);
    out_ += '\n';
  }
  void Histogram(std::string_view name, std::string_view help, const HistogramCounts& h) {
    Family(name, "histogram", help);
    std::string bucket(name);
    bucket += "_bucket";
    for (std::size_t i = 0; i < kLatencyBounds.size(); ++i) {
      Sample(bucket, {{"le", Number(kLatencyBounds[i])}}, static_cast<double>(h.cumulative[i]));
    }
    Sample(bucket, {{"le", "+Inf"}}, static_cast<double>(h.count));
    std::string sum(name);
    sum += "_sum";
    Sample(sum, {}, h.sum);
    std::string count(name);
    count += "_count";
    Sample(count, {}, static_cast<double>(h.count));
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

double Bool(bool b) { return b ? 1.0 : 0.0; }

void RenderChannel(Writer& w, const Snapshot& s) {
  if (!s.channel) return;
  const Snapshot::Channel& c = *s.channel;
  w.Family("wbagent_channel_up", "gauge",
           "1 while the channel to the cloud is connected (requests can arrive), else 0.");
  w.Sample("wbagent_channel_up", {}, Bool(c.connected));
  w.Family("wbagent_channel_state", "gauge",
           "The channel's state: 1 for the current one, 0 for the others.");
  for (const std::string& state : c.all_states) {
    w.Sample("wbagent_channel_state", {{"state", state}}, Bool(state == c.state));
  }
  w.Family("wbagent_channel_state_since_seconds", "gauge",
           "When the channel entered its current state (Unix time).");
  w.Sample("wbagent_channel_state_since_seconds", {},
           std::chrono::duration<double>(c.since.time_since_epoch()).count());
}

void RenderRecorded(Writer& w, const Recorded& r) {
  w.Family("wbagent_requests_total", "counter",
           "Requests that ended, by operation and outcome code (docs/troubleshooting.md).");
  for (const auto& [key, n] : r.requests) {
    w.Sample("wbagent_requests_total", {{"operation", key.first}, {"outcome", key.second}},
             static_cast<double>(n));
  }
  w.Family("wbagent_policy_decisions_total", "counter",
           "Policy decisions, by stage, deciding rule (empty: none matched) and decision.");
  for (const auto& [key, n] : r.decisions) {
    const auto& [stage, rule, decision] = key;
    w.Sample("wbagent_policy_decisions_total",
             {{"stage", stage}, {"rule", rule}, {"decision", decision}}, static_cast<double>(n));
  }
  w.Family("wbagent_channel_reconnects_total", "counter",
           "Times the channel to the cloud was lost or could not connect, by reason.");
  for (const auto& [reason, n] : r.reconnects) {
    w.Sample("wbagent_channel_reconnects_total", {{"reason", reason}}, static_cast<double>(n));
  }
  w.Histogram("wbagent_envelope_check_seconds",
              "Time to check a request's envelope (signature, expiry, replay, decryption).",
              r.envelope_check);
  w.Histogram("wbagent_queue_wait_seconds",
              "Time from a request's receipt to the start of each directory attempt.",
              r.queue_wait);
  w.Histogram("wbagent_directory_write_seconds", "Time of one directory write.", r.directory_write);
  w.Histogram("wbagent_request_duration_seconds",
              "Time from a request's receipt to its end (its whole stay in the agent).", r.stay);
}

void RenderDirectories(Writer& w, const Snapshot& s) {
  w.Family("wbagent_directory_server_up", "gauge",
           "1 while a directory server is healthy (its last connection or operation worked).");
  for (const Snapshot::Server& server : s.servers) {
    w.Sample("wbagent_directory_server_up", {{"directory", server.directory}, {"url", server.url}},
             Bool(server.healthy));
  }
  w.Family("wbagent_directory_failovers_total", "counter",
           "Connections opened to a directory server after an earlier one in the order failed.");
  for (const Snapshot::Server& server : s.servers) {
    w.Sample("wbagent_directory_failovers_total",
             {{"directory", server.directory}, {"url", server.url}},
             static_cast<double>(server.failovers));
  }
}

void RenderQueue(Writer& w, const Snapshot& s) {
  if (!s.queue) return;
  w.Family("wbagent_queue_requests", "gauge",
           "Requests the queue holds, by state (terminal ones until purged).");
  for (const auto& [state, n] : s.queue->by_state) {
    w.Sample("wbagent_queue_requests", {{"state", state}}, static_cast<double>(n));
  }
  w.Family("wbagent_queue_oldest_pending_age_seconds", "gauge",
           "Age of the oldest unfinished request (received, ready or applying); 0 when none.");
  w.Sample("wbagent_queue_oldest_pending_age_seconds", {},
           s.queue->oldest_pending_age ? static_cast<double>(s.queue->oldest_pending_age->count())
                                       : 0.0);
}

}  // namespace

std::string RenderText(const Snapshot& s) {
  Writer w;
  w.Family("wbagent_build_info", "gauge", "Always 1; the version of the running agent.");
  w.Sample("wbagent_build_info", {{"version", s.version}}, 1);
  RenderChannel(w, s);
  RenderDirectories(w, s);
  RenderQueue(w, s);
  if (s.breaker) {
    w.Family("wbagent_breaker_tripped", "gauge",
             "1 while the breaker is tripped (requests are held until an administrator "
             "decides), else 0.");
    w.Sample("wbagent_breaker_tripped", {}, Bool(s.breaker->tripped));
  }
  if (s.certificate_expires_in) {
    // In seconds, Prometheus's base unit (promtool refuses days): the alert compares it with
    // 14 days.
    w.Family("wbagent_certificate_expiry_seconds", "gauge",
             "Time until the agent's TLS client certificate expires (negative: expired).");
    w.Sample("wbagent_certificate_expiry_seconds", {}, s.certificate_expires_in->count());
  }
  if (s.audit_append_failures) {
    w.Family("wbagent_audit_append_failures_total", "counter",
             "Audit records that could not be appended (the agent stops processing requests).");
    w.Sample("wbagent_audit_append_failures_total", {},
             static_cast<double>(*s.audit_append_failures));
  }
  RenderRecorded(w, s.recorded);
  return w.Take();
}

Readiness ReadinessOf(const Snapshot& s) {
  std::string why;
  if (!s.channel || !s.channel->connected) {
    why += "the channel to the cloud is not connected";
    if (s.channel) {
      why += " (";
      why += s.channel->state;
      if (!s.channel->last_error.empty()) {
        why += ": ";
        why += s.channel->last_error;
      }
      why += ')';
    }
    why += '\n';
  }
  // Servers are listed directory by directory; a directory is reachable when any one is.
  std::map<std::string, bool> reachable;
  for (const Snapshot::Server& server : s.servers) {
    reachable[server.directory] = reachable[server.directory] || server.healthy;
  }
  for (const auto& [directory, up] : reachable) {
    if (up) continue;
    why += "directory '";
    why += directory;
    why += "' has no reachable server\n";
  }
  if (why.empty()) return {true, "ready\n"};
  return {false, why};
}

}  // namespace wb::metrics
