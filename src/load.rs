//! Load one FOCUS CSV into charges, streaming row by row. Every bad header,
//! row and cell becomes a located problem; loading goes on to find them all.

use crate::charge::{Attribution, Charge, Dimensions, Extra, Interner, State, Tags};
use crate::focus::{self, Field};
use crate::money;
use crate::problem::{Problem, shown};
use crate::sha_batch::Messages;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Cells longer than this are refused: no FOCUS value is that long, and a
/// runaway quote would otherwise swallow the rest of the file silently.
pub const MAX_CELL: usize = 64 * 1024;

pub struct Loaded {
    pub charges: Vec<Charge>,
    pub problems: Vec<Problem>,
    pub rows: u64,
}

/// The header of a file: each column's name and meaning.
struct Header {
    names: Vec<String>,
    /// Names in lower case, as the content hash reads them.
    lower: Vec<String>,
    fields: Vec<Option<Field>>,
    /// Each field's column, looked up for every cell of every row.
    columns: [Option<usize>; Field::COUNT],
    /// Column indexes in name order, so that column order does not change ids.
    sorted: Vec<usize>,
}

impl Header {
    fn column(&self, f: Field) -> Option<usize> {
        self.columns[f as usize]
    }
}

/// Where each good row goes: `load_file` keeps the charges; `ocb import`
/// sums them by month and writes each record on.
pub trait RowSink {
    /// The header, once, before any row (its BOM already removed).
    fn header(&mut self, _names: &csv::ByteRecord) {}
    fn row(&mut self, charge: Charge, record: &crate::records::Record);
    /// Whether the sink keeps the charges, with their ids and text columns.
    /// A sink that only checks and sums them (`ocb import`) is spared the
    /// hashing and interning those take: a third of an import's time.
    fn keeps_charges(&self) -> bool {
        true
    }
    /// How many charges the sink holds (a sink that keeps them).
    fn held(&self) -> usize {
        0
    }
    /// Each charge held from the `from`th on, in the order received.
    fn visit(&mut self, _from: usize, _f: &mut dyn FnMut(&mut Charge)) {}
}

impl RowSink for Vec<Charge> {
    fn row(&mut self, charge: Charge, _record: &crate::records::Record) {
        self.push(charge);
    }
    fn held(&self) -> usize {
        self.len()
    }
    fn visit(&mut self, from: usize, f: &mut dyn FnMut(&mut Charge)) {
        self[from..].iter_mut().for_each(f);
    }
}

/// A file's charges in blocks of `BLOCK` rows. A month's files are joined
/// block by block, each freed once moved (`memory::configure` has blocks
/// this size mapped apart), so a month's charges are never held twice.
#[derive(Default)]
pub struct Blocks(pub Vec<Vec<Charge>>);

/// 16,384 charges, about 4.5 MB.
const BLOCK: usize = 1 << 14;

