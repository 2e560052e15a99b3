//! Tokens of a MIB module text (ASN.1 as used by the SMI: RFC 1155, RFC 2578 section 3).
//!
//! Comments run from `--` to the end of the line or to the next `--` (X.208 section 8), strings
//! `"..."` may span lines (a doubled `""` inside is one quote), `'0F'H` / `'0101'B` are one
//! token. Numbers keep their sign (`-2147483648` in ranges). Any other character is a
//! one-character punctuation token: the parser decides whether it matters.

/// One token, borrowed from the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok<'a> {
    /// Identifier or keyword: a letter, then letters, digits, `-` or `_`.
    Ident(&'a str),
    /// Decimal number, with its sign.
    Num(&'a str),
    /// A string, binary or hex literal: contents never matter for names.
    Lit,
    /// `::=`, `..` or one punctuation character.
    Punct(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub tok: Tok<'a>,
    /// 1-based line where the token starts.
    pub line: u32,
}

/// Why the text could not be split into tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub line: u32,
    pub message: String,
}

/// Split `text` into tokens; an unterminated string or literal is an error.
pub fn tokenize(text: &str) -> Result<Vec<Token<'_>>, LexError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(text.len() / 6);
    let mut line = 1u32;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        let start = i;
        let start_line = line;
        let at = |k: usize| bytes.get(k).copied().unwrap_or(0);
        let tok = match b {
            b'\n' => {
                line += 1;
                i += 1;
                continue;
            }
            _ if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if at(i + 1) == b'-' => {
                i = skip_comment(bytes, i + 2);
                continue;
            }
            b'"' => {
                i = end_of_string(bytes, i, &mut line).ok_or_else(|| LexError {
                    line: start_line,
                    message: "string never closed".to_owned(),
                })?;
                Tok::Lit
            }
            b'\'' => {
                i = end_of_quoted(bytes, i, &mut line).ok_or_else(|| LexError {
                    line: start_line,
                    message: "binary or hex literal never closed".to_owned(),
                })?;
                Tok::Lit
            }
            _ if b.is_ascii_alphabetic() => {
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    let hyphen_ok = c == b'-' && at(i + 1) != b'-';
                    if c.is_ascii_alphanumeric() || c == b'_' || hyphen_ok {
                        i += 1;
                    } else {
                        break;
                    }
                }
                Tok::Ident(text.get(start..i).unwrap_or(""))
            }
            _ if b.is_ascii_digit() || (b == b'-' && at(i + 1).is_ascii_digit()) => {
                i += 1;
                while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                Tok::Num(text.get(start..i).unwrap_or(""))
            }
            b':' if at(i + 1) == b':' && at(i + 2) == b'=' => {
                i += 3;
                Tok::Punct("::=")
            }
            b'.' if at(i + 1) == b'.' => {
                i += 2;
                Tok::Punct("..")
            }
            _ => {
                // One character, whole even when it is not ASCII.
                let width = text
                    .get(i..)
                    .and_then(|s| s.chars().next())
                    .map_or(1, char::len_utf8);
                i += width;
                Tok::Punct(text.get(start..i).unwrap_or("?"))
            }
        };
        out.push(Token {
            tok,
            line: start_line,
        });
    }
    Ok(out)
}

/// After an opening `--`: the index after the closing `--`, or of the newline. A run of three or
/// more hyphens does not close the comment: separator lines (`-----`) would otherwise leave a
/// stray `-` outside it, and real MIBs are full of them.
fn skip_comment(bytes: &[u8], mut i: usize) -> usize {
    while let Some(&c) = bytes.get(i) {
        match c {
            b'\n' => return i,
            b'-' => {
                let run = bytes
                    .get(i..)
                    .map_or(0, |r| r.iter().take_while(|&&b| b == b'-').count());
                i += run;
                if run == 2 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    i
}

/// From an opening `"`: the index after the closing one (`""` inside is an escaped quote).
fn end_of_string(bytes: &[u8], mut i: usize, line: &mut u32) -> Option<usize> {
    i += 1;
    loop {
        match *bytes.get(i)? {
            b'"' if bytes.get(i + 1) == Some(&b'"') => i += 2,
            b'"' => return Some(i + 1),
            b'\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
}

/// From an opening `'`: the index after `'H` / `'B` (the suffix letter is optional here).
fn end_of_quoted(bytes: &[u8], mut i: usize, line: &mut u32) -> Option<usize> {
    i += 1;
    loop {
        match *bytes.get(i)? {
            b'\'' => {
                let suffix = bytes.get(i + 1).is_some_and(|c| b"HhBb".contains(c));
                return Some(i + 1 + usize::from(suffix));
            }
            b'\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok<'_>> {
        tokenize(text).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn comments_end_at_the_line_end_or_the_next_double_hyphen() {
        assert_eq!(
            toks("a -- note -- b\nc -- rest of line\nd"),
            vec![
                Tok::Ident("a"),
                Tok::Ident("b"),
                Tok::Ident("c"),
                Tok::Ident("d")
            ]
        );
        assert_eq!(toks("----------\nx"), vec![Tok::Ident("x")]);
    }

    #[test]
    fn separator_lines_of_any_length_stay_comments() {
        assert_eq!(
            toks("-----\nx ------ y -------\nz"),
            vec![Tok::Ident("x"), Tok::Ident("z")]
        );
        assert_eq!(toks("--- a\nb"), vec![Tok::Ident("b")]);
    }

    #[test]
    fn strings_span_lines_and_lines_are_counted_through_them() {
        let t = tokenize("a \"one\nt\"\"wo -- no comment\n\" b").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[1].tok, Tok::Lit);
        assert_eq!(
            t[2],
            Token {
                tok: Tok::Ident("b"),
                line: 3
            }
        );
    }

    #[test]
    fn hyphenated_names_signed_numbers_and_ranges() {
        assert_eq!(
            toks("mib-2 ::= (-5..10) '0F'H x"),
            vec![
                Tok::Ident("mib-2"),
                Tok::Punct("::="),
                Tok::Punct("("),
                Tok::Num("-5"),
                Tok::Punct(".."),
                Tok::Num("10"),
                Tok::Punct(")"),
                Tok::Lit,
                Tok::Ident("x"),
            ]
        );
    }

    #[test]
    fn a_name_stops_before_a_comment_that_touches_it() {
        assert_eq!(toks("abc--x\nd"), vec![Tok::Ident("abc"), Tok::Ident("d")]);
    }

    #[test]
    fn unterminated_strings_name_their_line() {
        let e = tokenize("a\n\"never closed\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(tokenize("'0F").is_err());
    }

    #[test]
    fn non_ascii_characters_are_single_tokens() {
        assert_eq!(toks("é x"), vec![Tok::Punct("é"), Tok::Ident("x")]);
    }
}
