//! CSV records from a byte stream, split 64 bytes at a time: the same
//! records the csv crate reads (RFC 4180 quoting, `""` inside quotes, CR, LF
//! or CRLF ending a record, blank lines skipped), with each record's line.
//!
//! A record is split from bit masks of its quotes, commas and line breaks: a
//! prefix XOR of the quotes marks what lies inside quotes, and the commas and
//! breaks outside are where fields end. That handles the well-formed record,
//! which is nearly every record, several times faster than a byte-by-byte
//! state machine. Anything else (a quote inside an unquoted field, text after
//! a closing quote, a quote left open, a last record with no line break, a
//! record longer than the buffer) is read by `csv_core` itself, from the
//! record's first byte: what the file says is read as the csv crate reads it.

use csv_core::ReadRecordResult;
use std::io::Read;
use std::ops::Range;

/// One record's fields. A well-formed record is its line copied whole, with
/// each field's place in it; a quoted field with `""` in it has its text
/// after the line. Fields are not copied one by one.
#[derive(Clone, Debug, Default)]
pub struct Record {
    bytes: Vec<u8>,
    /// Each field's start and end in `bytes`: 32 bits each, half the bytes
    /// the loader's other thread reads of a record's places.
    fields: Vec<[u32; 2]>,
}

/// The most bytes a record holds: its fields' places are 32 bits.
const RECORD_MAX: usize = u32::MAX as usize;

/// A record longer than `RECORD_MAX` bytes, as an error of the reading.
fn too_long() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "a record longer than 4 GiB (an unclosed quote?)",
    )
}

/// A place in a record; `start..end` within `RECORD_MAX`, as every caller
/// checks.
fn place(start: usize, end: usize) -> [u32; 2] {
    debug_assert!(end <= RECORD_MAX);
    [start as u32, end as u32]
}

fn range([start, end]: [u32; 2]) -> Range<usize> {
    start as usize..end as usize
}

impl Record {
    pub fn with_capacity(bytes: usize, fields: usize) -> Record {
        Record {
            bytes: Vec::with_capacity(bytes),
            fields: Vec::with_capacity(fields),
        }
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.fields.clear();
    }

    /// Add a field after the others; an error if the record would be
    /// longer than 4 GiB.
    pub fn push_field(&mut self, field: &[u8]) -> std::io::Result<()> {
        let start = self.bytes.len();
        if start + field.len() > RECORD_MAX {
            return Err(too_long());
        }
        self.bytes.extend_from_slice(field);
        self.fields.push(place(start, self.bytes.len()));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.fields.get(i).map(|&r| &self.bytes[range(r)])
    }

    /// Where field `i` lies in `bytes()`.
    pub fn range(&self, i: usize) -> Option<Range<usize>> {
        self.fields.get(i).map(|&r| range(r))
    }

    /// Every field's bytes lie within these (with the line's commas and
    /// quotes): checking them checks every field.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.fields.iter().map(|&r| &self.bytes[range(r)])
    }
}

/// Bytes read from the file at a time; also the longest record split here.
const CAPACITY: usize = 1 << 20;
/// Room past the data for a last 64-byte load (its bytes masked off).
const PAD: usize = 64;

pub struct Records<R> {
    input: R,
    /// The unread bytes are `buf[at..len]`; `buf` is `CAPACITY + PAD` long.
    buf: Vec<u8>,
    at: usize,
    len: usize,
    eof: bool,
    /// Line breaks (`\n`) before `buf[at]`.
    newlines: u64,
    /// Whether the first bytes have been read (and a UTF-8 BOM skipped).
    started: bool,
    /// Whether `core` has read anything. csv_core skips a BOM at the start
    /// of the first input it is given, which here can be a record in the
    /// middle of the file: that first input is cut under three bytes.
    core_fed: bool,
    /// The records the fast path leaves, read field by field as csv reads them.
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    /// The text of the record's quoted fields with `""` in them, `""` made
    /// `"`, and which fields they are.
    unescaped: Vec<u8>,
    unescaped_fields: Vec<(usize, Range<usize>)>,
}

/// What the fast path made of the record at `at`.
enum Fast {
    /// The record, whole, with `at` past it.
    Record,
    /// The record goes on past the bytes read so far.
    More,
    /// For `csv_core` to read.
    Other,
}