impl Blocks {
    pub fn len(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RowSink for Blocks {
    fn held(&self) -> usize {
        self.len()
    }
    fn visit(&mut self, from: usize, f: &mut dyn FnMut(&mut Charge)) {
        // Whole blocks skipped: each batch's rows are visited as it is read.
        let mut skip = from;
        for block in &mut self.0 {
            if skip >= block.len() {
                skip -= block.len();
                continue;
            }
            block[skip..].iter_mut().for_each(&mut *f);
            skip = 0;
        }
    }
    fn row(&mut self, charge: Charge, _record: &crate::records::Record) {
        match self.0.last_mut() {
            Some(block) if block.len() < BLOCK => block.push(charge),
            _ => {
                let mut block = Vec::with_capacity(BLOCK);
                block.push(charge);
                self.0.push(block);
            }
        }
    }
}

/// A file's charges written straight into their place in the month's
/// vector, a region with a slot for each line of the file (`row_bound`):
/// the month's files are then joined without moving a charge. Rows beyond
/// the region (a file that grew after it was measured) are kept aside.
pub struct Slots<'a> {
    slots: &'a mut [std::mem::MaybeUninit<Charge>],
    /// The first `filled` slots hold a charge.
    filled: usize,
    pub overflow: Vec<Charge>,
}

impl<'a> Slots<'a> {
    pub fn new(slots: &'a mut [std::mem::MaybeUninit<Charge>]) -> Slots<'a> {
        Slots {
            slots,
            filled: 0,
            overflow: Vec::new(),
        }
    }

    /// How many slots, from the first, hold a charge.
    pub fn filled(&self) -> usize {
        self.filled
    }
}

impl RowSink for Slots<'_> {
    fn row(&mut self, charge: Charge, _record: &crate::records::Record) {
        match self.slots.get_mut(self.filled) {
            Some(slot) => {
                slot.write(charge);
                self.filled += 1;
            }
            None => self.overflow.push(charge),
        }
    }
    fn held(&self) -> usize {
        self.filled + self.overflow.len()
    }
    fn visit(&mut self, from: usize, f: &mut dyn FnMut(&mut Charge)) {
        for slot in &mut self.slots[from.min(self.filled)..self.filled] {
            // SAFETY: the first `filled` slots were written by `row`.
            f(unsafe { slot.assume_init_mut() });
        }
        let skip = from.saturating_sub(self.filled);
        self.overflow.iter_mut().skip(skip).for_each(f);
    }
}

/// At most how many rows a plain `.csv` file has: its lines, less the
/// header (a record ends at a line break, or at the end of the file). None
/// for a compressed or Parquet file, or one that cannot be read (loading it
/// says why).
pub fn row_bound(path: &Path) -> Option<usize> {
    use crate::ingest::format::Format;
    if Format::of(path) != Some(Format::Csv) {
        return None;
    }
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut lines, mut last) = (0usize, b'\n');
    loop {
        match std::io::Read::read(&mut file, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                lines += memchr::memchr_iter(b'\n', &buf[..n]).count();
                last = buf[n - 1];
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    if last != b'\n' {
        lines += 1;
    }
    Some(lines.saturating_sub(1))
}

pub fn load_file(
    path: &Path,
    shown_as: &str,
    source: &str,
    currency: &str,
    strings: &mut Interner,
) -> Loaded {
    let mut charges = Vec::new();
    let (problems, rows) = read_file(
        path,
        shown_as,
        source,
        currency,
        strings,
        &mut charges,
        &indicatif::ProgressBar::hidden(),
    );
    Loaded {
        charges,
        problems,
        rows,
    }
}

/// Read a `.csv`, `.csv.gz` or `.parquet` file row by row into `sink`;
/// returns every problem found and the number of data rows. The file's
/// bytes (compressed, as on disk) count into `progress` as they are read.
pub fn read_file(
    path: &Path,
    shown_as: &str,
    source: &str,
    currency: &str,
    strings: &mut Interner,
    sink: &mut dyn RowSink,
    progress: &indicatif::ProgressBar,
) -> (Vec<Problem>, u64) {
    use crate::ingest::format::Format;
    let from = sink.held();
    let mut problems = Vec::new();
    let format = Format::of(path);
    let rows = match format {
        Some(Format::Parquet) => {
            let rows = crate::ingest::parquet::read(
                path,
                shown_as,
                source,
                currency,
                strings,
                sink,
                &mut problems,
            );
            progress.inc(crate::progress::size(path));
            rows
        }
        _ => {
            match crate::ingest::format::open_text(path, format == Some(Format::CsvGz), progress) {
                Ok(file) => read_text(
                    file,
                    shown_as,
                    source,
                    currency,
                    strings,
                    sink,
                    &mut problems,
                ),
                Err(e) => {
                    problems.push(Problem::file(shown_as, format!("cannot read: {e}")));
                    0
                }
            }
        }
    };
    if sink.keeps_charges() {
        number_repeats(sink, from, source);
    }
    (problems, rows)
}

/// Identical rows of a file get ids from their content and how many came
/// before them. Rows are read with the first occurrence's id; the few that
/// repeat one (found by sorting 64 bits a row, not by a map of every row)
/// are numbered here, in file order.
fn number_repeats(sink: &mut dyn RowSink, from: usize, source: &str) {
    let prefix = |c: &Charge| u64::from_le_bytes(c.content[..8].try_into().unwrap_or_default());
    let mut prefixes = Vec::with_capacity(sink.held() - from);
    sink.visit(from, &mut |c| prefixes.push(prefix(c)));
    // Sorted on this core: the month's other files load on the others.
    prefixes.sort_unstable();
    let repeated = crate::charge::repeated_in_sorted(&prefixes);
    drop(prefixes);
    if repeated.is_empty() {
        return;
    }
    let mut before: crate::charge::FastMap<[u8; 16], u32> = Default::default();
    sink.visit(from, &mut |c| {
        if repeated.contains(&prefix(c)) {
            let n = before.entry(c.content).or_insert(0);
            if *n > 0 {
                c.id = id(source, &c.content, *n);
            }
            *n += 1;
        }
    });
}

/// The column names `read_file` hands its sink for this file, from the
/// header line (or the Parquet schema) alone; None when they cannot be read
/// (reading the whole file then says why).
pub fn header_names(path: &Path) -> Option<csv::ByteRecord> {
    use crate::ingest::format::Format;
    let format = Format::of(path);
    if format == Some(Format::Parquet) {
        return crate::ingest::parquet::column_names(path);
    }
    let file = crate::ingest::format::open_text(
        path,
        format == Some(Format::CsvGz),
        &indicatif::ProgressBar::hidden(),
    )
    .ok()?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file);
    let mut record = csv::ByteRecord::new();
    if !reader.read_byte_record(&mut record).ok()? {
        return None;
    }
    let header = read_header(&record, "", &mut Vec::new())?;
    Some(header.names.iter().map(|n| n.as_bytes()).collect())
}

/// Records read ahead of the row checks, with their line numbers.
const BATCH: usize = 4096;

/// Room for a row's bytes in a new record: a FOCUS row is a few hundred
/// (a longer one grows its record once). Records are zeroed when made, and
/// a dozen batches of them are alive while a month loads.
const ROW_BYTES: usize = 512;

/// What the reading thread hands the row checks, in file order.
enum Read {
    Header(csv::ByteRecord),
    Records(Vec<(u64, crate::records::Record)>),
    /// The end of the file, or where it could not be read further.
    End(Option<std::io::Error>),
}

fn read_text(
    file: Box<dyn std::io::Read + Send>,
    shown_as: &str,
    source: &str,
    currency: &str,
    strings: &mut Interner,
    sink: &mut dyn RowSink,
    problems: &mut Vec<Problem>,
) -> u64 {
    // Decompressing, splitting records and counting lines run on their own
    // thread, a few batches ahead of the row checks here: a month imported
    // as one file still loads on two cores. Rows are checked in file order.
    // Two batches queued keep both busy; each more holds some 3 MB.
    let (send, batches) = std::sync::mpsc::sync_channel::<Read>(2);
    let (give_back, spare) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(move || read_records(file, &send, &spare));
        // Moved in: dropped when this returns, even early, so that a reader
        // waiting to send stops before the scope waits for it.
        let batches = batches;
        let table = match batches.recv() {
            Ok(Read::Header(record)) => Table::new(&record, shown_as, source, currency, strings),
            Ok(Read::End(Some(e))) => Err(vec![read_problem(shown_as, &e, 1)]),
            _ => Err(vec![Problem::file(
                shown_as,
                "empty file: expected a header line naming at least BillingPeriodStart and BilledCost",
            )]),
        };
        let mut table = match table {
            Ok(t) => t,
            Err(mut ps) => {
                problems.append(&mut ps);
                return 0;
            }
        };
        table.full = sink.keeps_charges();
        sink.header(&table.names_record());
        let mut rows = 0;
        let mut last_line = 1;
        while let Ok(read) = batches.recv() {
            match read {
                Read::Records(batch) => {
                    table.describing_keys(&batch);
                    let from = sink.held();
                    for (i, (line, record)) in batch.iter().enumerate() {
                        table.ahead(i);
                        last_line = *line;
                        rows += 1;
                        match table.row(*line, record, strings) {
                            Ok(c) => sink.row(c, record),
                            Err(mut ps) => problems.append(&mut ps),
                        }
                    }
                    table.identify(sink, from);
                    // The reader fills it again; gone when it has finished.
                    let _ = give_back.send(batch);
                }
                Read::End(Some(e)) => {
                    problems.push(read_problem(shown_as, &e, last_line + 1));
                    break;
                }
                Read::End(None) | Read::Header(_) => break,
            }
        }
        rows
    })
}

