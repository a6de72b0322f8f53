//! Stable 64-bit digests of stored values: FNV-1a over a length-prefixed encoding.
//!
//! The digests are stored in the mirror and compared across runs and builds, so they must not
//! depend on the process: std's `DefaultHasher` is randomly seeded per map and its algorithm
//! may change between Rust releases. FNV-1a is not collision-resistant against someone who
//! crafts values on purpose; the digests only decide what a run can leave out because it is
//! unchanged, never what it writes.

/// A digest being built. Variable-length parts are length-prefixed, so that no two sequences
/// of parts run together (`["ab"]` and `["a", "b"]` differ).
pub(crate) struct Digest(u64);

impl Digest {
    pub(crate) fn new() -> Digest {
        Digest(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn u64(&mut self, n: u64) {
        self.bytes(&n.to_le_bytes());
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.bytes(s.as_bytes());
    }

    pub(crate) fn opt(&mut self, s: Option<&str>) {
        match s {
            None => self.bytes(&[0]),
            Some(s) => {
                self.bytes(&[1]);
                self.str(s);
            }
        }
    }

    pub(crate) fn bool(&mut self, b: bool) {
        self.bytes(&[u8::from(b)]);
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Digest;

    #[test]
    fn the_algorithm_is_pinned() {
        // Stored digests must keep their meaning: FNV-1a 64 of "a", the published value.
        let mut d = Digest::new();
        d.bytes(b"a");
        assert_eq!(d.finish(), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn parts_do_not_run_together() {
        let digest = |parts: &[Option<&str>]| {
            let mut d = Digest::new();
            parts.iter().for_each(|p| d.opt(*p));
            d.finish()
        };
        assert_ne!(digest(&[Some("ab")]), digest(&[Some("a"), Some("b")]));
        assert_ne!(digest(&[Some("x"), None]), digest(&[None, Some("x")]));
        assert_ne!(digest(&[Some("")]), digest(&[None]));
    }
}
