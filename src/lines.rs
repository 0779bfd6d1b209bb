//! Splitting a growing file into lines with flat memory: bytes are fed in
//! chunks of any size, and every complete line is handed on as a view of
//! its first [`HEAD`] and last [`TAIL`] bytes plus its true length.
//!
//! Invariant: the splitter owns one buffer of `HEAD + TAIL` bytes, allocated
//! once; no line, however long, makes it grow. A line up to `HEAD + TAIL`
//! bytes is kept whole (nothing dropped, so a marker across the head/tail
//! seam is still found); a longer one loses its middle. A partial last line
//! is held until its newline arrives or [`Splitter::reset`] drops it.

/// The most bytes kept from the start of a line.
pub const HEAD: usize = 8192;
/// The most bytes kept from the end of a line.
pub const TAIL: usize = 4096;

/// One complete line (its newline excluded), as far as it was kept.
///
/// `head` is the first `min(len, HEAD)` bytes and `tail` the last
/// `min(len - head.len(), TAIL)` bytes: they never overlap. When
/// `len <= HEAD + TAIL` nothing was dropped, `tail` continues `head`
/// directly and `whole` is the line itself; otherwise `whole` is `None` and
/// `len - HEAD - TAIL` bytes between the two were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The first bytes of the line.
    pub head: &'a [u8],
    /// The last bytes of the line, after `head`.
    pub tail: &'a [u8],
    /// The line's true length in bytes.
    pub len: u64,
    /// The whole line, when it was short enough to keep it whole.
    pub whole: Option<&'a [u8]>,
}

impl<'a> Line<'a> {
    /// A line held in memory already (a test or a caller that has it);
    /// views it exactly as the splitter would.
    pub fn of(bytes: &'a [u8]) -> Line<'a> {
        let head = &bytes[..bytes.len().min(HEAD)];
        let rest = &bytes[head.len()..];
        let tail = &rest[rest.len().saturating_sub(TAIL)..];
        let whole = (rest.len() <= TAIL).then_some(bytes);
        Line { head, tail, len: bytes.len() as u64, whole }
    }

    /// The parts to search: the whole line, or head and tail apart (a
    /// match spanning the dropped middle would be made up).
    pub fn parts(&self) -> [&'a [u8]; 2] {
        match self.whole {
            Some(whole) => [whole, &[]],
            None => [self.head, self.tail],
        }
    }
}

/// Cuts fed bytes into lines; see the module comment.
#[derive(Debug)]
pub struct Splitter {
    /// `buf[..HEAD]` holds the line's first bytes; byte `i >= HEAD` of the
    /// line lives at `buf[HEAD + (i - HEAD) % TAIL]`, so up to `HEAD + TAIL`
    /// bytes are stored in order and after that the ring keeps the last
    /// `TAIL`.
    buf: Box<[u8]>,
    /// Bytes of the current (partial) line so far.
    len: u64,
}

impl Default for Splitter {
    fn default() -> Splitter {
        Splitter::new()
    }
}

impl Splitter {
    /// An empty splitter; its only allocation.
    pub fn new() -> Splitter {
        Splitter { buf: vec![0; HEAD + TAIL].into_boxed_slice(), len: 0 }
    }

    /// Feeds the next bytes of the file; calls `on_line` for every line they
    /// complete, in order.
    pub fn feed(&mut self, mut bytes: &[u8], mut on_line: impl FnMut(&Line)) {
        while let Some(nl) = newline(bytes) {
            self.push(&bytes[..nl]);
            self.finish(&mut on_line);
            bytes = &bytes[nl + 1..];
        }
        self.push(bytes);
    }

    /// Drops the partial line: the file was truncated or replaced, and its
    /// next bytes start a new line.
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// Bytes of the partial line held, waiting for its newline.
    pub fn pending(&self) -> u64 {
        self.len
    }

    /// The bytes the splitter holds, which never change.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    fn push(&mut self, mut bytes: &[u8]) {
        if self.len < HEAD as u64 {
            let n = bytes.len().min(HEAD - self.len as usize);
            let at = self.len as usize;
            self.buf[at..at + n].copy_from_slice(&bytes[..n]);
            self.len += n as u64;
            bytes = &bytes[n..];
        }
        if bytes.is_empty() {
            return;
        }
        // Only the last TAIL bytes of a long piece can survive in the ring.
        let skip = bytes.len().saturating_sub(TAIL);
        self.len += skip as u64;
        let piece = &bytes[skip..];
        let at = ((self.len - HEAD as u64) % TAIL as u64) as usize;
        let first = piece.len().min(TAIL - at);
        self.buf[HEAD + at..HEAD + at + first].copy_from_slice(&piece[..first]);
        self.buf[HEAD..HEAD + piece.len() - first].copy_from_slice(&piece[first..]);
        self.len += piece.len() as u64;
    }

    fn finish(&mut self, on_line: &mut impl FnMut(&Line)) {
        let len = self.len;
        let line = if len <= (HEAD + TAIL) as u64 {
            Line::of(&self.buf[..len as usize])
        } else {
            // Put the ring in order so the tail is one slice, oldest first.
            let oldest = ((len - HEAD as u64) % TAIL as u64) as usize;
            self.buf[HEAD..].rotate_left(oldest);
            Line { head: &self.buf[..HEAD], tail: &self.buf[HEAD..], len, whole: None }
        };
        on_line(&line);
        self.len = 0;
    }
}

/// The index of the first `\n`.
fn newline(bytes: &[u8]) -> Option<usize> {
    find_byte(bytes, b'\n')
}

/// The index of the first `byte` in `bytes`, eight bytes at a time: the
/// watcher runs every byte of every transcript through here.
pub(crate) fn find_byte(bytes: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let pattern = ONES * byte as u64;
    let mut chunks = bytes.chunks_exact(8);
    for (i, chunk) in chunks.by_ref().enumerate() {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ pattern;
        // Nonzero exactly when some byte of x is zero (a match).
        if x.wrapping_sub(ONES) & !x & (ONES << 7) != 0 {
            return chunk.iter().position(|&b| b == byte).map(|p| i * 8 + p);
        }
    }
    let done = bytes.len() - chunks.remainder().len();
    chunks.remainder().iter().position(|&b| b == byte).map(|p| done + p)
}

#[cfg(test)]
#[path = "lines_tests.rs"]
mod tests;
