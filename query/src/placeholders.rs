//! SQLite's placeholders in PostgreSQL's spelling: `?` becomes `$1`, `$2`, … in order, and
//! `?N` becomes `$N`, outside string literals (`'it''s ?'`), quoted identifiers (`"a?"`) and
//! comments. Queries are written once, with `?`; PostgreSQL's own `?` operators (jsonb) are not
//! available through this layer.

use std::borrow::Cow;

/// `sql` with PostgreSQL placeholders; borrowed when it has none.
pub fn to_postgres(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1u32;
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"') => i = end_of_quoted(bytes, i, q),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1)
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2)
            }
            b'?' => {
                out.push_str(&sql[copied..i]);
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits > 0 {
                    out.push('$');
                    out.push_str(&sql[i + 1..i + 1 + digits]);
                } else {
                    out.push('$');
                    out.push_str(&next.to_string());
                    next += 1;
                }
                i += 1 + digits;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

/// The index just past the quote that closes the one at `start` (a doubled quote is one quote
/// inside); the end of the text when it is not closed.
fn end_of_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_marks_become_numbered_placeholders_in_order() {
        assert_eq!(
            to_postgres("SELECT a FROM t WHERE id >= ? AND id < ? AND b = ? LIMIT 5"),
            "SELECT a FROM t WHERE id >= $1 AND id < $2 AND b = $3 LIMIT 5"
        );
    }

    #[test]
    fn numbered_placeholders_keep_their_number() {
        assert_eq!(
            to_postgres("WHERE source_ip = ?1 AND id < (SELECT id FROM m WHERE id = ?2) OR x = ?1"),
            "WHERE source_ip = $1 AND id < (SELECT id FROM m WHERE id = $2) OR x = $1"
        );
    }

    #[test]
    fn literals_identifiers_and_comments_keep_their_question_marks() {
        assert_eq!(
            to_postgres("SELECT 'why?', 'it''s ?', \"odd?col\" FROM t -- what?\nWHERE a = ?"),
            "SELECT 'why?', 'it''s ?', \"odd?col\" FROM t -- what?\nWHERE a = $1"
        );
        assert_eq!(
            to_postgres("SELECT /* ? */ ? , '?'"),
            "SELECT /* ? */ $1 , '?'"
        );
    }

    #[test]
    fn text_without_placeholders_is_not_copied() {
        assert!(matches!(
            to_postgres("SELECT max(id) FROM messages"),
            Cow::Borrowed(_)
        ));
        // An unclosed literal is left to the server to refuse, not panicked on.
        assert_eq!(to_postgres("SELECT '?"), "SELECT '?");
    }
}
