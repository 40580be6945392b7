//! SHA-256 of many short messages at once: a batch of rows' content hashes,
//! then their ids. Where the CPU has AVX-512, sixteen messages are hashed
//! side by side, one in each lane of the vector registers: twice as fast as
//! one after another with the SHA instructions (BENCHMARKS.md, session 14).
//! Elsewhere they are hashed one after another by sha2. The digests are
//! SHA-256's either way.

/// SHA-256's initial state.
const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Messages gathered to be hashed together, each padded as SHA-256 pads it
/// (to whole blocks of 64 bytes) when it ends.
#[derive(Default)]
pub struct Messages {
    bytes: Vec<u8>,
    /// Each message's first byte in `bytes` and its length in blocks.
    spans: Vec<(usize, usize)>,
    /// Where the message being written starts.
    open: usize,
}

impl Messages {
    /// How many messages have ended.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
        self.open = 0;
    }

    /// Appends to the message being written.
    pub fn push(&mut self, part: &[u8]) {
        self.bytes.extend_from_slice(part);
    }

    /// Ends the message being written: the next `push` begins another.
    pub fn end(&mut self) {
        let len = self.bytes.len() - self.open;
        let padded = (len + 9).div_ceil(64) * 64;
        self.bytes.push(0x80);
        self.bytes.resize(self.open + padded - 8, 0);
        self.bytes
            .extend_from_slice(&(len as u64 * 8).to_be_bytes());
        self.spans.push((self.open, padded / 64));
        self.open = self.bytes.len();
    }

    /// Each ended message's digest, in the order they were written.
    pub fn digests(&self) -> Vec<[u8; 32]> {
        let mut out = vec![[0; 32]; self.spans.len()];
        #[cfg(target_arch = "x86_64")]
        if lanes::usable(&self.bytes) {
            lanes::digests(self, &mut out);
            return out;
        }
        for (digest, &span) in out.iter_mut().zip(&self.spans) {
            *digest = self.one(span);
        }
        out
    }

    /// One message's digest, by sha2.
    fn one(&self, (at, blocks): (usize, usize)) -> [u8; 32] {
        let mut state = H0;
        let (blocks, _) = self.bytes[at..at + blocks * 64].as_chunks::<64>();
        sha2::block_api::compress256(&mut state, blocks);
        let mut digest = [0; 32];
        for (bytes, word) in digest.chunks_exact_mut(4).zip(state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        digest
    }
}

#[cfg(target_arch = "x86_64")]
mod lanes {
    use super::{H0, Messages};
    use std::arch::x86_64::*;

    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// Sixteen lanes cost about what eight messages cost one at a time: a
    /// group of fewer is hashed one at a time.
    const FEWEST: usize = 8;

    /// Whether the CPU has AVX-512 and every byte is within the reach of
    /// the 32-bit offsets the lanes read with.
    pub fn usable(bytes: &[u8]) -> bool {
        bytes.len() <= i32::MAX as usize
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
    }

    /// Messages of the same length in blocks, sixteen at a time.
    pub fn digests(messages: &Messages, out: &mut [[u8; 32]]) {
        let spans = &messages.spans;
        let mut order: Vec<u32> = (0..spans.len() as u32).collect();
        order.sort_unstable_by_key(|&i| spans[i as usize].1);
        for same in order.chunk_by(|&a, &b| spans[a as usize].1 == spans[b as usize].1) {
            let blocks = spans[same[0] as usize].1;
            for group in same.chunks(16) {
                if group.len() < FEWEST {
                    for &i in group {
                        out[i as usize] = messages.one(spans[i as usize]);
                    }
                    continue;
                }
                // A group of fewer than sixteen repeats its last message.
                let offsets: [i32; 16] = std::array::from_fn(|lane| {
                    let i = group[lane.min(group.len() - 1)];
                    spans[i as usize].0 as i32
                });
                // SAFETY: `usable` found AVX-512F and BW; each offset is a
                // message's first byte, with `blocks` blocks of `bytes`
                // from there, all below i32::MAX.
                let state = unsafe { sixteen(&messages.bytes, &offsets, blocks) };
                for (lane, &i) in group.iter().enumerate() {
                    let digest = &mut out[i as usize];
                    for (word, bytes) in state.iter().zip(digest.chunks_exact_mut(4)) {
                        bytes.copy_from_slice(&word[lane].to_be_bytes());
                    }
                }
            }
        }
    }

