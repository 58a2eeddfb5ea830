//! Rendering a [`ScenarioError`] as a diagnostic with its source: the offending line
//! with a caret under the value, the JSON path, and a help line, in the style of
//! rustc (rendered by `annotate-snippets`, which measures columns in display width,
//! so the caret sits right on lines with non-ASCII text).
//!
//! Syntax and type errors carry a line and column from the parser; errors found by
//! validation carry a JSON path, which [`locate`] finds in the text.

use super::ScenarioError;
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use std::ops::Range;

/// The diagnostic for `err` in `text` (the file's content). `color`: ANSI styles.
pub fn render(err: &ScenarioError, text: &str, color: bool) -> String {
    // The one-line form first (file:line:col: at path: problem), as compilers print it.
    let file = err.file.display().to_string();
    snippet(&err.to_string(), &file, text, span_of(err, text), &label(err), &help(err), color)
}

/// An error with its source: `title`, then the lines of `text` around `span` with a
/// caret under it labelled `label` (no source when `span` is `None`), then `help`.
/// Shared by scenario files and history files (`mirrorsim check`).
pub fn snippet(
    title: &str,
    path: &str,
    text: &str,
    span: Option<Range<usize>>,
    label: &str,
    help: &str,
    color: bool,
) -> String {
    let mut main = Group::with_title(Level::ERROR.primary_title(title));
    if let Some(span) = span {
        main = main.element(
            Snippet::source(text)
                .path(path)
                .fold(true)
                .annotation(AnnotationKind::Primary.span(span).label(label)),
        );
    }
    let groups = [main, Group::with_title(Level::HELP.secondary_title(help))];
    let renderer = if color { Renderer::styled() } else { Renderer::plain() };
    renderer.render(&groups).to_string()
}

/// The short label under the caret.
fn label(err: &ScenarioError) -> String {
    match &err.path {
        Some(p) => format!("this value ({p})"),
        None => "here".into(),
    }
}

/// A help line: what to do about the most common mistakes, else where the field is
/// documented.
fn help(err: &ScenarioError) -> String {
    let m = &err.message;
    if m.contains("unknown field") {
        return "remove the field or fix its spelling; the fields each object takes are in docs/scenarios.md"
            .into();
    }
    if m.contains("unknown variant") {
        return "use one of the names listed; every action and distribution is described in docs/scenarios.md".into();
    }
    if m.contains("duration") {
        return "write a duration as a string with a unit: \"250us\", \"5ms\", \"2s\"".into();
    }
    if m.contains("ratio") || m.contains("probability") {
        return "write a ratio as \"N/D\" with D > 0 and N <= D: \"1/100\"".into();
    }
    if m.starts_with("unknown ") || m.contains("no such") {
        return "names refer to items declared elsewhere in the file (arrays, volumes, hosts, links, pairs); check the spelling".into();
    }
    match err.path.as_deref().and_then(|p| p.split(['.', '[']).next()) {
        Some(section) if !section.is_empty() => {
            format!("the `{section}` section is described in docs/scenarios.md")
        }
        _ => "the scenario format is described in docs/scenarios.md".into(),
    }
}

/// The byte range to underline.
fn span_of(err: &ScenarioError, text: &str) -> Option<Range<usize>> {
    // An unknown field's path names the field itself: underline its key, not its value.
    if let Some(path) = &err.path
        && !err.message.starts_with("unknown field")
        && !err.message.starts_with("unknown variant")
        && let Some(r) = locate(text, path)
    {
        return Some(r);
    }
    let (line, col) = err.position?;
    let start = offset_of(text, line, col)?;
    // serde names the offending key or variant in backticks and points just past it:
    // underline the quoted name itself.
    if let Some(name) = err.message.split('`').nth(1) {
        let quoted = format!("\"{name}\"");
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let end = (start + quoted.len() + 1).min(text.len());
        let end = (0..=end).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(start);
        if let Some(i) = text[line_start..end].rfind(&quoted) {
            let at = line_start + i;
            return Some(at..at + quoted.len());
        }
    }
    Some(start..token_end(text, start))
}

/// The byte offset of a 1-based line and column (serde_json counts columns in bytes;
/// a column pointing one past the line's end, as at end of input, stays on the line).
fn offset_of(text: &str, line: usize, col: usize) -> Option<usize> {
    let (line_start, line_end) = line_bounds(text, line)?;
    let mut at = (line_start + col.saturating_sub(1)).min(line_end);
    // serde_json reports the column *after* the offending character: step back onto it.
    if at > line_start {
        at -= 1;
    }
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    Some(at)
}

/// The byte range of a 1-based line (without its newline); `None` past the end.
pub fn line_bounds(text: &str, line: usize) -> Option<(usize, usize)> {
    let start = if line <= 1 { 0 } else { text.match_indices('\n').nth(line - 2).map(|(i, _)| i + 1)? };
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    Some((start, end))
}

/// The end of the token starting at `start`: a whole string literal, a word or
/// number, or one character.
fn token_end(text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let mut chars = rest.char_indices();
    match chars.next() {
        None => start,
        Some((_, '"')) => {
            let mut escaped = false;
            for (i, c) in chars {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => return start + i + 1,
                    '\n' => return start + i,
                    _ => escaped = false,
                }
            }
            text.len()
        }
        Some((_, c)) if c.is_alphanumeric() || c == '-' || c == '.' => {
            let end = rest.find(|c: char| !(c.is_alphanumeric() || "-+.".contains(c))).unwrap_or(rest.len());
            start + end
        }
        Some((_, c)) => start + c.len_utf8(),
    }
}