impl<R: Read> Records<R> {
    pub fn new(input: R) -> Records<R> {
        Records {
            input,
            buf: vec![0; CAPACITY + PAD],
            at: 0,
            len: 0,
            eof: false,
            newlines: 0,
            started: false,
            core_fed: false,
            core: csv_core::Reader::new(),
            out: vec![0; 1024],
            ends: vec![0; 64],
            unescaped: Vec::new(),
            unescaped_fields: Vec::new(),
        }
    }

    /// The next record into `record`, with the line it starts on (1-based);
    /// None at the end of the input.
    pub fn next(&mut self, record: &mut Record) -> std::io::Result<Option<u64>> {
        if !self.started {
            self.started = true;
            // csv skips a UTF-8 byte order mark at the start of the input.
            while self.len < 3 && !self.eof {
                self.fill()?;
            }
            if self.buf[..self.len].starts_with(b"\xef\xbb\xbf") {
                self.at = 3;
            }
        }
        if !self.skip_breaks()? {
            return Ok(None);
        }
        let line = self.newlines + 1;
        loop {
            match self.fast(record) {
                Fast::Record => return Ok(Some(line)),
                // Read on, unless the buffer holds nothing else already.
                Fast::More if !(self.eof || self.at == 0 && self.len == CAPACITY) => {
                    self.fill()?;
                }
                _ => {
                    return Ok(self.slow(record)?.then_some(line));
                }
            }
        }
    }

    /// Past the line breaks before a record, as csv skips blank lines;
    /// false when the input ends first.
    fn skip_breaks(&mut self) -> std::io::Result<bool> {
        loop {
            while self.at < self.len {
                match self.buf[self.at] {
                    b'\n' => self.newlines += 1,
                    b'\r' => {}
                    _ => return Ok(true),
                }
                self.at += 1;
            }
            if self.eof {
                return Ok(false);
            }
            self.fill()?;
        }
    }

