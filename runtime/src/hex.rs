//! Hex byte strings as the conformance runner writes them: `b7 00 00 00`, or unspaced.

/// A malformed hex string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a hex byte")]
pub struct BadHex(pub String);

/// Parses whitespace-separated hex bytes; a token longer than two digits is read as
/// consecutive bytes (`b7000000`).
pub fn parse(text: &str) -> Result<Vec<u8>, BadHex> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let token = token.strip_prefix("0x").unwrap_or(token);
        if token.len() <= 2 {
            out.push(u8::from_str_radix(token, 16).map_err(|_| BadHex(token.to_string()))?);
            continue;
        }
        if token.len() % 2 != 0 || !token.is_ascii() {
            return Err(BadHex(token.to_string()));
        }
        for pair in token.as_bytes().chunks(2) {
            // ASCII checked above, so every 2-byte chunk is valid UTF-8.
            let pair = std::str::from_utf8(pair).map_err(|_| BadHex(token.to_string()))?;
            out.push(u8::from_str_radix(pair, 16).map_err(|_| BadHex(token.to_string()))?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_spaced_and_packed_bytes() {
        assert_eq!(parse("b7  00 0a ").unwrap(), [0xb7, 0, 0x0a]);
        assert_eq!(parse("b7000a\n95").unwrap(), [0xb7, 0, 0x0a, 0x95]);
        assert_eq!(parse("").unwrap(), Vec::<u8>::new());
        assert_eq!(parse("f"), Ok(vec![0xf]));
        assert_eq!(parse("zz"), Err(BadHex("zz".into())));
        assert_eq!(parse("abc"), Err(BadHex("abc".into())));
    }
}
