// Lexer and recursive-descent parser for the kernel DSL.
//
//   file    := kernel*
//   kernel  := 'kernel' IDENT '{' entry* '}'
//   entry   := IDENT '=' value [';' | ',']
//   value   := NUMBER | IDENT | IDENT '(' [arg (',' arg)*] ')'
//   arg     := IDENT '=' value
// Newlines are not significant: an entry ends where its value ends. '#' starts a comment.
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "dsl/dsl.hpp"

namespace ropegen::dsl {

Source::Source(std::string name, std::string text)
    : name_(std::move(name)), text_(std::make_shared<const std::string>(std::move(text))) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < text_->size(); ++i)
    if ((*text_)[i] == '\n') line_starts_.push_back(i + 1);
}

SourceLoc Source::loc(size_t offset, size_t length) const {
  const std::string& text = *text_;
  if (offset > text.size()) offset = text.size();
  size_t line = 0;
  // Binary search for the last line start <= offset.
  size_t lo = 0, hi = line_starts_.size();
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (line_starts_[mid] <= offset) lo = mid; else hi = mid;
  }
  line = lo;
  size_t start = line_starts_[line];
  // The next line's start, not a search: a search per token is quadratic in a line's length.
  size_t end = line + 1 < line_starts_.size() ? line_starts_[line + 1] - 1 : text.size();
  if (end > start && text[end - 1] == '\r') --end;
  SourceLoc l;
  l.file = name_;
  l.line = static_cast<int>(line) + 1;
  l.col = static_cast<int>(offset - start) + 1;
  l.length = static_cast<int>(length == 0 ? 1 : length);
  l.text = text_;
  l.line_begin = start;
  l.line_end = end;
  return l;
}

namespace {

enum class Tok { Ident, Number, LBrace, RBrace, LParen, RParen, LBracket, RBracket, Equals, Comma, Semi, End, Bad };

struct Token {
  Tok kind;
  size_t offset;
  size_t length;
  std::string text;
};

const char* describe(Tok t) {
  switch (t) {
    case Tok::Ident: return "a name";
    case Tok::Number: return "a number";
    case Tok::LBrace: return "'{'";
    case Tok::RBrace: return "'}'";
    case Tok::LParen: return "'('";
    case Tok::RParen: return "')'";
    case Tok::LBracket: return "'['";
    case Tok::RBracket: return "']'";
    case Tok::Equals: return "'='";
    case Tok::Comma: return "','";
    case Tok::Semi: return "';'";
    case Tok::End: return "end of input";
    case Tok::Bad: return "an invalid character";
  }
  return "?";
}

class Lexer {
 public:
  explicit Lexer(const Source& src) : s_(src.text()) {}

  Token next() {
    skip_space();
    if (pos_ >= s_.size()) return {Tok::End, s_.size(), 1, ""};
    size_t start = pos_;
    char c = s_[pos_];
    auto single = [&](Tok k) {
      ++pos_;
      return Token{k, start, 1, std::string(1, c)};
    };
    switch (c) {
      case '{': return single(Tok::LBrace);
      case '}': return single(Tok::RBrace);
      case '(': return single(Tok::LParen);
      case ')': return single(Tok::RParen);
      case '[': return single(Tok::LBracket);
      case ']': return single(Tok::RBracket);
      case '=': return single(Tok::Equals);
      case ',': return single(Tok::Comma);
      case ';': return single(Tok::Semi);
      default: break;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (pos_ < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_'))
        ++pos_;
      return {Tok::Ident, start, pos_ - start, s_.substr(start, pos_ - start)};
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.') {
      // Take the longest run that can belong to a number, then validate it as a whole.
      ++pos_;
      while (pos_ < s_.size()) {
        char d = s_[pos_];
        bool exp_sign = (d == '-' || d == '+') && (s_[pos_ - 1] == 'e' || s_[pos_ - 1] == 'E');
        if (std::isalnum(static_cast<unsigned char>(d)) || d == '.' || d == '_' || exp_sign)
          ++pos_;
        else
          break;
      }
      return {Tok::Number, start, pos_ - start, s_.substr(start, pos_ - start)};
    }
    ++pos_;
    // Group a UTF-8 sequence into one bad token so the caret covers one character.
    while (pos_ < s_.size() && (static_cast<unsigned char>(s_[pos_]) & 0xC0) == 0x80) ++pos_;
    return {Tok::Bad, start, 1, s_.substr(start, pos_ - start)};
  }

 private:
  void skip_space() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else {
        break;
      }
    }
  }
  const std::string& s_;
  size_t pos_ = 0;
};

