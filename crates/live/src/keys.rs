//! Keys from the terminal, read from `/dev/tty` directly rather than through
//! crossterm's event reader: once a terminal hangs up (an SSH connection
//! drops, a tmux server is killed), that reader loops for ever on a device
//! that says it is readable and yields nothing. Here a hang-up is an answer:
//! [`Keys::wait`] returns `None` and the view closes.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::app::Action;

/// The controlling terminal, for reading keys.
pub(crate) struct Keys {
    tty: File,
}

impl Keys {
    pub(crate) fn open() -> std::io::Result<Keys> {
        Ok(Keys {
            tty: File::open("/dev/tty")?,
        })
    }

    /// The actions typed within `wait` (none when nothing was typed); `None`
    /// once the terminal is gone.
    pub(crate) fn wait(&mut self, wait: Duration) -> Option<Vec<Action>> {
        let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.tty.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return Some(Vec::new()),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Some(Vec::new()),
            Err(_) => return None,
        }
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        if revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
            return None;
        }
        let mut buf = [0u8; 64];
        match self.tty.read(&mut buf) {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(actions(&buf[..n])),
        }
    }
}

/// The actions a burst of bytes from a terminal in raw mode asks for: q, a
/// lone Esc and Ctrl-C quit (raw mode turns Ctrl-C into a byte, so it never
/// reaches the program); arrows and the paging keys arrive as escape
/// sequences, in either cursor mode.
pub(crate) fn actions(bytes: &[u8]) -> Vec<Action> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some((&first, tail)) = rest.split_first() {
        rest = tail;
        let action = match first {
            0x1b => match escape_sequence(rest) {
                Some((action, used)) => {
                    rest = &rest[used..];
                    action
                }
                None if rest.is_empty() => Some(Action::Quit),
                None => None,
            },
            0x03 | b'q' => Some(Action::Quit),
            b's' => Some(Action::CycleSort),
            b'k' => Some(Action::Up),
            b'j' => Some(Action::Down),
            b'g' => Some(Action::First),
            b'G' => Some(Action::Last),
            b'p' | b' ' => Some(Action::TogglePause),
            _ => None,
        };
        out.extend(action);
    }
    out
}

/// The key an escape sequence (what follows ESC) names, and the bytes it
/// took; `None` for a lone Esc or a sequence this view has no use for.
fn escape_sequence(after_esc: &[u8]) -> Option<(Option<Action>, usize)> {
    const KNOWN: [(&[u8], Action); 12] = [
        (b"[A", Action::Up),
        (b"OA", Action::Up),
        (b"[B", Action::Down),
        (b"OB", Action::Down),
        (b"[5~", Action::PageUp),
        (b"[6~", Action::PageDown),
        (b"[H", Action::First),
        (b"OH", Action::First),
        (b"[1~", Action::First),
        (b"[F", Action::Last),
        (b"OF", Action::Last),
        (b"[4~", Action::Last),
    ];
    if let Some((seq, action)) = KNOWN.iter().find(|(seq, _)| after_esc.starts_with(seq)) {
        return Some((Some(*action), seq.len()));
    }
    // Any other CSI sequence (ESC [ … final byte): skipped whole.
    let body = after_esc.strip_prefix(b"[")?;
    let end = body.iter().position(|b| (0x40..=0x7e).contains(b))?;
    Some((None, end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_arrows_and_paging_keys_become_actions() {
        assert_eq!(
            actions(b"sqjk\x1b[A\x1b[B\x1bOA\x1b[5~\x1b[6~\x1b[H\x1b[4~p"),
            [
                Action::CycleSort,
                Action::Quit,
                Action::Down,
                Action::Up,
                Action::Up,
                Action::Down,
                Action::Up,
                Action::PageUp,
                Action::PageDown,
                Action::First,
                Action::Last,
                Action::TogglePause,
            ]
        );
    }

    #[test]
    fn a_lone_escape_and_ctrl_c_quit_but_unknown_sequences_do_nothing() {
        assert_eq!(actions(b"\x1b"), [Action::Quit]);
        assert_eq!(actions(b"\x03"), [Action::Quit]);
        assert_eq!(actions(b"\x1b[1;5Cx\x1b[200~"), Vec::<Action>::new());
    }
}