    /// The states after `blocks` blocks of the sixteen messages starting at
    /// `offsets` in `bytes`: word by word, lane by lane.
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn sixteen(bytes: &[u8], offsets: &[i32; 16], blocks: usize) -> [[u32; 16]; 8] {
        // Big-endian words: each lane's bytes reversed in fours.
        let swap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
        let four = _mm512_set1_epi32(4);
        let mut at = _mm512_setr_epi32(
            offsets[0],
            offsets[1],
            offsets[2],
            offsets[3],
            offsets[4],
            offsets[5],
            offsets[6],
            offsets[7],
            offsets[8],
            offsets[9],
            offsets[10],
            offsets[11],
            offsets[12],
            offsets[13],
            offsets[14],
            offsets[15],
        );
        let mut s: [__m512i; 8] = std::array::from_fn(|i| _mm512_set1_epi32(H0[i] as i32));
        for _ in 0..blocks {
            let mut w = [_mm512_setzero_si512(); 16];
            for word in &mut w {
                // SAFETY: the caller's: every lane reads within its message.
                let read = unsafe { _mm512_i32gather_epi32::<1>(at, bytes.as_ptr().cast()) };
                *word = _mm512_shuffle_epi8(read, swap);
                at = _mm512_add_epi32(at, four);
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = s;
            // The next sixteen words of the schedule, in place.
            macro_rules! schedule {
                ($($i:literal)*) => {$(
                    let w15 = w[($i + 1) & 15];
                    let w2 = w[($i + 14) & 15];
                    let s0 = _mm512_ternarylogic_epi32::<0x96>(
                        _mm512_ror_epi32::<7>(w15),
                        _mm512_ror_epi32::<18>(w15),
                        _mm512_srli_epi32::<3>(w15),
                    );
                    let s1 = _mm512_ternarylogic_epi32::<0x96>(
                        _mm512_ror_epi32::<17>(w2),
                        _mm512_ror_epi32::<19>(w2),
                        _mm512_srli_epi32::<10>(w2),
                    );
                    w[$i] = _mm512_add_epi32(
                        _mm512_add_epi32(w[$i], s0),
                        _mm512_add_epi32(w[($i + 9) & 15], s1),
                    );
                )*};
            }
            // One round; the caller names the working variables in their
            // rotated order rather than moving them.
            macro_rules! round {
                ($a:ident $b:ident $c:ident $d:ident $e:ident $f:ident $g:ident $h:ident $i:literal $j:ident) => {
                    let s1 = _mm512_ternarylogic_epi32::<0x96>(
                        _mm512_ror_epi32::<6>($e),
                        _mm512_ror_epi32::<11>($e),
                        _mm512_ror_epi32::<25>($e),
                    );
                    let ch = _mm512_ternarylogic_epi32::<0xCA>($e, $f, $g);
                    let k = _mm512_set1_epi32(K[$j * 16 + $i] as i32);
                    let t1 = _mm512_add_epi32(
                        _mm512_add_epi32($h, s1),
                        _mm512_add_epi32(ch, _mm512_add_epi32(w[$i], k)),
                    );
                    let s0 = _mm512_ternarylogic_epi32::<0x96>(
                        _mm512_ror_epi32::<2>($a),
                        _mm512_ror_epi32::<13>($a),
                        _mm512_ror_epi32::<22>($a),
                    );
                    let maj = _mm512_ternarylogic_epi32::<0xE8>($a, $b, $c);
                    $d = _mm512_add_epi32($d, t1);
                    $h = _mm512_add_epi32(t1, _mm512_add_epi32(s0, maj));
                };
            }
            for j in 0..4 {
                if j > 0 {
                    schedule!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
                }
                round!(a b c d e f g h 0 j);
                round!(h a b c d e f g 1 j);
                round!(g h a b c d e f 2 j);
                round!(f g h a b c d e 3 j);
                round!(e f g h a b c d 4 j);
                round!(d e f g h a b c 5 j);
                round!(c d e f g h a b 6 j);
                round!(b c d e f g h a 7 j);
                round!(a b c d e f g h 8 j);
                round!(h a b c d e f g 9 j);
                round!(g h a b c d e f 10 j);
                round!(f g h a b c d e 11 j);
                round!(e f g h a b c d 12 j);
                round!(d e f g h a b c 13 j);
                round!(c d e f g h a b 14 j);
                round!(b c d e f g h a 15 j);
            }
            for (word, add) in s.iter_mut().zip([a, b, c, d, e, f, g, h]) {
                *word = _mm512_add_epi32(*word, add);
            }
        }
        s.map(|word| {
            let mut lanes = [0u32; 16];
            // SAFETY: 64 bytes written into an array of 64 bytes.
            unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), word) };
            lanes
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn message(len: usize, seed: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + seed * 31 + len) as u8).collect()
    }

    #[test]
    fn every_length_up_to_five_blocks_hashes_as_sha256_does() {
        // Lengths in a shuffled order, some many times (whole groups of
        // sixteen), some once (hashed one at a time).
        let mut lengths: Vec<usize> = (0..=320).collect();
        lengths.extend(std::iter::repeat_n(100, 40));
        lengths.extend(std::iter::repeat_n(55, 17));
        lengths.extend(std::iter::repeat_n(56, 9));
        lengths.reverse();
        lengths.rotate_left(37);
        let mut messages = Messages::default();
        let inputs: Vec<Vec<u8>> = lengths
            .iter()
            .enumerate()
            .map(|(seed, &len)| message(len, seed))
            .collect();
        for input in &inputs {
            // Written in parts, as rows write theirs.
            let (head, tail) = input.split_at(input.len() / 3);
            messages.push(head);
            messages.push(tail);
            messages.end();
        }
        assert_eq!(messages.len(), inputs.len());
        let digests = messages.digests();
        for (input, digest) in inputs.iter().zip(&digests) {
            assert_eq!(
                hex::encode(digest),
                hex::encode(Sha256::digest(input)),
                "{} bytes",
                input.len()
            );
        }
        // And again after clearing, one at a time.
        messages.clear();
        messages.push(b"abc");
        messages.end();
        assert_eq!(
            hex::encode(messages.digests()[0]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn nothing_to_hash_has_no_digests() {
        assert!(Messages::default().digests().is_empty());
    }
}