class Parser {
 public:
  explicit Parser(const Source& src) : src_(src), lex_(src) { tok_ = lex_.next(); }

  std::vector<KernelDecl> file() {
    std::vector<KernelDecl> out;
    while (tok_.kind != Tok::End) {
      if (tok_.kind != Tok::Ident || tok_.text != "kernel") {
        fail(tok_, std::string("expected 'kernel NAME {' but found ") + show(tok_));
      }
      Token kw = tok_;
      advance();
      KernelDecl k;
      if (tok_.kind != Tok::Ident) fail(tok_, "expected a kernel name after 'kernel', found " + show(tok_));
      k.name = tok_.text;
      k.name_loc = loc(tok_);
      advance();
      if (tok_.kind != Tok::LBrace) fail(tok_, "expected '{' after 'kernel " + k.name + "', found " + show(tok_));
      Token open = tok_;
      advance();
      while (tok_.kind != Tok::RBrace) {
        if (tok_.kind == Tok::End) {
          throw Error(ErrorKind::Parse,
                      "missing '}' to close kernel '" + k.name + "' opened here", loc(open));
        }
        if (tok_.kind == Tok::Ident && tok_.text == "kernel") {
          throw Error(ErrorKind::Parse,
                      "missing '}' to close kernel '" + k.name + "' before the next 'kernel'",
                      loc(tok_));
        }
        k.entries.push_back(entry());
      }
      advance();
      (void)kw;
      out.push_back(std::move(k));
    }
    if (out.empty()) {
      throw Error(ErrorKind::Parse, "no kernel found: expected 'kernel NAME { ... }'",
                  src_.loc(0, 1));
    }
    return out;
  }

  KernelDecl entries() {
    KernelDecl k;
    k.name_loc = src_.loc(0, 1);
    while (tok_.kind != Tok::End) {
      if (tok_.kind == Tok::LBrace || tok_.kind == Tok::RBrace ||
          (tok_.kind == Tok::Ident && tok_.text == "kernel")) {
        fail(tok_, "expected 'key = value' here; kernel blocks belong in a spec file");
      }
      k.entries.push_back(entry());
    }
    return k;
  }

 private:
  Entry entry() {
    if (tok_.kind != Tok::Ident) fail(tok_, "expected a key such as 'head_dim', found " + show(tok_));
    Entry e;
    e.key = tok_.text;
    e.key_loc = loc(tok_);
    advance();
    if (tok_.kind != Tok::Equals) fail(tok_, "expected '=' after '" + e.key + "', found " + show(tok_));
    advance();
    e.value = value("'" + e.key + "'");
    if (tok_.kind == Tok::Semi || tok_.kind == Tok::Comma) advance();
    return e;
  }

