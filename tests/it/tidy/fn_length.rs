//! Tidy's function length reader: where each function of a source text starts and how many
//! lines it takes, counting braces in code only (not in comments, string or char literals) and
//! skipping items marked `#[cfg(test)]`.
//!
//! It reads text only: which files to read and what limit applies is for `tidy.rs`.

/// A function as [`function_lengths`] reads it.
#[derive(Debug, PartialEq)]
pub(super) struct FnLength {
    /// 1-based line of its `fn`.
    pub(super) line: usize,
    /// Its name.
    pub(super) name: String,
    /// Lines from the `fn` line to the line of its closing brace, both included.
    pub(super) lines: usize,
}

/// Every function with a body in `text` (nested ones and methods included), with its length.
/// Braces are counted in code only (not in comments, string or char literals); an item marked
/// `#[cfg(test)]` (a test module) is skipped whole, and so is a declaration without a body.
pub(super) fn function_lengths(text: &str) -> Vec<FnLength> {
    let code = blank_literals(text);
    let bytes = code.as_bytes();
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(code.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let line_at = |idx: usize| line_starts.partition_point(|start| *start <= idx);
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut found = Vec::new();
    // Per open brace: the function it opens the body of, as `(line, name)`.
    let mut open: Vec<Option<(usize, String)>> = Vec::new();
    // A function whose body is still to come, and the depth of `(`/`[` in its signature.
    let mut pending: Option<(usize, String)> = None;
    let mut nesting = 0usize;
    let mut idx = 0;
    while idx < bytes.len() {
        let b = bytes[idx];
        if bytes[idx..].starts_with(b"#[cfg(test)]") {
            idx = item_end(bytes, idx + "#[cfg(test)]".len());
            continue;
        }
        if is_ident(b) && (idx == 0 || !is_ident(bytes[idx - 1])) {
            let end = idx + bytes[idx..].iter().take_while(|b| is_ident(**b)).count();
            if &bytes[idx..end] == b"fn" {
                let name_start = end
                    + bytes[end..]
                        .iter()
                        .take_while(|b| b.is_ascii_whitespace())
                        .count();
                let name_end = name_start
                    + bytes[name_start..]
                        .iter()
                        .take_while(|b| is_ident(**b))
                        .count();
                if name_end > name_start {
                    let name = String::from_utf8_lossy(&bytes[name_start..name_end]);
                    pending = Some((line_at(idx), name.into_owned()));
                    nesting = 0;
                }
            }
            idx = end;
            continue;
        }
        match b {
            b'(' | b'[' => nesting += 1,
            b')' | b']' => nesting = nesting.saturating_sub(1),
            b';' if nesting == 0 => pending = None,
            b'{' => open.push(if nesting == 0 { pending.take() } else { None }),
            b'}' => {
                if let Some(Some((line, name))) = open.pop() {
                    found.push(FnLength {
                        lines: line_at(idx) - line + 1,
                        line,
                        name,
                    });
                }
            }
            _ => {}
        }
        idx += 1;
    }
    found.sort_by_key(|f| f.line);
    found
}

/// The index just past the item that starts at `from` in blanked code: past its first `;`
/// outside brackets, or past the brace that closes its first `{`.
fn item_end(bytes: &[u8], from: usize) -> usize {
    let (mut nesting, mut depth) = (0usize, 0usize);
    for (idx, b) in bytes.iter().enumerate().skip(from) {
        match b {
            b'(' | b'[' => nesting += 1,
            b')' | b']' => nesting = nesting.saturating_sub(1),
            b';' if nesting == 0 && depth == 0 => return idx + 1,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return idx + 1;
                }
            }
            _ => {}
        }
    }
    bytes.len()
}

