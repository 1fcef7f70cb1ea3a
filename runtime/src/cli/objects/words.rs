//! bpftool's command-line grammar for naming objects and giving bytes: `id ID`,
//! `pinned PATH`, `name NAME`; `key [hex] BYTES`, each byte a number in C notation
//! (`0x1f`, `017`, `31`) or, after `hex`, two hex digits.

use anyhow::{Context, bail};

/// How an object is named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Named {
    /// `id ID`.
    Id(u32),
    /// `pinned PATH`.
    Pinned(String),
    /// `name NAME`.
    Name(String),
}

/// The words of a command, consumed from the front.
pub(crate) struct Words<'a> {
    words: &'a [String],
    at: usize,
}

impl<'a> Words<'a> {
    pub(crate) fn new(words: &'a [String]) -> Words<'a> {
        Words { words, at: 0 }
    }

    /// The next word, if any.
    pub(crate) fn peek(&self) -> Option<&'a str> {
        self.words.get(self.at).map(String::as_str)
    }

    /// Takes the next word; `what` names it in the error when there is none.
    pub(crate) fn next(&mut self, what: &str) -> anyhow::Result<&'a str> {
        let w = self
            .words
            .get(self.at)
            .with_context(|| format!("{what} expected"))?;
        self.at += 1;
        Ok(w)
    }

    /// Takes the next word if it is `keyword`.
    pub(crate) fn take(&mut self, keyword: &str) -> bool {
        let hit = self.peek() == Some(keyword);
        if hit {
            self.at += 1;
        }
        hit
    }

    /// Takes `keyword`, which must come next.
    pub(crate) fn expect(&mut self, keyword: &str) -> anyhow::Result<()> {
        match self.peek() {
            Some(w) if w == keyword => {
                self.at += 1;
                Ok(())
            }
            Some(w) => bail!("`{keyword}` expected, not `{w}`"),
            None => bail!("`{keyword}` expected"),
        }
    }

    /// Fails if words are left.
    pub(crate) fn done(&self) -> anyhow::Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(w) => bail!("unexpected `{w}`"),
        }
    }

    /// `id ID`, `pinned PATH` or `name NAME`.
    pub(crate) fn named(&mut self, what: &str) -> anyhow::Result<Named> {
        let how = self.next(&format!("the {what}: id ID, pinned PATH or name NAME"))?;
        let arg = self.next(&format!("a value after `{how}`"))?;
        Ok(match how {
            "id" => Named::Id(
                number(arg)
                    .and_then(|n| u32::try_from(n).ok())
                    .with_context(|| format!("`{arg}` is not an id"))?,
            ),
            "pinned" => Named::Pinned(arg.to_string()),
            "name" => Named::Name(arg.to_string()),
            _ => bail!("the {what}: id ID, pinned PATH or name NAME, not `{how}`"),
        })
    }

    /// `[hex] BYTES`: exactly `len` bytes.
    pub(crate) fn bytes(&mut self, what: &str, len: usize) -> anyhow::Result<Vec<u8>> {
        let hex = self.take("hex");
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let w = self.next(&format!("{len} bytes of {what} ({} given)", out.len()))?;
            if hex {
                // `hex 0102` and `hex 01 02` both give two bytes.
                anyhow::ensure!(hex_bytes(w), "`{w}` is not hex bytes in the {what}");
                for pair in w.as_bytes().chunks(2) {
                    let text = std::str::from_utf8(pair).expect("ASCII hex digits");
                    out.push(u8::from_str_radix(text, 16).expect("two hex digits"));
                }
            } else {
                let n = number(w)
                    .and_then(|n| u8::try_from(n).ok())
                    .with_context(|| format!("`{w}` is not a byte in the {what}"))?;
                out.push(n);
            }
        }
        // Bytes beyond the size: counted, so the error says how many were given.
        let byte = |w: &str| {
            if hex {
                hex_bytes(w)
            } else {
                number(w).is_some()
            }
        };
        let extra: usize = self.words[self.at..]
            .iter()
            .take_while(|w| byte(w))
            .map(|w| if hex { w.len() / 2 } else { 1 })
            .sum();
        anyhow::ensure!(
            out.len() == len && extra == 0,
            "the {what} takes {len} bytes, {} given",
            out.len() + extra
        );
        Ok(out)
    }
}

/// Whether `w` is whole bytes in hex digits (`0a0b`).
fn hex_bytes(w: &str) -> bool {
    w.len().is_multiple_of(2) && w.bytes().all(|c| c.is_ascii_hexdigit())
}

/// A number in C notation: `0x` hex, a leading `0` octal, else decimal.
pub(crate) fn number(w: &str) -> Option<u64> {
    if let Some(h) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if w.len() > 1
        && let Some(o) = w.strip_prefix('0')
    {
        u64::from_str_radix(o, 8).ok()
    } else {
        w.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn bytes_in_c_notation_and_in_hex() {
        let w = words("key 1 0x10 017 255 value hex 0a0b 0c 0d");
        let mut w = Words::new(&w);
        w.expect("key").unwrap();
        assert_eq!(w.bytes("key", 4).unwrap(), vec![1, 16, 15, 255]);
        w.expect("value").unwrap();
        assert_eq!(w.bytes("value", 4).unwrap(), vec![10, 11, 12, 13]);
        w.done().unwrap();
    }

    #[test]
    fn wrong_counts_and_values_are_named() {
        let w = words("1 2");
        let e = Words::new(&w).bytes("key", 4).unwrap_err().to_string();
        assert!(e.contains("4 bytes of key (2 given)"), "{e}");
        let w = words("9 9 0 0 0 value 1");
        let e = Words::new(&w).bytes("key", 4).unwrap_err().to_string();
        assert_eq!(e, "the key takes 4 bytes, 5 given");
        let w = words("hex 0a0b0c0d0e");
        let e = Words::new(&w).bytes("key", 4).unwrap_err().to_string();
        assert_eq!(e, "the key takes 4 bytes, 5 given");
        let w = words("256");
        let e = Words::new(&w).bytes("value", 1).unwrap_err().to_string();
        assert!(e.contains("`256` is not a byte in the value"), "{e}");
        let w = words("hex 010");
        let e = Words::new(&w).bytes("key", 2).unwrap_err().to_string();
        assert!(e.contains("not hex bytes"), "{e}");
        let w = words("hex 010203");
        let e = Words::new(&w).bytes("key", 2).unwrap_err().to_string();
        assert!(e.contains("takes 2 bytes, 3 given"), "{e}");
    }

    #[test]
    fn objects_by_id_pin_or_name() {
        let w = words("id 7 pinned /sys/fs/bpf/m name vip_map tag x");
        let mut w = Words::new(&w);
        assert_eq!(w.named("map").unwrap(), Named::Id(7));
        assert_eq!(
            w.named("map").unwrap(),
            Named::Pinned("/sys/fs/bpf/m".into())
        );
        assert_eq!(w.named("map").unwrap(), Named::Name("vip_map".into()));
        assert!(w.named("map").is_err());
    }
}
