//! A watcher's identity: FNV-1a 64 over the home's bytes, one zero byte and
//! the artifact's bytes, as 16 lowercase hex digits. The key covers the
//! home, so a daemon only ever touches watchers of its own home, and it is
//! ASCII, so it survives `ps` whatever the artifact's bytes are.

/// The FNV-1a 64 offset basis.
pub const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a 64 over `bytes`, continuing from `hash`.
pub fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The key of `artifact` in `home`.
pub fn of(home: &str, artifact: &str) -> String {
    let h = fnv1a(fnv1a(fnv1a(FNV_BASIS, home.as_bytes()), &[0]), artifact.as_bytes());
    format!("{h:016x}")
}

/// Whether `s` is a key: exactly 16 lowercase hex digits.
pub fn valid(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_the_published_vectors() {
        assert_eq!(of("/Users/ana/.bach", "/Users/ana/work/s1.jsonl"), "63507df7e5e672cf");
        assert_eq!(of("/home/bo/.bach", "/home/bo/agent runs/\u{fc}.jsonl"), "8ab3445f8e224274");
    }

    #[test]
    fn only_sixteen_lowercase_hex_digits_are_a_key() {
        assert!(valid("0123456789abcdef"));
        for bad in
            ["", "0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF", "g123456789abcdef"]
        {
            assert!(!valid(bad), "{bad}");
        }
        assert!(!valid("0123456789abcdeü"), "a multibyte character is no hex digit");
    }
}
