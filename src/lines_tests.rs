use super::*;

/// An owned copy of a line view, to compare after the callback returns.
#[derive(Debug, PartialEq, Eq)]
struct Got {
    head: Vec<u8>,
    tail: Vec<u8>,
    len: u64,
    whole: Option<Vec<u8>>,
}

fn got(l: &Line) -> Got {
    Got {
        head: l.head.to_vec(),
        tail: l.tail.to_vec(),
        len: l.len,
        whole: l.whole.map(<[u8]>::to_vec),
    }
}

fn split(bytes: &[u8], chunk: usize) -> (Vec<Got>, u64) {
    let mut s = Splitter::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk) {
        s.feed(piece, |l| out.push(got(l)));
    }
    (out, s.pending())
}

/// Byte `i` of a long test line: varies with position, never a newline.
fn pattern(i: u64) -> u8 {
    b'a' + ((i * 7 + i / 4099) % 26) as u8
}

#[test]
fn views_keep_head_and_tail_and_say_when_the_line_is_whole() {
    let cases =
        [0, 1, HEAD - 1, HEAD, HEAD + 1, HEAD + TAIL - 1, HEAD + TAIL, HEAD + TAIL + 1, 100_000];
    for len in cases {
        let line: Vec<u8> = (0..len as u64).map(pattern).collect();
        let v = Line::of(&line);
        assert_eq!(v.len, len as u64);
        assert_eq!(v.head, &line[..len.min(HEAD)], "head of a {len}-byte line");
        let tail_len = len.saturating_sub(HEAD).min(TAIL);
        assert_eq!(v.tail, &line[len - tail_len..], "tail of a {len}-byte line");
        assert_eq!(v.whole.is_some(), len <= HEAD + TAIL, "whole for {len}");
        let parts = v.parts();
        match v.whole {
            Some(w) => assert_eq!((w, parts[1]), (&line[..], &[][..])),
            None => assert_eq!(parts, [v.head, v.tail]),
        }
    }
}

#[test]
fn lines_come_out_the_same_whatever_the_chunk_size() {
    let mut text = Vec::new();
    for len in [
        0,
        5,
        HEAD - 1,
        HEAD,
        HEAD + 3,
        HEAD + TAIL,
        HEAD + TAIL + 1,
        3 * (HEAD + TAIL) + 17,
        0,
        42,
    ] {
        text.extend((0..len as u64).map(pattern));
        text.push(b'\n');
    }
    let want: Vec<Got> = text.split(|&b| b == b'\n').map(|l| got(&Line::of(l))).collect();
    let want = &want[..want.len() - 1]; // the piece after the last newline is no line
    for chunk in [1, 7, 8, 4096, 65536, text.len()] {
        let (lines, pending) = split(&text, chunk);
        assert_eq!(lines.len(), want.len(), "line count with {chunk}-byte chunks");
        for (i, (g, w)) in lines.iter().zip(want).enumerate() {
            assert!(
                g == w,
                "line {} differs with {chunk}-byte chunks (len {} vs {})",
                i + 1,
                g.len,
                w.len
            );
        }
        assert_eq!(pending, 0);
    }
}

#[test]
fn a_partial_last_line_waits_for_its_newline_and_reset_drops_it() {
    let mut s = Splitter::new();
    let mut out = Vec::new();
    s.feed(b"one\ntw", |l| out.push(got(l)));
    assert_eq!(out.len(), 1);
    assert_eq!(s.pending(), 2, "\"tw\" is held");
    s.feed(b"o\n", |l| out.push(got(l)));
    assert_eq!(out[1].head, b"two", "held bytes join the rest of their line");
    s.feed(b"half a line", |l| out.push(got(l)));
    s.reset();
    assert_eq!(s.pending(), 0);
    s.feed(b"new file\n", |l| out.push(got(l)));
    assert_eq!(out.len(), 3);
    assert_eq!(
        out[2].whole.as_deref(),
        Some(&b"new file"[..]),
        "nothing of the old partial line is left"
    );
}

#[test]
fn a_marker_across_the_head_boundary_is_whole_in_a_short_line() {
    let marker = b"\"stop_reason\":\"end_turn\"";
    let mut line = vec![b'x'; HEAD - 10];
    line.extend_from_slice(marker);
    line.extend_from_slice(&[b'y'; 2000]);
    line.push(b'\n');
    for chunk in [1, 7, 4096, 65536] {
        let (lines, _) = split(&line, chunk);
        let whole = lines[0].whole.as_deref().expect("a 10 KiB line is kept whole");
        assert!(
            whole.windows(marker.len()).any(|w| w == marker),
            "marker found with {chunk}-byte chunks"
        );
        assert!(!lines[0].head.ends_with(b"\""), "the head alone cuts the marker");
    }
}

#[test]
fn a_64_mib_line_keeps_memory_flat() {
    const LEN: u64 = 64 << 20;
    let mut s = Splitter::new();
    let (cap, at) = (s.capacity(), s.buf.as_ptr());
    let mut chunk = vec![0u8; 64 * 1024];
    let mut seen = Vec::new();
    let mut fed = 0;
    while fed < LEN {
        for (i, b) in chunk.iter_mut().enumerate() {
            *b = pattern(fed + i as u64);
        }
        fed += chunk.len() as u64;
        s.feed(&chunk, |l| seen.push(got(l)));
        assert_eq!((s.capacity(), s.buf.as_ptr()), (cap, at), "the buffer never grows or moves");
    }
    s.feed(b"\nnext\n", |l| seen.push(got(l)));
    assert_eq!(cap, HEAD + TAIL);
    assert_eq!(seen.len(), 2);
    let big = &seen[0];
    assert_eq!(big.len, LEN);
    assert_eq!(big.whole, None);
    assert!(
        big.head.iter().enumerate().all(|(i, &b)| b == pattern(i as u64)),
        "head is the first 8 KiB"
    );
    let from = LEN - TAIL as u64;
    assert!(
        big.tail.iter().enumerate().all(|(i, &b)| b == pattern(from + i as u64)),
        "tail is the last 4 KiB"
    );
    assert_eq!(seen[1].whole.as_deref(), Some(&b"next"[..]));
}

#[test]
fn newline_search_agrees_with_a_plain_scan() {
    let mut bytes = [b'x'; 40];
    for at in [None, Some(0), Some(7), Some(8), Some(15), Some(39)] {
        bytes.iter_mut().for_each(|b| *b = b'x');
        if let Some(at) = at {
            bytes[at] = b'\n';
            bytes[39] = b'\n';
        }
        for len in 0..=bytes.len() {
            let want = bytes[..len].iter().position(|&b| b == b'\n');
            assert_eq!(newline(&bytes[..len]), want, "newline at {at:?} within {len} bytes");
        }
    }
    assert_eq!(find_byte(b"abcdefgh:ij", b':'), Some(8));
    assert_eq!(find_byte(b"\x3b\x3b\x3b\x3b\x3b\x3b\x3b\x3b\x3b", b':'), None);
    // Bytes next to '\n' in value (0x0b, 0x09, 0x8a) are no newline.
    assert_eq!(newline(&[0x0b, 0x09, 0x8a, 0x0a - 1, 0xff, 0x0b, 0x09, 0x8a, 0x8a]), None);
}
