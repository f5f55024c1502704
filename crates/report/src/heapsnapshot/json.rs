//! The few JSON primitives the export needs, written straight to the output:
//! the heap snapshot of a large process is gigabytes of numbers, so nothing
//! is built as a value first.

use std::io::{self, Write};

pub(super) struct Json<W: Write> {
    out: W,
}

impl<W: Write> Json<W> {
    pub fn new(out: W) -> Self {
        Json { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// Text that is already JSON.
    pub fn raw(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())
    }

    /// A number, without going through `fmt`: there are hundreds of millions.
    pub fn num(&mut self, mut n: u64) -> io::Result<()> {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.out.write_all(&digits[i..])
    }

    /// Numbers separated by commas.
    pub fn nums(&mut self, values: &[u64]) -> io::Result<()> {
        for (i, &v) in values.iter().enumerate() {
            if i > 0 {
                self.raw(",")?;
            }
            self.num(v)?;
        }
        Ok(())
    }

    /// A string, in ASCII: everything else is escaped as `\uXXXX`, as V8
    /// writes it. Readers that decode the file in fixed-size chunks (memlab
    /// does) would otherwise garble a character cut in two at a chunk end.
    pub fn string(&mut self, s: &str) -> io::Result<()> {
        self.raw("\"")?;
        let mut plain_from = 0;
        for (i, c) in s.char_indices() {
            if is_plain(c) {
                continue;
            }
            self.raw(&s[plain_from..i])?;
            self.escape(c)?;
            plain_from = i + c.len_utf8();
        }
        self.raw(&s[plain_from..])?;
        self.raw("\"")
    }

    fn escape(&mut self, c: char) -> io::Result<()> {
        match c {
            '"' => self.raw("\\\""),
            '\\' => self.raw("\\\\"),
            '\n' => self.raw("\\n"),
            '\r' => self.raw("\\r"),
            '\t' => self.raw("\\t"),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(self.out, "\\u{unit:04x}")?;
                }
                Ok(())
            }
        }
    }
}

fn is_plain(c: char) -> bool {
    c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> String {
        let mut json = Json::new(Vec::new());
        json.string(s).unwrap();
        String::from_utf8(json.into_inner()).unwrap()
    }

    #[test]
    fn strings_are_ascii_and_round_trip() {
        for s in [
            "",
            "plain",
            "q\"b\\",
            "tab\tnl\n\u{1}",
            "é",
            "日本",
            "🐍 x",
            "\u{7f}",
        ] {
            let text = string(s);
            assert!(text.is_ascii(), "{text}");
            let back: String = serde_json::from_str(&text).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn numbers_print_in_decimal() {
        let mut json = Json::new(Vec::new());
        json.nums(&[0, 7, 10, 4_294_967_295, u64::MAX]).unwrap();
        assert_eq!(
            String::from_utf8(json.into_inner()).unwrap(),
            "0,7,10,4294967295,18446744073709551615"
        );
    }
}