/// The reading thread: the header, then batches of records with their
/// lines, then the end. Stops when the row checks stop listening.
fn read_records(
    file: Box<dyn std::io::Read + Send>,
    send: &std::sync::mpsc::SyncSender<Read>,
    spare: &std::sync::mpsc::Receiver<Vec<(u64, crate::records::Record)>>,
) {
    let mut reader = crate::records::Records::new(file);
    let mut header = crate::records::Record::default();
    let first = reader.next(&mut header);
    let fields = header.len();
    match first {
        Ok(Some(_)) => {
            if send.send(Read::Header(header.iter().collect())).is_err() {
                return;
            }
        }
        Ok(None) => {
            let _ = send.send(Read::End(None));
            return;
        }
        Err(e) => {
            let _ = send.send(Read::End(Some(e)));
            return;
        }
    }
    let mut batch: Vec<(u64, crate::records::Record)> = Vec::with_capacity(BATCH);
    let mut n = 0;
    // New records sized for a typical row: grown from nothing, each would
    // be reallocated a dozen times over its first row.
    loop {
        if n == batch.len() {
            batch.push((0, crate::records::Record::with_capacity(ROW_BYTES, fields)));
        }
        let (line, record) = &mut batch[n];
        let end = match reader.next(record) {
            Ok(Some(at)) => {
                *line = at;
                n += 1;
                None
            }
            Ok(None) => Some(None),
            Err(e) => Some(Some(e)),
        };
        if n == BATCH || end.is_some() {
            batch.truncate(n);
            if n > 0 && send.send(Read::Records(batch)).is_err() {
                return;
            }
            if let Some(end) = end {
                let _ = send.send(Read::End(end));
                return;
            }
            // A batch the row checks are done with, its records reused.
            batch = spare
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BATCH));
            n = 0;
        }
    }
}

/// One file's header and what its rows share: the state that turns each
/// record into a charge (or into located problems).
pub struct Table {
    header: Header,
    shown: String,
    file_name: Arc<str>,
    source: Arc<str>,
    currency: String,
    repeats: Repeats,
    /// Charges whole (ids, text columns, tags), or only what the checks and
    /// sums read (amounts, dates, currency): see `RowSink::keeps_charges`.
    pub full: bool,
    empty: Arc<str>,
    /// Every row's attribution until `attribute` runs.
    unattributed: Arc<Attribution>,
    /// The dimensions of a row whose texts are not kept (`full` false).
    undescribed: Arc<Dimensions>,
    /// The allocation a row's cells are listed in, kept empty between rows
    /// (a million rows: a million allocations otherwise).
    cells: Vec<&'static str>,
}

/// What a file's rows repeat: dimensions (by their texts) and the cells of
/// the columns ocb gives no meaning to.
#[derive(Default)]
struct Repeats {
    /// By `describing_key`; a table whose entry for a coming row can be
    /// asked for ahead (`Table::ahead`).
    described: crate::addressed::TextMap<Arc<Dimensions>>,
    /// The key of the row at hand (kept: one allocation per file).
    key: Vec<u8>,
    /// The describing keys of the batch at hand, made ahead of its rows
    /// (`Table::describing_hashes`): all the keys' bytes, and each key's
    /// place in them and hash, in the batch's order.
    batch_keys: Vec<u8>,
    batch_spans: Vec<(u32, u32, u64)>,
    /// The batch record about to be read (set by `Table::ahead`).
    next: Option<usize>,
    /// The bytes each kept row of the batch at hand has its content hash
    /// of, hashed together once the batch is read (`Table::identify`).
    contents: crate::sha_batch::Messages,
    /// Then the bytes of their ids.
    ids: crate::sha_batch::Messages,
    /// Rows not found in `described`, and whether it is still worth
    /// keeping: a file whose rows rarely repeat (a column unique to each
    /// row) would hold a copy of every row's texts for nothing.
    rows: usize,
    misses: usize,
    unrepeated: bool,
    extras: Extras,
    /// The currency of the row before: most files have one.
    currency: Option<Arc<str>>,
}

/// The cells of a file's columns ocb gives no meaning to: each column's
/// values shared while they repeat, and rows whose cells are all alike
/// sharing one `Extra`. A column that differs on most rows (a cost in
/// another currency) is not remembered; nor are rows, once most are new.
#[derive(Default)]
struct Extras {
    /// The columns, and their names as the rows share them.
    columns: Vec<usize>,
    names: Arc<[Arc<str>]>,
    values: Vec<Values>,
    rows: Memo<Vec<usize>, Arc<Extra>>,
    /// The addresses of the row at hand's values (kept: one allocation).
    key: Vec<usize>,
}