/// `text` with every character of its comments, string literals (raw and byte ones too) and
/// char literals but newlines made a space, so that what is left is code, on the same lines.
fn blank_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut idx = 0;
    while idx < chars.len() {
        let at = |i: usize| chars.get(i).copied();
        let ident_before = idx > 0 && (chars[idx - 1].is_alphanumeric() || chars[idx - 1] == '_');
        // The end (exclusive) of a literal or comment that starts here, if one does.
        let end = match chars[idx] {
            '/' if at(idx + 1) == Some('/') => Some(
                (idx..chars.len())
                    .find(|i| chars[*i] == '\n')
                    .unwrap_or(chars.len()),
            ),
            '/' if at(idx + 1) == Some('*') => Some(block_comment_end(&chars, idx)),
            '"' => Some(string_end(&chars, idx + 1)),
            'r' if !ident_before || (idx >= 1 && chars[idx - 1] == 'b') => {
                raw_string_end(&chars, idx + 1)
            }
            '\'' if at(idx + 1) == Some('\\') => (idx + 3..chars.len())
                .find(|i| chars[*i] == '\'')
                .map(|i| i + 1),
            '\'' if at(idx + 2) == Some('\'') => Some(idx + 3),
            _ => None,
        };
        match end {
            Some(end) => {
                let end = end.min(chars.len());
                out.extend(
                    chars[idx..end]
                        .iter()
                        .map(|c| if *c == '\n' { '\n' } else { ' ' }),
                );
                idx = end;
            }
            None => {
                out.push(chars[idx]);
                idx += 1;
            }
        }
    }
    out
}

/// The end (exclusive) of the `/* */` comment opening at `start`; they nest.
fn block_comment_end(chars: &[char], start: usize) -> usize {
    let (mut depth, mut idx) = (0usize, start);
    while idx + 1 < chars.len() {
        match (chars[idx], chars[idx + 1]) {
            ('/', '*') => {
                depth += 1;
                idx += 2;
            }
            ('*', '/') => {
                depth -= 1;
                idx += 2;
                if depth == 0 {
                    return idx;
                }
            }
            _ => idx += 1,
        }
    }
    chars.len()
}

/// The end (exclusive) of the string literal whose text starts at `from` (after its `"`).
fn string_end(chars: &[char], from: usize) -> usize {
    let mut idx = from;
    while idx < chars.len() {
        match chars[idx] {
            '\\' => idx += 2,
            '"' => return idx + 1,
            _ => idx += 1,
        }
    }
    chars.len()
}

/// The end (exclusive) of the raw string literal whose `#`s or `"` start at `from` (after its
/// `r`), if `r` starts one (`r"..."`, `r#"..."#`; `r#name` is a raw identifier).
fn raw_string_end(chars: &[char], from: usize) -> Option<usize> {
    let hashes = chars[from..].iter().take_while(|c| **c == '#').count();
    if chars.get(from + hashes) != Some(&'"') {
        return None;
    }
    let mut idx = from + hashes + 1;
    while idx < chars.len() {
        if chars[idx] == '"'
            && chars[idx + 1..]
                .iter()
                .take(hashes)
                .filter(|c| **c == '#')
                .count()
                == hashes
        {
            return Some(idx + 1 + hashes);
        }
        idx += 1;
    }
    Some(chars.len())
}

#[test]
fn the_function_length_reader_counts_code_braces_and_skips_test_modules() {
    let text = r###"//! A module.
fn short() -> u8 {
    1
}

/// Braces in comments and literals do not count: { "}"
pub(crate) fn nested<'a>(x: &'a str, n: [u8; 2]) -> String {
    if x.is_empty() {
        let s = "}}\"}";
        let c = '}';
        let q = '\'';
        // }
        /* { /* } */ */
        return format!("{s}{c}{q}{n:?}");
    }
    let r = r#"}"{"#;
    let f: fn(u8) -> u8 = |v| v;
    String::from(r)
}

trait Shape {
    fn declared(&self, sides: [u8; 2]);
    fn provided(&self) {}
}

#[cfg(test)]
mod tests {
    fn helper() {
        let _ = 1;
    }
}

fn after() {
}
"###;
    let found: Vec<(usize, String, usize)> = function_lengths(text)
        .into_iter()
        .map(|f| (f.line, f.name, f.lines))
        .collect();
    let expected = [
        (2, "short", 3),
        (7, "nested", 13),
        (23, "provided", 1),
        (33, "after", 2),
    ]
    .map(|(line, name, lines)| (line, name.to_owned(), lines));
    assert_eq!(found, expected);
}