    /// Moves the unread bytes to the front and reads more after them, until
    /// some are read or the input ends.
    fn fill(&mut self) -> std::io::Result<()> {
        self.buf.copy_within(self.at..self.len, 0);
        self.len -= self.at;
        self.at = 0;
        while self.len < CAPACITY {
            match self.input.read(&mut self.buf[self.len..CAPACITY]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Splits the record at `at` (a byte that is not a line break) if the
    /// bytes read hold all of it and it is well formed.
    fn fast(&mut self, record: &mut Record) -> Fast {
        record.clear();
        self.unescaped.clear();
        self.unescaped_fields.clear();
        let (start, len) = (self.at, self.len);
        let mut inside_carry = 0u64;
        // Whether the current field had a quote in an earlier block, and the
        // line breaks within quotes so far (both rare: no popcount per field).
        let mut quote_before = false;
        let mut quoted_newlines = 0u64;
        let mut field = start;
        let mut block = start;
        while block < len {
            let m = classify(&self.buf[block..block + 64]);
            let valid = if len - block < 64 {
                (1u64 << (len - block)) - 1
            } else {
                !0
            };
            let q = m.quote & valid;
            let inside = prefix_xor(q) ^ inside_carry;
            inside_carry = ((inside as i64) >> 63) as u64;
            let mut ends = (m.comma | m.newline | m.cr) & !inside & valid;
            while ends != 0 {
                let i = ends.trailing_zeros();
                ends &= ends - 1;
                let end = block + i as usize;
                let below = (1u64 << i) - 1;
                if quote_before || q & below & from(field, block) != 0 {
                    let Some(text) = self.quoted(record.fields.len(), field, end) else {
                        return Fast::Other;
                    };
                    record
                        .fields
                        .push(place(text.start - start, text.end - start));
                } else {
                    record.fields.push(place(field - start, end - start));
                }
                quote_before = false;
                field = end + 1;
                let byte = self.buf[end];
                if byte == b',' {
                    continue;
                }
                // The record ends: CR, LF or CRLF.
                let mut next = end + 1;
                if byte == b'\r' {
                    if next == len && !self.eof {
                        return Fast::More;
                    }
                    if next < len && self.buf[next] == b'\n' {
                        next += 1;
                    }
                }
                let within = m.newline & inside & below;
                if within != 0 {
                    quoted_newlines += u64::from(within.count_ones());
                }
                self.newlines +=
                    quoted_newlines + u64::from(byte == b'\n') + u64::from(next == end + 2);
                self.at = next;
                record.bytes.extend_from_slice(&self.buf[start..end]);
                let after = record.bytes.len();
                record.bytes.extend_from_slice(&self.unescaped);
                for (k, r) in self.unescaped_fields.drain(..) {
                    record.fields[k] = place(after + r.start, after + r.end);
                }
                return Fast::Record;
            }
            quote_before |= q & from(field, block) != 0;
            let within = m.newline & inside & valid;
            if within != 0 {
                quoted_newlines += u64::from(within.count_ones());
            }
            block += 64;
        }
        Fast::More
    }

    /// The text of the quoted field `buf[from..to]` (field `k` of its
    /// record): where it lies in `buf`, or, if it has `""` in it, its text
    /// put in `unescaped` (the place returned is then a placeholder). None
    /// if the field is not well quoted.
    fn quoted(&mut self, k: usize, from: usize, to: usize) -> Option<Range<usize>> {
        let bytes = &self.buf[from..to];
        let n = bytes.len();
        if n < 2 || bytes[0] != b'"' || bytes[n - 1] != b'"' {
            return None;
        }
        let text = &bytes[1..n - 1];
        if memchr::memchr(b'"', text).is_none() {
            return Some(from + 1..to - 1);
        }
        // Every quote within is the first of a pair.
        let begin = self.unescaped.len();
        self.unescaped.resize(begin + text.len(), 0);
        let out = &mut self.unescaped[begin..];
        let (mut i, mut w) = (0, 0);
        while i < text.len() {
            let b = text[i];
            out[w] = b;
            w += 1;
            if b == b'"' {
                if text.get(i + 1) != Some(&b'"') {
                    return None;
                }
                i += 1;
            }
            i += 1;
        }
        self.unescaped.truncate(begin + w);
        self.unescaped_fields.push((k, begin..begin + w));
        Some(from..from)
    }

    /// The record at `at` read by `csv_core`, fed as much input as it takes;
    /// false if the input ended before a record.
    fn slow(&mut self, record: &mut Record) -> std::io::Result<bool> {
        record.clear();
        let (mut outlen, mut endlen) = (0, 0);
        loop {
            if self.at == self.len && !self.eof {
                self.fill()?;
            }
            let mut input = &self.buf[self.at..self.len];
            if !self.core_fed {
                // Under three bytes: too few for csv_core to take for a BOM.
                input = &input[..input.len().min(2)];
                self.core_fed = true;
            }
            let (result, read, wrote, ended) =
                self.core
                    .read_record(input, &mut self.out[outlen..], &mut self.ends[endlen..]);
            self.newlines += memchr::memchr_iter(b'\n', &input[..read]).count() as u64;
            self.at += read;
            outlen += wrote;
            endlen += ended;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record => {
                    if outlen > RECORD_MAX {
                        return Err(too_long());
                    }
                    record.bytes.extend_from_slice(&self.out[..outlen]);
                    let mut from = 0;
                    for &to in &self.ends[..endlen] {
                        record.fields.push(place(from, to));
                        from = to;
                    }
                    return Ok(true);
                }
                ReadRecordResult::End => return Ok(false),
            }
        }
    }
}

/// Where a 64-byte block's quotes, commas, LFs and CRs are: bit i for byte i.
struct Masks {
    quote: u64,
    comma: u64,
    newline: u64,
    cr: u64,
}

#[cfg(target_arch = "x86_64")]
fn classify(block: &[u8]) -> Masks {
    use std::arch::x86_64::*;
    assert!(block.len() >= 64);
    let mut m = Masks {
        quote: 0,
        comma: 0,
        newline: 0,
        cr: 0,
    };
    // SAFETY: SSE2 is part of x86_64; the four loads read block[0..64],
    // which the assert above keeps in bounds.
    unsafe {
        let (q, c, n, r) = (
            _mm_set1_epi8(b'"' as i8),
            _mm_set1_epi8(b',' as i8),
            _mm_set1_epi8(b'\n' as i8),
            _mm_set1_epi8(b'\r' as i8),
        );
        for k in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
            let bits = |x| u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, x)) as u16) << (16 * k);
            m.quote |= bits(q);
            m.comma |= bits(c);
            m.newline |= bits(n);
            m.cr |= bits(r);
        }
    }
    m
}