impl Extras {
    fn new(header: &Header, strings: &mut Interner) -> Extras {
        let columns: Vec<usize> = (0..header.fields.len())
            .filter(|&i| header.fields[i].is_none())
            .collect();
        Extras {
            names: columns
                .iter()
                .map(|&i| strings.get(&header.names[i]))
                .collect(),
            values: columns.iter().map(|_| Values::default()).collect(),
            columns,
            rows: Memo::default(),
            key: Vec::new(),
        }
    }

    /// The row's cells, or None when the file has no such columns.
    fn row(&mut self, cells: &[&str]) -> Option<Arc<Extra>> {
        if self.columns.is_empty() {
            return None;
        }
        if !self.rows.off {
            // The addresses of the values remembered (a value not yet seen
            // leaves the key short: no row has it).
            self.key.clear();
            for (v, &i) in self.values.iter().zip(&self.columns) {
                match v.memo.peek(cells[i]) {
                    Some(value) => self.key.push(value.as_ptr() as usize),
                    None => break,
                }
            }
            if let Some(e) = self.rows.get(self.key.as_slice()) {
                return Some(e.clone());
            }
        }
        let values = self.values.iter_mut().zip(&self.columns);
        let extra = Arc::new(Extra {
            names: self.names.clone(),
            values: values.map(|(v, &i)| v.get(cells[i])).collect(),
        });
        // Keyed by the addresses of its own values, held (by the memo's
        // `Extra`) as long as the key is.
        let key = extra.values.iter().map(|v| v.as_ptr() as usize).collect();
        self.rows.insert(key, extra.clone());
        Some(extra)
    }
}

/// One column's values, shared while they repeat.
#[derive(Default)]
struct Values {
    memo: Memo<Box<str>, Arc<str>>,
}

impl Values {
    fn get(&mut self, cell: &str) -> Arc<str> {
        if let Some(v) = self.memo.get(cell) {
            return v.clone();
        }
        let v: Arc<str> = Arc::from(cell);
        self.memo.insert(cell.into(), v.clone());
        v
    }
}

/// A map that stops remembering (and frees what it held) once most
/// lookups find nothing: rows that each have their own value.
struct Memo<K, V> {
    map: crate::charge::FastMap<K, V>,
    looked: usize,
    missed: usize,
    off: bool,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            map: Default::default(),
            looked: 0,
            missed: 0,
            off: false,
        }
    }
}

impl<K: std::hash::Hash + Eq, V> Memo<K, V> {
    fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        if self.off {
            return None;
        }
        self.looked += 1;
        let found = self.map.get(key);
        if found.is_none() {
            self.missed += 1;
        }
        found
    }

    /// What is remembered for `key`, without counting a lookup.
    fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.map.get(key)
    }

    /// Remember `value` after a miss, unless most lookups have missed.
    fn insert(&mut self, key: K, value: V) {
        if self.off {
            return;
        }
        if crate::charge::mostly_new(self.missed, self.looked) {
            *self = Memo {
                off: true,
                ..Memo::default()
            };
        } else {
            self.map.insert(key, value);
        }
    }
}

impl Repeats {
    /// The row at hand (`key`) was not found: remember its dimensions,
    /// unless most rows so far were new.
    fn missed(&mut self, hash: u64, d: Arc<Dimensions>) {
        self.misses += 1;
        if crate::charge::mostly_new(self.misses, self.rows) {
            self.unrepeated = true;
            self.described = Default::default();
        }
        if !self.unrepeated {
            self.described.insert(hash, &self.key, d);
        }
    }
}

/// A row's describing texts as one key, each with its length.
fn describing_key<'t>(key: &mut Vec<u8>, texts: impl Iterator<Item = &'t [u8]>) {
    for t in texts {
        key.extend_from_slice(&(t.len() as u32).to_le_bytes());
        key.extend_from_slice(t);
    }
}

/// How many records ahead a row's dimensions are asked for: the slot at
/// twice this, the key's bytes at this.
const AHEAD: usize = 8;

/// The text columns a `Dimensions` holds.
const DESCRIBING: [Field; 10] = [
    Field::ServiceName,
    Field::ServiceCategory,
    Field::ResourceId,
    Field::ResourceName,
    Field::ChargeCategory,
    Field::ChargeClass,
    Field::ChargeDescription,
    Field::ConsumedUnit,
    Field::SubAccountId,
    Field::BillingAccountId,
];

impl Table {
    pub fn new(
        names: &csv::ByteRecord,
        shown_as: &str,
        source: &str,
        currency: &str,
        strings: &mut Interner,
    ) -> Result<Table, Vec<Problem>> {
        let mut problems = Vec::new();
        match read_header(names, shown_as, &mut problems) {
            Some(header) => Ok(Table {
                repeats: Repeats {
                    extras: Extras::new(&header, strings),
                    ..Repeats::default()
                },
                header,
                shown: shown_as.to_string(),
                file_name: Arc::from(shown_as),
                source: strings.get(source),
                currency: currency.to_string(),
                full: true,
                empty: strings.get(""),
                unattributed: Arc::default(),
                undescribed: Arc::default(),
                cells: Vec::new(),
            }),
            None => Err(problems),
        }
    }

    /// The column a field is read from (the first, where old and new names both appear).
    pub fn column(&self, f: Field) -> Option<usize> {
        self.header.column(f)
    }