  Value value(const std::string& what) {
    // Bounded recursion: deeply nested input must not overflow the stack.
    struct Depth {
      int& d;
      explicit Depth(int& depth) : d(++depth) {}
      ~Depth() { --d; }
    } depth(depth_);
    if (depth_ > kMaxNesting) fail(tok_, "values are nested more than " + std::to_string(kMaxNesting) + " deep");
    Value v;
    v.loc = loc(tok_);
    if (tok_.kind == Tok::Number) {
      v.kind = Value::Kind::Number;
      v.text = tok_.text;
      parse_number(tok_, v);
      advance();
      return v;
    }
    if (tok_.kind == Tok::LBracket) {
      v.kind = Value::Kind::List;
      v.text = "[...]";
      Token open = tok_;
      advance();
      if (tok_.kind != Tok::RBracket) {
        for (;;) {
          v.items.push_back(value("an item of the list for " + what));
          if (tok_.kind == Tok::Comma) {
            advance();
            continue;
          }
          if (tok_.kind == Tok::RBracket) break;
          if (tok_.kind == Tok::End)
            throw Error(ErrorKind::Parse, "missing ']' to close the list opened here", loc(open));
          fail(tok_, "expected ',' or ']' in a list, found " + show(tok_));
        }
      }
      advance();
      return v;
    }
    if (tok_.kind != Tok::Ident) fail(tok_, "expected a value for " + what + ", found " + show(tok_));
    v.kind = Value::Kind::Ident;
    v.text = tok_.text;
    advance();
    if (tok_.kind == Tok::LParen) {
      v.kind = Value::Kind::Call;
      Token open = tok_;
      advance();
      if (tok_.kind != Tok::RParen) {
        for (;;) {
          if (tok_.kind != Tok::Ident) fail(tok_, "expected an argument name in '" + v.text + "(...)', found " + show(tok_));
          Value::Arg a;
          a.name = tok_.text;
          a.name_loc = loc(tok_);
          advance();
          if (tok_.kind != Tok::Equals) fail(tok_, "expected '=' after argument '" + a.name + "', found " + show(tok_));
          advance();
          a.value = value("argument '" + a.name + "'");
          v.args.push_back(std::move(a));
          if (tok_.kind == Tok::Comma) {
            advance();
            continue;
          }
          if (tok_.kind == Tok::RParen) break;
          if (tok_.kind == Tok::End)
            throw Error(ErrorKind::Parse, "missing ')' to close '" + v.text + "(' opened here", loc(open));
          fail(tok_, "expected ',' or ')' in '" + v.text + "(...)', found " + show(tok_));
        }
      }
      advance();
    }
    return v;
  }

  void parse_number(const Token& t, Value& v) {
    const std::string& s = t.text;
    char* end = nullptr;
    errno = 0;
    // Decimal only: strtod would also take hex ("0x80", "0x1p4"), infinities and NaNs.
    if (s.find_first_not_of("0123456789.eE+-") != std::string::npos)
      fail(t, "'" + s + "' is not a number (numbers are decimal, e.g. 128 or 5e5)");
    double d = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || s.empty()) fail(t, "'" + s + "' is not a number");
    if (errno == ERANGE || !std::isfinite(d)) fail(t, "number '" + s + "' is out of range");
    v.number = d;
    v.is_integer = s.find_first_of(".eE") == std::string::npos;
  }

  [[noreturn]] void fail(const Token& t, const std::string& msg) {
    throw Error(ErrorKind::Parse, msg, loc(t));
  }

  static std::string show(const Token& t) {
    if (t.kind == Tok::End || t.kind == Tok::Bad) {
      return t.kind == Tok::Bad ? "invalid character '" + t.text + "'" : describe(t.kind);
    }
    return std::string(describe(t.kind)) + (t.kind == Tok::Ident || t.kind == Tok::Number ? " '" + t.text + "'" : "");
  }

  SourceLoc loc(const Token& t) const { return src_.loc(t.offset, t.length); }
  void advance() { tok_ = lex_.next(); }

  const Source& src_;
  Lexer lex_;
  Token tok_;
  int depth_ = 0;
};

}  // namespace

std::vector<KernelDecl> parse_file(const Source& src) { return Parser(src).file(); }

KernelDecl parse_entries(const Source& src) { return Parser(src).entries(); }

}  // namespace ropegen::dsl