#[cfg(not(target_arch = "x86_64"))]
fn classify(block: &[u8]) -> Masks {
    let mut m = Masks {
        quote: 0,
        comma: 0,
        newline: 0,
        cr: 0,
    };
    for (i, &b) in block[..64].iter().enumerate() {
        let bit = 1u64 << i;
        match b {
            b'"' => m.quote |= bit,
            b',' => m.comma |= bit,
            b'\n' => m.newline |= bit,
            b'\r' => m.cr |= bit,
            _ => {}
        }
    }
    m
}

/// The bits of a block from a field's first byte on (none if the field
/// starts after the block, all if before).
fn from(field: usize, block: usize) -> u64 {
    match field.checked_sub(block) {
        Some(k) => (!0u64).checked_shl(k as u32).unwrap_or(0),
        None => !0,
    }
}

/// Bit i set if an odd number of bits up to and including i are: set from an
/// opening quote up to (not including) its closing one.
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input handed over a few bytes at a time, as a pipe or a gzip stream
    /// may: records then straddle every kind of boundary.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Each record with its fields and line, as read here.
    fn ours(data: &[u8], step: usize) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut records = Records::new(Trickle { data, step });
        let mut record = Record::default();
        let mut all = Vec::new();
        while let Some(line) = records.next(&mut record).unwrap() {
            all.push((line, record.iter().map(<[u8]>::to_vec).collect()));
        }
        all
    }

    /// The same from the csv crate, each record's line counted as the
    /// newlines before its first byte (past the breaks csv skips).
    fn theirs(data: &[u8]) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(data);
        let mut record = csv::ByteRecord::new();
        let mut all = Vec::new();
        while reader.read_byte_record(&mut record).unwrap() {
            let mut at = record.position().unwrap().byte() as usize;
            while at < data.len() && (data[at] == b'\n' || data[at] == b'\r') {
                at += 1;
            }
            let line = 1 + data[..at].iter().filter(|&&b| b == b'\n').count() as u64;
            all.push((line, record.iter().map(<[u8]>::to_vec).collect()));
        }
        all
    }

    #[test]
    fn well_formed_records_split_as_csv_splits_them() {
        let data = b"a,b,\"c,\"\"d\"\"\"\r\n\r\n\"\",x\n\"multi\nline\",2\r3,4\n,\n";
        let got = ours(data, 1 << 20);
        assert_eq!(got, theirs(data));
        let fields = |r: &(u64, Vec<Vec<u8>>)| {
            r.1.iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(&got[0]), ["a", "b", "c,\"d\""]);
        assert_eq!(
            (got[1].0, fields(&got[1])),
            (3, vec!["".to_string(), "x".into()])
        );
        assert_eq!(
            (got[2].0, fields(&got[2])),
            (4, vec!["multi\nline".to_string(), "2".into()])
        );
        assert_eq!(
            (got[3].0, fields(&got[3])),
            (5, vec!["3".to_string(), "4".into()])
        );
        assert_eq!(fields(&got[4]), ["", ""]);
    }

    #[test]
    fn malformed_records_read_as_csv_reads_them() {
        for data in [
            &b"ab\"c,d\"e,f\nnext,row\n"[..],
            b"\"ab\"cd,e\n\"x\"\"\ny\n",
            b"\"a\"b\"c\",1\n2\n",
            b"\"open quote,\nand more\n",
            b"no,final,break",
            b"\"\"\"\n\"\n",
            b"\xef\xbb\xbfBOM,kept\n",
            b"\r",
            b"",
        ] {
            for step in [1, 2, 3, 7, 64, 1 << 20] {
                assert_eq!(
                    ours(data, step),
                    theirs(data),
                    "{:?} step {step}",
                    String::from_utf8_lossy(data)
                );
            }
        }
    }

    #[test]
    fn a_record_longer_than_the_buffer_is_read_whole() {
        let long = "x".repeat(CAPACITY + 1000);
        let data = format!("a,\"{long}\",b\nc\n");
        let got = ours(data.as_bytes(), 1 << 16);
        assert_eq!(got, theirs(data.as_bytes()));
        assert_eq!(got[0].1[1].len(), CAPACITY + 1000);
        assert_eq!(got[1], (2, vec![b"c".to_vec()]));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Any bytes from CSV's alphabet, handed over in any steps: the
        /// records and lines csv reads.
        #[test]
        fn any_input_reads_as_csv_reads_it(
            data in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'b', b',', b'"', b'\n', b'\r', b' ']),
                0..400,
            ),
            step in 1usize..100,
        ) {
            proptest::prop_assert_eq!(ours(&data, step), theirs(&data));
        }
    }
}