    /// The describing keys of a batch's records and their hashes, as `row`
    /// would make them (none when rows are not kept or rarely repeat):
    /// `ahead` asks for their entries a few rows before each is read, and
    /// `row` uses them. A record `row` rejects has its key made in vain.
    fn describing_keys(&mut self, batch: &[(u64, crate::records::Record)]) {
        let repeats = &mut self.repeats;
        repeats.batch_keys.clear();
        repeats.batch_spans.clear();
        repeats.next = None;
        if !self.full || repeats.unrepeated {
            return;
        }
        for (_, record) in batch {
            // As `RowCtx::charge` reads them: null cells are empty, the
            // others trimmed. A cell that starts and ends with a visible
            // ASCII character is itself (`focus::trim`), taken as bytes: a
            // row with a cell that is not UTF-8 is refused before its key
            // is read.
            let text = |f: &Field| -> &[u8] {
                let Some(cell) = self.header.column(*f).and_then(|i| record.get(i)) else {
                    return b"";
                };
                match cell {
                    [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => {
                        if cell.eq_ignore_ascii_case(b"null") {
                            b""
                        } else {
                            cell
                        }
                    }
                    [one] if one.is_ascii_graphic() => cell,
                    _ => std::str::from_utf8(cell)
                        .ok()
                        .filter(|c| !focus::is_null(c))
                        .map(focus::trim)
                        .unwrap_or("")
                        .as_bytes(),
                }
            };
            let start = repeats.batch_keys.len();
            describing_key(&mut repeats.batch_keys, DESCRIBING.iter().map(text));
            let key = &repeats.batch_keys[start..];
            let (Ok(at), Ok(len)) = (u32::try_from(start), u32::try_from(key.len())) else {
                // Past 4 GB in one batch: rows make their own keys.
                repeats.batch_keys.clear();
                repeats.batch_spans.clear();
                return;
            };
            let hash = repeats.described.hash(key);
            repeats.batch_spans.push((at, len, hash));
        }
    }

    /// Before the `i`th record of a batch is read: ask for the slot of a
    /// row further on and for the key bytes of a nearer one.
    fn ahead(&mut self, i: usize) {
        let repeats = &mut self.repeats;
        let spans = &repeats.batch_spans;
        if let Some(&(_, _, h)) = spans.get(i + 2 * AHEAD) {
            repeats.described.prefetch_slot(h);
        }
        if let Some(&(_, _, h)) = spans.get(i + AHEAD) {
            repeats.described.prefetch_key(h);
            // The dimensions the row will share: their count is written.
            if let Some(d) = repeats.described.probable(h) {
                crate::memory::prefetch_arc(d);
            }
        }
        repeats.next = Some(i);
    }

    /// Gives the rows the sink received from its `from`th on (the batch
    /// just read) their content hashes and ids, hashed together: the
    /// hashes of a batch take a third of the time they take one by one
    /// (`sha_batch`). Each is its first occurrence's id; a repeat is
    /// numbered once the file is read (`number_repeats`).
    pub fn identify(&mut self, sink: &mut dyn RowSink, from: usize) {
        let repeats = &mut self.repeats;
        if repeats.contents.is_empty() {
            return;
        }
        let contents: Vec<[u8; 16]> = repeats
            .contents
            .digests()
            .iter()
            .map(|d| std::array::from_fn(|i| d[i]))
            .collect();
        repeats.contents.clear();
        repeats.ids.clear();
        for content in &contents {
            id_message(&self.source, content, 0, &mut repeats.ids);
        }
        let ids = repeats.ids.digests();
        let mut hashed = contents.iter().zip(&ids);
        sink.visit(from, &mut |c| {
            if let Some((content, id)) = hashed.next() {
                c.content = *content;
                c.id = id_text(id);
            }
        });
        debug_assert!(hashed.next().is_none(), "a row of the batch was not kept");
    }

    /// The column names as read (trimmed, without a byte order mark).
    pub fn names_record(&self) -> csv::ByteRecord {
        self.header.names.iter().map(|n| n.as_bytes()).collect()
    }

    /// One record (the row at `line`) as a charge, or every reason it is not one.
    pub fn row(
        &mut self,
        line: u64,
        record: &crate::records::Record,
        strings: &mut Interner,
    ) -> Result<Charge, Vec<Problem>> {
        let row = RowCtx {
            file: &self.shown,
            line,
            header: &self.header,
            empty: &self.empty,
            unattributed: &self.unattributed,
            undescribed: &self.undescribed,
        };
        let mut cells = recycle(std::mem::take(&mut self.cells));
        row.cells(record, &mut cells)?;
        let strings = match self.full {
            true => Some(strings),
            false => None,
        };
        let charge = row.charge(
            &cells,
            &self.file_name,
            &self.source,
            &self.currency,
            strings,
            &mut self.repeats,
        );
        self.cells = recycle(cells);
        charge
    }
}

/// An empty vector of borrowed texts, its allocation kept, for texts of
/// another lifetime (collected in place: no allocation, nothing copied).
fn recycle<'b>(mut cells: Vec<&str>) -> Vec<&'b str> {
    cells.clear();
    cells.into_iter().map(|_| "").collect()
}

/// A read error (a corrupt or truncated gzip stream, a disk failing) is
/// placed at the row being read when it broke.
fn read_problem(file: &str, e: &std::io::Error, line: u64) -> Problem {
    Problem::at(
        file,
        line,
        format!("the file breaks off here: {e} (a truncated or corrupt compressed file?)"),
    )
}

fn read_header(
    record: &csv::ByteRecord,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Option<Header> {
    let before = problems.len();
    let mut names = Vec::new();
    for (i, raw) in record.iter().enumerate() {
        // A UTF-8 byte order mark is common in exports from spreadsheet tools.
        let raw = if i == 0 {
            raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw)
        } else {
            raw
        };
        match std::str::from_utf8(raw) {
            Ok(s) => names.push(s.trim().to_string()),
            Err(_) => {
                problems.push(Problem::at(
                    file,
                    1,
                    format!("header column {} is not valid UTF-8", i + 1),
                ));
                names.push(String::new());
            }
        }
    }
    let mut lower: HashMap<String, usize> = HashMap::new();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            problems.push(Problem::at(
                file,
                1,
                format!("header column {} has no name", i + 1),
            ));
        } else if let Some(first) = lower.insert(n.to_ascii_lowercase(), i) {
            problems.push(Problem::cell(
                file,
                1,
                n,
                format!(
                    "duplicate column name (also column {}): each column must appear once",
                    first + 1
                ),
            ));
        }
    }
    let fields: Vec<Option<Field>> = names.iter().map(|n| focus::field(n)).collect();
    for (required, name) in [
        (Field::BillingPeriodStart, "BillingPeriodStart"),
        (Field::BilledCost, "BilledCost"),
    ] {
        if !fields.contains(&Some(required)) {
            let found = names
                .iter()
                .take(8)
                .map(|n| format!("`{}`", n.chars().take(40).collect::<String>()))
                .collect::<Vec<_>>()
                .join(", ");
            problems.push(Problem::at(file, 1, format!("missing required column `{name}` in the header (found {found}); is the header line missing?")));
        }
    }
    if problems.len() > before {
        return None;
    }
    let mut sorted: Vec<usize> = (0..names.len()).collect();
    sorted.sort_by_key(|&i| names[i].to_ascii_lowercase());
    let mut columns = [None; Field::COUNT];
    for (i, f) in fields.iter().enumerate() {
        // Where an old and a new name both appear (ChargeType, ChargeCategory), the first wins.
        if let Some(f) = f {
            columns[*f as usize].get_or_insert(i);
        }
    }
    Some(Header {
        lower: names.iter().map(|n| n.to_ascii_lowercase()).collect(),
        names,
        fields,
        columns,
        sorted,
    })
}

