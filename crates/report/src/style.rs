//! How terminal text is drawn: its width, whether it may use colour, and
//! whether byte counts are exact integers or human units.

use crate::units::human_bytes;

const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextStyle {
    /// Columns available.
    pub width: usize,
    /// Whether to emphasise with ANSI codes. The caller decides: only on a
    /// terminal, and never when `NO_COLOR` is set.
    pub colour: bool,
    /// Byte counts as exact integers (`10485760 B`) rather than human units
    /// (`10.0 MiB`).
    pub exact_bytes: bool,
}

impl From<usize> for TextStyle {
    /// Plain text of that width, in human units.
    fn from(width: usize) -> Self {
        TextStyle {
            width,
            colour: false,
            exact_bytes: false,
        }
    }
}

impl TextStyle {
    pub fn bytes(&self, n: u64) -> String {
        if self.exact_bytes {
            format!("{n} B")
        } else {
            human_bytes(n)
        }
    }

    /// A heading or key figure, in bold when colour is allowed. Only whole
    /// lines or already padded cells: the codes would count as characters
    /// in a padding width.
    pub fn strong(&self, s: &str) -> String {
        if self.colour {
            format!("{BOLD}{s}{RESET}")
        } else {
            s.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_style_has_no_codes_and_human_units() {
        let style = TextStyle::from(80);
        assert_eq!(style.bytes(10 * 1024 * 1024), "10.0 MiB");
        assert_eq!(style.strong("Peak"), "Peak");
    }

    #[test]
    fn exact_bytes_and_colour() {
        let style = TextStyle {
            width: 80,
            colour: true,
            exact_bytes: true,
        };
        assert_eq!(style.bytes(10 * 1024 * 1024), "10485760 B");
        assert_eq!(style.strong("Peak"), "\x1b[1mPeak\x1b[0m");
    }
}
