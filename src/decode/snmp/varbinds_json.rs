//! The `snmp_varbinds` column: the varbinds as a JSON array of `{"oid", "name", "type",
//! "value"}` objects, byte for byte what `serde_json::to_string` of the slice gives (a test holds
//! it to that), written in one pass into a string sized up front.
//!
//! Why not serde_json itself: for a 10-varbind linkDown trap it took 15,400 instructions of the
//! 57,800 the whole processing stage spends on the trap (`benches/process.rs` under callgrind):
//! 40 keys and 40 values each went through the escaper byte by byte, and the output grew by
//! doubling five times. Keys here are constants, a value with nothing to escape is copied whole,
//! and the rare one with a quote, a backslash or a control character is escaped as serde_json
//! escapes it. docs/PERFORMANCE.md has the figures.

use super::Varbind;

/// The JSON array of `varbinds`.
pub fn varbinds_json(varbinds: &[Varbind]) -> String {
    const FRAME: usize = r#"{"oid":"","name":"","type":"","value":""},"#.len();
    let size = varbinds
        .iter()
        .map(|v| {
            FRAME
                + v.oid.len()
                + v.name.as_ref().map_or(4, String::len)
                + v.ty.len()
                + v.value.len()
        })
        .sum::<usize>();
    let mut out = String::with_capacity(size + 2);
    out.push('[');
    for (i, v) in varbinds.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"oid":"#);
        push_string(&mut out, &v.oid);
        out.push_str(r#","name":"#);
        match &v.name {
            Some(name) => push_string(&mut out, name),
            None => out.push_str("null"),
        }
        out.push_str(r#","type":"#);
        push_string(&mut out, v.ty);
        out.push_str(r#","value":"#);
        push_string(&mut out, &v.value);
        out.push('}');
    }
    out.push(']');
    out
}

/// `s` as a JSON string: `"` and `\` escaped, control characters as `\b \t \n \f \r` or
/// `\u00xx` (lowercase hex), everything else as is (serde_json's rules).
fn push_string(out: &mut String, s: &str) {
    out.push('"');
    if !needs_escape(s.as_bytes()) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte, so both cuts are on character boundaries.
        out.push_str(s.get(plain..i).unwrap_or(""));
        if escaped.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escaped);
        }
        plain = i + 1;
    }
    out.push_str(s.get(plain..).unwrap_or(""));
    out.push('"');
}

/// True when a byte of `s` is `"`, `\` or below 0x20: eight bytes at a time, with the
/// carry-free tests for "some byte is zero" and "some byte is below n" on a 64-bit word (exact
/// for n <= 128: a word that has no such byte gives 0).
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS;
    let has = |w: u64, b: u8| below(w ^ (ONES * u64::from(b)), 1);
    let mut words = s.chunks_exact(8);
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        if below(w, 0x20) | has(w, b'"') | has(w, b'\\') != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vb(oid: &str, name: Option<&str>, ty: &'static str, value: &str) -> Varbind {
        Varbind {
            oid: oid.into(),
            name: name.map(Into::into),
            ty,
            value: value.into(),
        }
    }

    #[test]
    fn it_is_what_serde_json_writes_byte_for_byte() {
        let mut strings: Vec<String> = vec![
            String::new(),
            "GigabitEthernet0/8".into(),
            "uplink to \"core\" \\ rack B20".into(),
            "tab\there\r\nnew line\u{0}nul\u{1f}\u{7f}del".into(),
            "\u{8}\u{c}\u{b}".into(),
            "ünïcödé ✓ 𝄞 and \u{2028} line separator".into(),
        ];
        // Every byte value below 0x80 on its own, and between text.
        strings.extend((0u8..0x80).map(|b| format!("a{}b", char::from(b))));
        let mut varbinds = vec![vb("1.3.6.1.2.1.1.3.0", None, "TimeTicks", "5")];
        for (i, s) in strings.iter().enumerate() {
            let name = (i % 2 == 0).then_some(s.as_str());
            varbinds.push(vb(s, name, "OCTET STRING", s));
        }
        for n in [0, 1, 2, varbinds.len()] {
            let slice = &varbinds[..n];
            assert_eq!(
                varbinds_json(slice),
                serde_json::to_string(slice).expect("serialize"),
                "{n} varbinds"
            );
        }
    }

    #[test]
    fn needs_escape_finds_each_special_byte_at_every_position() {
        for len in 0..20 {
            let plain = vec![b'a'; len];
            assert!(!needs_escape(&plain), "{len}");
            for at in 0..len {
                for special in (0u8..0x20).chain([b'"', b'\\']) {
                    let mut s = plain.clone();
                    s[at] = special;
                    assert!(needs_escape(&s), "{special:#x} at {at} of {len}");
                }
            }
        }
        // Every other byte value, alone in a word, needs nothing.
        for b in (0x20u8..=0xff).filter(|&b| b != b'"' && b != b'\\') {
            assert!(!needs_escape(&[b; 8]), "{b:#x}");
            assert!(
                !needs_escape(&[b'x', b, 0x20, 0xff, 0x7f, 0x21, 0x5d, 0x23]),
                "{b:#x}"
            );
        }
    }

    #[test]
    fn the_string_is_sized_once() {
        let varbinds: Vec<Varbind> = (0..10)
            .map(|i| {
                vb(
                    &format!("1.3.6.1.2.1.2.2.1.2.{i}"),
                    Some(&format!("IF-MIB::ifDescr.{i}")),
                    "OCTET STRING",
                    "GigabitEthernet0/1",
                )
            })
            .collect();
        let json = varbinds_json(&varbinds);
        assert!(json.capacity() >= json.len());
        assert!(
            json.capacity() - json.len() <= 2 * varbinds.len() + 2,
            "{}",
            json.capacity()
        );
    }
}
