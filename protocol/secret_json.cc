#include "protocol/secret_json.h"

#include <cstdint>

#include "common/utf8.h"

namespace wb::protocol {
namespace {

constexpr std::string_view kNew = "new_password";
constexpr std::string_view kOld = "old_password";

Status PasswordProblem(std::string_view name, std::string_view problem) {
  return InvalidArgument("secret: " + std::string(name) + " " + std::string(problem));
}

Status CheckPassword(std::string_view name, std::string_view value) {
  if (value.empty()) return PasswordProblem(name, "is empty");
  if (value.size() > kMaxPasswordBytes) {
    return PasswordProblem(name, "is longer than " + std::to_string(kMaxPasswordBytes) + " bytes");
  }
  if (value.find('\0') != std::string_view::npos) return PasswordProblem(name, "contains NUL");
  if (!IsValidUtf8(value)) return PasswordProblem(name, "is not valid UTF-8");
  return Status::Ok();
}

void AppendEscaped(std::string_view value, SecureString& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

// A recursive-descent reader for exactly one flat object of string members.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  Result<Passwords> Object() {
    WipedString new_pw(kMaxPasswordBytes + 4);
    WipedString old_pw(kMaxPasswordBytes + 4);
    bool have_new = false;
    bool have_old = false;
    SkipWs();
    if (!Eat('{')) return Syntax();
    SkipWs();
    if (!Eat('}')) {
      for (;;) {
        WipedString key(32);
        if (!String(key.str(), 32)) return Syntax();
        SkipWs();
        if (!Eat(':')) return Syntax();
        SkipWs();
        const bool is_new = key.view() == kNew;
        if (!is_new && key.view() != kOld) return InvalidArgument("secret: unknown member");
        bool& seen = is_new ? have_new : have_old;
        if (seen) return InvalidArgument("secret: duplicate member");
        seen = true;
        if (!String((is_new ? new_pw : old_pw).str(), kMaxPasswordBytes)) {
          return too_long_ ? PasswordProblem(is_new ? kNew : kOld, "is too long") : Syntax();
        }
        SkipWs();
        if (Eat('}')) break;
        if (!Eat(',')) return Syntax();
        SkipWs();
      }
    }
    SkipWs();
    if (pos_ != in_.size()) return Syntax();
    if (!have_new) return InvalidArgument("secret: missing new_password");
    WB_RETURN_IF_ERROR(CheckPassword(kNew, new_pw.view()));
    if (have_old) WB_RETURN_IF_ERROR(CheckPassword(kOld, old_pw.view()));
    return Passwords{Secret(new_pw.view()), Secret(old_pw.view())};
  }

 private:
  // No position: an offset into the decrypted plaintext would tell a reader of the log, the
  // audit trail or the cloud where the password ends or where an odd character sits in it.
  static Status Syntax() { return InvalidArgument("secret: not valid JSON"); }
  void SkipWs() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Eat(char c) {
    if (pos_ < in_.size() && in_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Hex4(uint32_t& v) {
    if (in_.size() - pos_ < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = in_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<uint32_t>(c - 'A' + 10);
      else
        return false;
    }
    return true;
  }
  bool Escape(uint32_t& cp) {
    if (pos_ >= in_.size()) return false;
    switch (in_[pos_++]) {
      case '"':
        cp = '"';
        return true;
      case '\\':
        cp = '\\';
        return true;
      case '/':
        cp = '/';
        return true;
      case 'b':
        cp = '\b';
        return true;
      case 'f':
        cp = '\f';
        return true;
      case 'n':
        cp = '\n';
        return true;
      case 'r':
        cp = '\r';
        return true;
      case 't':
        cp = '\t';
        return true;
      case 'u':
        break;
      default:
        return false;
    }
    if (!Hex4(cp)) return false;
    if (cp >= 0xdc00 && cp <= 0xdfff) return false;  // a lone low surrogate
    if (cp >= 0xd800 && cp <= 0xdbff) {
      uint32_t low = 0;
      if (!Eat('\\') || !Eat('u') || !Hex4(low) || low < 0xdc00 || low > 0xdfff) return false;
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    return true;
  }
  // Decodes one string into `out` (reserved by the caller, never grown past `max` bytes).
  bool String(SecureString& out, std::size_t max) {
    out.clear();
    if (!Eat('"')) return false;
    while (pos_ < in_.size()) {
      const auto c = static_cast<unsigned char>(in_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      uint32_t cp = c;
      std::size_t need = 1;
      if (c == '\\') {
        if (!Escape(cp)) return false;
        need = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      }
      if (out.size() + need > max) {
        too_long_ = true;
        return false;
      }
      if (c == '\\') {
        AppendUtf8(static_cast<char32_t>(cp), out);
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    return false;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  bool too_long_ = false;
};

}  // namespace

bool IsValidUtf8(std::string_view s) {
  struct Discard {
    void push_back(char32_t) {}
  } checked;
  return DecodeUtf8Into(s, checked);
}

Status SerializePasswords(const Passwords& passwords, WipedString& out) {
  WB_RETURN_IF_ERROR(CheckPassword(kNew, passwords.new_password.view()));
  if (!passwords.old_password.empty()) {
    WB_RETURN_IF_ERROR(CheckPassword(kOld, passwords.old_password.view()));
  }
  // Worst case every byte becomes \u00XX: reserve that once so the buffer never moves.
  out.str().reserve(2 * 6 * kMaxPasswordBytes + 64);
  out.str().clear();
  out.str() += "{\"new_password\":";
  AppendEscaped(passwords.new_password.view(), out.str());
  if (!passwords.old_password.empty()) {
    out.str() += ",\"old_password\":";
    AppendEscaped(passwords.old_password.view(), out.str());
  }
  out.str() += '}';
  return Status::Ok();
}

Result<Passwords> ParsePasswords(std::string_view plaintext) { return Reader(plaintext).Object(); }

}  // namespace wb::protocol
