//! Opaque page cursors: a keyset position `(rank, id)` sealed with a checksum over the list it
//! belongs to and the canonical text of the filters it was issued for, so that a cursor replayed
//! with other filters (or on another list, or edited) is refused (`400 invalidCursor`).
//!
//! The text is obfuscated on purpose (a keystream over the position, then hex): clients must
//! treat it as opaque. Cursors never expire here; how long real ones stay valid is not
//! documented. This module knows nothing about HTTP or the model.

/// 64-bit FNV-1a over several byte strings, each followed by a separator.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.iter().chain(&[0xff]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// A deterministic keystream byte for position `i` (xorshift of the secret).
fn keystream(secret: u64, len: usize) -> impl Iterator<Item = u8> {
    let mut state = secret | 1;
    (0..len).map(move |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 24) as u8
    })
}

/// Seals position `(rank, id)` of list `scope` (e.g. `"threads"`) under `filters`.
pub(crate) fn encode(secret: u64, scope: &str, filters: &str, rank: i64, id: &str) -> String {
    let payload = format!("{rank}.{id}");
    let mac = fnv1a(&[
        &secret.to_le_bytes(),
        scope.as_bytes(),
        filters.as_bytes(),
        payload.as_bytes(),
    ]);
    let mut out = String::with_capacity(payload.len() * 2 + 16);
    for (b, k) in payload.bytes().zip(keystream(secret ^ mac, payload.len())) {
        out.push_str(&format!("{:02x}", b ^ k));
    }
    out.push_str(&format!("{mac:016x}"));
    out
}

/// Opens a cursor sealed by [`encode`] with the same secret, scope and filters; `None` when it
/// was issued for anything else, or is not a cursor at all.
pub(crate) fn decode(secret: u64, scope: &str, filters: &str, text: &str) -> Option<(i64, String)> {
    if text.len() < 18 || !text.is_ascii() || !text.len().is_multiple_of(2) {
        return None;
    }
    let (body, mac_hex) = text.split_at(text.len() - 16);
    let mac = u64::from_str_radix(mac_hex, 16).ok()?;
    let bytes: Option<Vec<u8>> = (0..body.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&body[i..i + 2], 16).ok())
        .collect();
    let bytes = bytes?;
    let plain: Vec<u8> = bytes
        .iter()
        .zip(keystream(secret ^ mac, bytes.len()))
        .map(|(b, k)| b ^ k)
        .collect();
    let expected = fnv1a(&[
        &secret.to_le_bytes(),
        scope.as_bytes(),
        filters.as_bytes(),
        &plain,
    ]);
    if expected != mac {
        return None;
    }
    let payload = String::from_utf8(plain).ok()?;
    let (rank, id) = payload.split_once('.')?;
    Some((rank.parse().ok()?, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_opens_only_with_its_own_scope_and_filters() {
        let cursor = encode(7, "threads", "folder=all", 1_700_000_000_000, "abc123");
        assert_eq!(
            decode(7, "threads", "folder=all", &cursor),
            Some((1_700_000_000_000, "abc123".to_owned()))
        );
        assert_eq!(decode(7, "threads", "folder=inbox", &cursor), None);
        assert_eq!(decode(7, "contacts", "folder=all", &cursor), None);
        assert_eq!(decode(8, "threads", "folder=all", &cursor), None);
        assert!(!cursor.contains("abc123"), "{cursor}");
        let mut edited = cursor.clone().into_bytes();
        edited[0] = if edited[0] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            decode(
                7,
                "threads",
                "folder=all",
                &String::from_utf8(edited).unwrap()
            ),
            None
        );
        assert_eq!(decode(7, "threads", "folder=all", "garbage"), None);
    }
}
