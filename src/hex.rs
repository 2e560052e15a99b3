//! Hex text, in the three layouts MUTT reads and writes; the digits themselves are the `hex`
//! crate's.
//!
//! ```text
//! encode / decode   8000000005aabb     engine IDs, keys, `raw_hex` in dumps (decode: either case)
//! spaced            80 00 00 00 05     undecodable SNMP values, as net-snmp prints them
//! parse_dump        80 00 # comment    what `snmptrap -d` and tcpdump print, pasted into a file
//! ```

/// Lower-case hex digits, two per octet, nothing between them.
pub fn encode(bytes: &[u8]) -> String {
    ::hex::encode(bytes)
}

/// Octets from hex digit pairs (either case, nothing else); None for an odd count or another
/// character.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    ::hex::decode(text).ok()
}

/// Lower-case hex octets separated by spaces: `0a 1b ff`.
pub fn spaced(bytes: &[u8]) -> String {
    let digits = ::hex::encode(bytes);
    let mut out = String::with_capacity(bytes.len() * 3);
    for pair in digits.as_bytes().chunks(2) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(pair.iter().map(|&d| char::from(d)));
    }
    out
}

/// Hex text as `snmptrap -d` and tcpdump print it: pairs of digits with any spacing and colons
/// between them, `#` and `;` starting a comment to the end of the line. None when what is left
/// is not whole pairs of hex digits.
pub fn parse_dump(text: &[u8]) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(text);
    let digits: String = text
        .lines()
        .map(|line| line.split(['#', ';']).next().unwrap_or(""))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace() && *c != ':'))
        .collect();
    decode(&digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_lower_case_and_decoding_takes_either_case() {
        assert_eq!(encode(&[0x80, 0x0a, 0xff]), "800aff");
        assert_eq!(decode("800AfF"), Some(vec![0x80, 0x0a, 0xff]));
        assert_eq!(decode(""), Some(vec![]));
    }

    #[test]
    fn decoding_refuses_odd_counts_signs_and_other_characters() {
        assert_eq!(decode("800"), None);
        assert_eq!(decode("+f"), None);
        assert_eq!(decode("0x80"), None);
        assert_eq!(decode("80 00"), None);
    }

    #[test]
    fn spaced_octets_have_one_space_between_and_none_around() {
        assert_eq!(spaced(&[0x0a, 0x1b, 0xff]), "0a 1b ff");
        assert_eq!(spaced(&[7]), "07");
        assert_eq!(spaced(&[]), "");
    }

    #[test]
    fn hex_text_in_the_usual_dump_layouts_parses() {
        assert_eq!(
            parse_dump(b"30 0a\n02:01 # c\n"),
            Some(vec![0x30, 0x0a, 0x02, 0x01])
        );
        assert_eq!(
            parse_dump(b"30; all of it a comment 0a\n0A"),
            Some(vec![0x30, 0x0a])
        );
        assert_eq!(parse_dump(b"3"), None);
        assert_eq!(parse_dump(b"zz"), None);
    }
}