/// The byte range of the value at a JSON path (`timeline[2].do.crash_array.array`) in
/// `text`, or `None` if the text does not parse that far or the path is not in it.
pub fn locate(text: &str, path: &str) -> Option<Range<usize>> {
    let steps = parse_path(path)?;
    let mut s = Scanner { b: text.as_bytes(), i: 0 };
    s.ws();
    for step in steps {
        match step {
            Step::Key(k) => {
                s.expect(b'{')?;
                loop {
                    s.ws();
                    if s.peek()? == b'}' {
                        return None;
                    }
                    let key = s.string()?;
                    s.ws();
                    s.expect(b':')?;
                    s.ws();
                    if key == k {
                        break;
                    }
                    s.skip_value()?;
                    s.ws();
                    if s.peek()? == b',' {
                        s.i += 1;
                    }
                }
            }
            Step::Index(n) => {
                s.expect(b'[')?;
                for _ in 0..n {
                    s.ws();
                    s.skip_value()?;
                    s.ws();
                    s.expect(b',')?;
                }
                s.ws();
            }
        }
    }
    let start = s.i;
    s.skip_value()?;
    Some(start..s.i)
}

enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            steps.push(Step::Key(name.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            steps.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
    }
    Some(steps)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }
    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let start = self.i;
        let mut escaped = false;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'\\' if !escaped => escaped = true,
                b'"' if !escaped => {
                    let raw = std::str::from_utf8(&self.b[start - 1..self.i]).ok()?;
                    return serde_json::from_str(raw).ok();
                }
                _ => escaped = false,
            }
        }
        None
    }
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                loop {
                    self.ws();
                    if self.peek()? == close {
                        self.i += 1;
                        return Some(());
                    }
                    if open == b'{' {
                        self.string()?;
                        self.ws();
                        self.expect(b':')?;
                        self.ws();
                    }
                    self.skip_value()?;
                    self.ws();
                    if self.peek()? == b',' {
                        self.i += 1;
                    }
                }
            }
            _ => {
                let start = self.i;
                while self.peek().is_some_and(|c| !b",}] \t\r\n".contains(&c)) {
                    self.i += 1;
                }
                (self.i > start).then_some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const TEXT: &str = r#"{
  "name": "café ☕",
  "timeline": [
    { "at": "1ms", "do": { "crash_array": { "array": "A" } } },
    { "at": "5 minutes", "do": { "link_down": { "link": "l1" } } }
  ]
}"#;

    #[test]
    fn locate_finds_the_value_at_a_path() {
        let r = locate(TEXT, "timeline[1].at").unwrap();
        assert_eq!(&TEXT[r], "\"5 minutes\"");
        let r = locate(TEXT, "timeline[0].do.crash_array.array").unwrap();
        assert_eq!(&TEXT[r], "\"A\"");
        let r = locate(TEXT, "timeline[1].do").unwrap();
        assert_eq!(&TEXT[r], r#"{ "link_down": { "link": "l1" } }"#);
        assert!(locate(TEXT, "timeline[2]").is_none());
        assert!(locate(TEXT, "nothing").is_none());
    }

    fn err(position: Option<(usize, usize)>, path: Option<&str>, message: &str) -> ScenarioError {
        ScenarioError {
            file: PathBuf::from("s.json"),
            position,
            path: path.map(str::to_string),
            message: message.into(),
        }
    }

    /// The source line of a rendered diagnostic (`N | text`) holding `pat`, and the
    /// caret line under it.
    fn source_and_caret<'a>(out: &'a str, pat: &str) -> (&'a str, &'a str) {
        let lines: Vec<&str> = out.lines().collect();
        let i = lines.iter().position(|l| l.contains(" | ") && l.contains(pat)).expect("the source line");
        (lines[i], lines[i + 1])
    }

    /// Column in characters.
    fn col(s: &str, pat: &str) -> usize {
        s[..s.find(pat).unwrap()].chars().count()
    }

    #[test]
    fn a_path_error_shows_the_line_with_a_caret_under_the_value() {
        let e = err(Some((5, 22)), Some("timeline[1].at"), "invalid duration \"5 minutes\"");
        let out = render(&e, TEXT, false);
        assert!(out.starts_with("error: s.json:5:22: at timeline[1].at: invalid duration"), "{out}");
        assert!(out.contains("--> s.json:5:13"), "{out}");
        let (line, caret) = source_and_caret(&out, "\"5 minutes\"");
        assert_eq!(col(caret, "^"), col(line, "\"5 minutes\""), "{out}");
        assert_eq!(caret.matches('^').count(), "\"5 minutes\"".len(), "{out}");
        assert!(out.contains("help: write a duration"), "{out}");
    }

    #[test]
    fn carets_are_placed_by_display_width_on_non_ascii_lines() {
        // A real parse error, on a line whose earlier text is multi-byte.
        let text = "{\n  \"name\": \"café ☕ ünïcödé\", \"bogus\": 1\n}";
        let e = crate::scenario::parse(std::path::Path::new("s.json"), text).unwrap_err();
        let out = render(&e, text, false);
        let (line, caret) = source_and_caret(&out, "bogus");
        // Multi-byte but one column each (é, ü, ...), except ☕, two columns wide in
        // a terminal: the caret is one column right of the character count.
        assert_eq!(col(caret, "^"), col(line, "\"bogus\"") + 1, "{out}");
        assert_eq!(caret.matches('^').count(), "\"bogus\"".len(), "{out}");
        assert!(out.contains("help: remove the field"), "{out}");
    }

    #[test]
    fn an_error_without_position_still_names_the_file() {
        let e = err(None, None, "cannot read the file: gone");
        let out = render(&e, "", false);
        assert!(out.starts_with("error: s.json: cannot read the file"), "{out}");
    }
}