struct RowCtx<'a> {
    file: &'a str,
    line: u64,
    header: &'a Header,
    /// The text of columns a sink that does not keep charges never reads.
    empty: &'a Arc<str>,
    unattributed: &'a Arc<Attribution>,
    undescribed: &'a Arc<Dimensions>,
}

impl RowCtx<'_> {
    fn problem(&self, col: usize, message: impl Into<String>) -> Problem {
        Problem::cell(self.file, self.line, &self.header.names[col], message)
    }

    /// The row's cells as text (in `cells`, empty), or every reason they
    /// cannot be read.
    fn cells<'r>(
        &self,
        record: &'r crate::records::Record,
        cells: &mut Vec<&'r str>,
    ) -> Result<(), Vec<Problem>> {
        let want = self.header.names.len();
        if record.len() != want {
            return Err(vec![Problem::at(
                self.file,
                self.line,
                format!("row has {} fields; the header has {want}", record.len()),
            )]);
        }
        if Self::clean_cells(record, cells) {
            return Ok(());
        }
        cells.clear();
        let mut problems = Vec::new();
        for (i, raw) in record.iter().enumerate() {
            if raw.len() > MAX_CELL {
                problems.push(self.problem(
                    i,
                    format!(
                        "cell is {} bytes long; at most {MAX_CELL} expected (an unclosed quote?)",
                        raw.len()
                    ),
                ));
                cells.push("");
            } else if raw.contains(&0) {
                problems
                    .push(self.problem(i, "cell contains a NUL byte: is this a text CSV file?"));
                cells.push("");
            } else {
                match std::str::from_utf8(raw) {
                    Ok(s) => cells.push(s),
                    Err(e) => {
                        problems.push(self.problem(
                            i,
                            format!(
                                "not valid UTF-8 (byte {}): save the file as UTF-8",
                                e.valid_up_to() + 1
                            ),
                        ));
                        cells.push("");
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The cells of a row with nothing to report, checked all at once: the
    /// record's bytes are UTF-8 without a NUL, and each cell is short enough
    /// and starts and ends on a character boundary. False: check cell by
    /// cell (`cells` may hold some).
    fn clean_cells<'r>(record: &'r crate::records::Record, cells: &mut Vec<&'r str>) -> bool {
        // SIMD validation: a month is some 300 MB of text to check.
        let Ok(all) = simdutf8::basic::from_utf8(record.bytes()) else {
            return false;
        };
        if memchr::memchr(0, all.as_bytes()).is_some() {
            return false;
        }
        cells.reserve(record.len());
        for i in 0..record.len() {
            let Some(r) = record.range(i) else {
                return false;
            };
            if r.len() > MAX_CELL || !all.is_char_boundary(r.start) || !all.is_char_boundary(r.end)
            {
                return false;
            }
            cells.push(&all[r]);
        }
        true
    }

    fn charge(
        &self,
        cells: &[&str],
        file: &Arc<str>,
        source: &Arc<str>,
        currency: &str,
        // None: only amounts, dates and currency are read (no id, no texts).
        mut strings: Option<&mut Interner>,
        repeats: &mut Repeats,
    ) -> Result<Charge, Vec<Problem>> {
        let mut problems = Vec::new();
        let cell = |f: Field| {
            self.header
                .column(f)
                .map(|i| (i, cells[i]))
                .filter(|(_, c)| !focus::is_null(c))
        };
        let money = |f: Field, problems: &mut Vec<Problem>| {
            cell(f).and_then(|(i, c)| {
                money::parse(c)
                    .map_err(|e| problems.push(self.problem(i, e)))
                    .ok()
            })
        };
        let billed = money(Field::BilledCost, &mut problems);
        let list = money(Field::ListCost, &mut problems);
        let contracted = money(Field::ContractedCost, &mut problems);
        let effective = money(Field::EffectiveCost, &mut problems);
        let consumed_quantity = money(Field::ConsumedQuantity, &mut problems);
        let date = |f: Field, problems: &mut Vec<Problem>| {
            cell(f).and_then(|(i, c)| {
                focus::parse_date(c)
                    .map_err(|e| problems.push(self.problem(i, e)))
                    .ok()
            })
        };
        let billing_period_start = date(Field::BillingPeriodStart, &mut problems);
        let charge_period_start = date(Field::ChargePeriodStart, &mut problems);
        // Parsed (once per distinct cell) when charges are kept; checked
        // otherwise.
        let tags = match cell(Field::Tags) {
            Some((i, c)) => {
                let parsed = match strings.as_deref_mut() {
                    Some(strings) => strings.tags(c),
                    None => focus::parse_tags(c).map(|_| Tags::default()),
                };
                parsed.unwrap_or_else(|e| {
                    problems.push(self.problem(i, e));
                    Tags::default()
                })
            }
            None => Tags::default(),
        };
        if billed.is_none() && cell(Field::BilledCost).is_none() {
            let i = self.header.column(Field::BilledCost).unwrap_or(0);
            problems.push(self.problem(
                i,
                "BilledCost is empty: every charge needs an amount (0 is allowed)",
            ));
        }
        if billing_period_start.is_none() && cell(Field::BillingPeriodStart).is_none() {
            let i = self.header.column(Field::BillingPeriodStart).unwrap_or(0);
            problems.push(self.problem(
                i,
                "BillingPeriodStart is empty: every charge needs its billing period",
            ));
        }
        if let Some((i, c)) = cell(Field::BillingCurrency) {
            let c = focus::trim(c);
            if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                problems.push(self.problem(
                    i,
                    format!("{} is not an ISO 4217 currency code such as USD", shown(c)),
                ));
            }
        }
        let (Some(billed), Some(billing_period_start)) = (billed, billing_period_start) else {
            return Err(problems);
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let currency = cell(Field::BillingCurrency)
            .map(|(_, c)| focus::trim(c))
            .unwrap_or(currency);
        let full = strings.is_some();
        let currency = match (strings.as_deref_mut(), &repeats.currency) {
            (Some(_), Some(last)) if **last == *currency => last.clone(),
            (Some(strings), _) => {
                let interned = strings.get(currency);
                repeats.currency = Some(interned.clone());
                interned
            }
            (None, _) => Arc::from(currency),
        };
        let mut get = |s: &str| match strings.as_deref_mut() {
            Some(strings) => strings.get(s),
            None => self.empty.clone(),
        };
        // The row's content, hashed with the batch's (`Table::identify`).
        if full {
            self.identity(cells, source, &mut repeats.contents);
        }
        let trimmed = |f: Field| cell(f).map(|(_, c)| focus::trim(c)).unwrap_or("");
        // A row's describing texts, each with its length: rows alike share
        // one `Dimensions`, found without interning its texts again.
        repeats.rows += 1;
        // The key made with the batch (`Table::describing_keys`), the same
        // bytes as made here from the row's checked cells.
        let made = repeats
            .next
            .take()
            .and_then(|i| repeats.batch_spans.get(i).copied());
        let key = &mut repeats.key;
        key.clear();
        let mut hash = None;
        if full && !repeats.unrepeated {
            match made {
                Some((at, len, h)) => {
                    let at = at as usize;
                    key.extend_from_slice(&repeats.batch_keys[at..at + len as usize]);
                    hash = Some(h);
                }
                None => describing_key(key, DESCRIBING.iter().map(|f| trimmed(*f).as_bytes())),
            }
        }
        #[cfg(debug_assertions)]
        if full && !repeats.unrepeated {
            let mut own = Vec::new();
            describing_key(&mut own, DESCRIBING.iter().map(|f| trimmed(*f).as_bytes()));
            debug_assert_eq!(&own, key, "a batch's key differs from its row's");
        }
        let hash = hash.unwrap_or_else(|| repeats.described.hash(key));
        let dims = match repeats.described.get(hash, key) {
            _ if !full => self.undescribed.clone(),
            Some(d) => d.clone(),
            None => {
                let mut text = |f: Field| get(trimmed(f));
                let d = Arc::new(Dimensions {
                    service_name: text(Field::ServiceName),
                    service_category: text(Field::ServiceCategory),
                    resource_id: text(Field::ResourceId),
                    resource_name: text(Field::ResourceName),
                    charge_category: text(Field::ChargeCategory),
                    charge_class: text(Field::ChargeClass),
                    description: text(Field::ChargeDescription),
                    consumed_unit: text(Field::ConsumedUnit),
                    sub_account_id: text(Field::SubAccountId),
                    billing_account_id: text(Field::BillingAccountId),
                });
                repeats.missed(hash, d.clone());
                d
            }
        };
        Ok(Charge {
            // Its id and content hash: `Table::identify`.
            id: Default::default(),
            source: source.clone(),
            file: file.clone(),
            line: self.line,
            billing_period_start,
            charge_period_start,
            billed,
            list: list.unwrap_or(billed),
            contracted: contracted.unwrap_or(billed),
            effective: effective.unwrap_or(billed),
            has_list: list.is_some(),
            currency,
            consumed_quantity,
            dims,
            extra: match full {
                true => repeats.extras.row(cells),
                false => None,
            },
            tags,
            content: [0; 16],
            attribution: self.unattributed.clone(),
            flags: Vec::new(),
            state: State::Billed,
            decision: None,
            origin: None,
        })
    }

    /// What the row's content hash covers (columns in name order, values
    /// trimmed), as one message of the batch's.
    fn identity(&self, cells: &[&str], source: &str, contents: &mut Messages) {
        contents.push(source.as_bytes());
        for &i in &self.header.sorted {
            let value = focus::trim(cells[i]);
            if focus::is_null(value) {
                continue;
            }
            contents.push(&[0x1e]);
            contents.push(self.header.lower[i].as_bytes());
            contents.push(&[0x1f]);
            contents.push(value.as_bytes());
        }
        contents.end();
    }
}

/// The number a charge id of 12 hex digits spells (the ids `id` makes);
/// None for any other id. Ids sort as these numbers do.
pub fn id_number(id: &str) -> Option<u64> {
    let digits = id.as_bytes();
    if digits.len() != 12
        || !digits
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    u64::from_str_radix(id, 16).ok()
}

/// The charge id: 12 hex digits of a hash of content and occurrence.
pub fn id(source: &str, content: &[u8; 16], occurrence: u32) -> compact_str::CompactString {
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update(content);
    h.update(occurrence.to_le_bytes());
    id_text(&h.finalize())
}

/// The bytes `id` hashes, as one message of a batch's.
fn id_message(source: &str, content: &[u8; 16], occurrence: u32, ids: &mut Messages) {
    ids.push(source.as_bytes());
    ids.push(content);
    ids.push(&occurrence.to_le_bytes());
    ids.end();
}

/// An id's 12 hex digits, from the first 6 bytes of its digest.
fn id_text(d: &[u8]) -> compact_str::CompactString {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = [0u8; 12];
    for (pair, b) in s.chunks_exact_mut(2).zip(&d[..6]) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 15)];
    }
    // Hex digits are ASCII.
    compact_str::CompactString::from_utf8(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_rows_are_numbered_in_file_order_with_the_ids_they_always_had() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws.csv");
        let a = "2025-01-01,1.00,EC2,i-1\n";
        std::fs::write(
            &path,
            format!("BillingPeriodStart,BilledCost,ServiceName,ResourceId\n{a}2025-01-01,2.00,EC2,i-2\n{a}{a}"),
        )
        .unwrap();
        // As a Vec, and as blocks after other rows (a month's later files).
        let mut strings = Interner::default();
        let loaded = load_file(&path, "periods/2025-01/aws.csv", "aws", "USD", &mut strings);
        let mut blocks = Blocks(vec![vec![loaded.charges[1].clone()]]);
        let hidden = indicatif::ProgressBar::hidden();
        let shown = "periods/2025-01/aws.csv";
        read_file(
            &path,
            shown,
            "aws",
            "USD",
            &mut strings,
            &mut blocks,
            &hidden,
        );
        let from_blocks: Vec<&Charge> = blocks.0.iter().flatten().skip(1).collect();
        // The ids these rows had when occurrences were counted while
        // reading (review.yaml files name them).
        let expected = [
            "82ceedcaf5b2",
            "38fc1f9600d6",
            "35b567150c52",
            "f06ac5cca795",
        ];
        for rows in [loaded.charges.iter().collect::<Vec<_>>(), from_blocks] {
            let ids: Vec<&str> = rows.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(ids, expected);
        }
    }

    #[test]
    fn a_recycled_list_of_cells_keeps_its_allocation() {
        let text = String::from("a,b");
        let mut cells: Vec<&str> = Vec::with_capacity(40);
        cells.extend(text.split(','));
        let at = cells.as_ptr() as usize;
        let again: Vec<&str> = recycle(cells);
        assert!(again.is_empty());
        assert_eq!((again.as_ptr() as usize, again.capacity()), (at, 40));
    }

    #[test]
    fn rows_alike_share_their_dimensions_and_keep_their_own_other_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws.csv");
        std::fs::write(
            &path,
            "BillingPeriodStart,BilledCost,ServiceName,ResourceId,x_Zone\n\
             2025-01-01,1.00,EC2, i-1 ,a\n\
             2025-01-01,2.00,EC2,i-1,a\n\
             2025-01-01,3.00,EC2,i-1,b\n",
        )
        .unwrap();
        let mut strings = Interner::default();
        let loaded = load_file(&path, "periods/2025-01/aws.csv", "aws", "USD", &mut strings);
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        let c = &loaded.charges;
        assert!(
            Arc::ptr_eq(&c[0].dims, &c[1].dims),
            "trimmed texts are alike"
        );
        assert!(
            Arc::ptr_eq(&c[1].dims, &c[2].dims),
            "a column ocb gives no meaning to is not a dimension"
        );
        let extra = |i: usize| c[i].extra.clone().unwrap();
        let zone = |i: usize| extra(i).values[0].to_string();
        assert_eq!((zone(0), zone(2)), ("a".to_string(), "b".to_string()));
        assert!(Arc::ptr_eq(&extra(0), &extra(1)), "cells alike are shared");
        assert!(!Arc::ptr_eq(&extra(1), &extra(2)));
        assert_eq!(&*c[0].dims.resource_id, "i-1");
        assert_eq!(&*extra(0).names[0], "x_Zone");
    }

    #[test]
    fn dimensions_found_with_keys_made_for_the_batch_skip_rejected_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws.csv");
        // Keys are made for a batch of records before its rows are read;
        // a rejected row in between must not shift them.
        std::fs::write(
            &path,
            "BillingPeriodStart,BilledCost,ServiceName,ResourceId
             2025-01-01,1.00,EC2,\u{a0}i-1\u{a0}
             2025-01-01,2.00,EC2
             2025-01-01,3.00,EC2,i-1
             2025-01-01,4.00,EC2,null
             2025-01-01,5.00,EC2,i-2
             2025-01-01,6.00,EC2,
",
        )
        .unwrap();
        let mut strings = Interner::default();
        let loaded = load_file(&path, "periods/2025-01/aws.csv", "aws", "USD", &mut strings);
        assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
        assert_eq!(loaded.problems[0].line, Some(3));
        let c = &loaded.charges;
        let ids: Vec<&str> = c.iter().map(|c| &*c.dims.resource_id).collect();
        assert_eq!(ids, ["i-1", "i-1", "", "i-2", ""]);
        assert!(Arc::ptr_eq(&c[0].dims, &c[1].dims), "trimmed alike");
        assert!(Arc::ptr_eq(&c[2].dims, &c[4].dims), "null and empty alike");
        assert!(!Arc::ptr_eq(&c[1].dims, &c[3].dims));
        assert!(!Arc::ptr_eq(&c[2].dims, &c[3].dims));
    }
}
