//! The client's probe payloads: each carries its sequence number, so an echo that comes back
//! late (after a retry) is recognised as stale rather than as a wrong answer, and every byte
//! depends on it, so an echo of the wrong datagram or a corrupted one differs somewhere.
//!
//! ```text
//! bytes 0..8    "capmonnp"
//! bytes 8..12   sequence number, little-endian
//! bytes 12..    (seq * 7 + i * 13) mod 256 for byte i
//! ```

/// Bytes per UDP probe: small, so the round trip measures the path, not copying.
pub const PAYLOAD_LEN: usize = 64;

const MAGIC: &[u8; 8] = b"capmonnp";

/// Probe `seq`'s payload.
pub fn payload(seq: u32) -> [u8; PAYLOAD_LEN] {
    let mut p = [0u8; PAYLOAD_LEN];
    p[..8].copy_from_slice(MAGIC);
    p[8..12].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in p.iter_mut().enumerate().skip(12) {
        // Only the low byte is kept, on purpose.
        *b = (seq.wrapping_mul(7) as usize)
            .wrapping_add(i * 13)
            .to_le_bytes()[0];
    }
    p
}

/// The sequence number a payload (or a prefix of one, at least 12 bytes) carries; `None` when
/// it is not a probe.
pub fn payload_seq(bytes: &[u8]) -> Option<u32> {
    if bytes.get(..8)? != MAGIC {
        return None;
    }
    Some(u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?))
}

/// Where `got` first differs from `expected`: the index of the first different byte, or the
/// shorter length when one is a prefix of the other; `None` when they are equal.
pub fn first_difference(got: &[u8], expected: &[u8]) -> Option<usize> {
    match got.iter().zip(expected).position(|(a, b)| a != b) {
        Some(i) => Some(i),
        None if got.len() != expected.len() => Some(got.len().min(expected.len())),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_number_and_differ() {
        assert_eq!(&payload(5)[..8], b"capmonnp");
        assert_eq!(payload_seq(&payload(5)), Some(5));
        assert_eq!(payload_seq(&payload(u32::MAX)[..12]), Some(u32::MAX));
        assert_eq!(payload_seq(b"capmonnp\x01"), None, "too short");
        assert_eq!(payload_seq(&[0; 64]), None);
        for a in 0..300 {
            let pa = payload(a);
            let pb = payload(a + 1);
            // Beyond the header too: a stale echo with a patched number still differs.
            assert!(pa[12..] != pb[12..], "{a}");
        }
    }

    #[test]
    fn differences_are_located() {
        let p = payload(9);
        assert_eq!(first_difference(&p, &p), None);
        let mut q = p;
        q[40] ^= 1;
        assert_eq!(first_difference(&q, &p), Some(40));
        assert_eq!(first_difference(&p[..10], &p), Some(10));
        assert_eq!(first_difference(&p, &p[..10]), Some(10));
        assert_eq!(first_difference(&[], &[]), None);
    }
}
