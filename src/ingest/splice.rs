//! Parquet parts of one month joined into one file without decoding them:
//! each part's column chunks are copied byte for byte after the first part's,
//! and one footer lists every row group with its offsets moved. A month of
//! Parquet parts so costs a copy, not a decode and a new encoding.

use polars_parquet_format::FileMetaData;
use polars_parquet_format::thrift::protocol::{TCompactInputProtocol, TCompactOutputProtocol};

const MAGIC: &[u8; 4] = b"PAR1";

/// A part's footer, and where its column chunks end (the footer starts).
pub struct Footer {
    meta: FileMetaData,
    data_end: usize,
}

/// Read a part's footer. The caller has already read the whole file with
/// polars (the footer is decoded in a child process first, see
/// `parquet::read_frame`), so a footer that decodes there decodes here.
pub fn footer(bytes: &[u8]) -> Result<Footer, String> {
    let n = bytes.len();
    if n < 12 || &bytes[..4] != MAGIC || &bytes[n - 4..] != MAGIC {
        return Err("not a Parquet file (no PAR1 at its start and end)".into());
    }
    let len = u32::from_le_bytes([bytes[n - 8], bytes[n - 7], bytes[n - 6], bytes[n - 5]]) as usize;
    let data_end = (n - 8)
        .checked_sub(len)
        .filter(|&e| e >= 4)
        .ok_or("the footer length is larger than the file")?;
    // The budget bounds what decoding may allocate (it counts lists' elements
    // at their size in memory, so it is larger than the footer).
    let budget = len.saturating_mul(64).max(1 << 20);
    let mut protocol = TCompactInputProtocol::new(&bytes[data_end..n - 8], budget);
    let meta = FileMetaData::read_from_in_protocol(&mut protocol)
        .map_err(|e| format!("cannot read the footer: {e}"))?;
    Ok(Footer { meta, data_end })
}

/// Whether parts can be joined: one schema, every column chunk in the file
/// itself, nothing encrypted.
pub fn joinable(footers: &[Footer]) -> bool {
    let Some(first) = footers.first() else {
        return false;
    };
    footers.iter().all(|f| {
        f.meta.schema == first.meta.schema
            && f.meta.encryption_algorithm.is_none()
            && f.meta.footer_signing_key_metadata.is_none()
            && f.meta.row_groups.iter().all(|g| {
                g.columns.iter().all(|c| {
                    c.file_path.is_none() && c.crypto_metadata.is_none() && c.meta_data.is_some()
                })
            })
    })
}

/// One file holding the parts' row groups in order. Page indexes and bloom
/// filters hold offsets of their own file: they are copied as bytes but no
/// longer listed (readers do without them). The first part's key/value
/// metadata (such as the Arrow schema) is kept: the schemas are equal.
pub fn join(parts: &[(&[u8], Footer)]) -> Result<Vec<u8>, String> {
    let Some((_, first)) = parts.first() else {
        return Err("no parts to join".into());
    };
    let size: usize = parts.iter().map(|(b, f)| f.data_end.min(b.len())).sum();
    let mut out = Vec::with_capacity(size + 4096);
    out.extend_from_slice(MAGIC);
    let mut meta = first.meta.clone();
    meta.row_groups.clear();
    meta.num_rows = 0;
    for (bytes, footer) in parts {
        let shift = (out.len() - MAGIC.len()) as i64;
        out.extend_from_slice(&bytes[MAGIC.len()..footer.data_end]);
        for group in &footer.meta.row_groups {
            let mut group = group.clone();
            group.file_offset = group.file_offset.map(|o| o + shift);
            group.ordinal = i16::try_from(meta.row_groups.len()).ok();
            for chunk in &mut group.columns {
                if chunk.file_offset > 0 {
                    chunk.file_offset += shift;
                }
                chunk.offset_index_offset = None;
                chunk.offset_index_length = None;
                chunk.column_index_offset = None;
                chunk.column_index_length = None;
                if let Some(m) = chunk.meta_data.as_mut() {
                    m.data_page_offset += shift;
                    m.dictionary_page_offset = m.dictionary_page_offset.map(|o| o + shift);
                    m.index_page_offset = m.index_page_offset.map(|o| o + shift);
                    m.bloom_filter_offset = None;
                    m.bloom_filter_length = None;
                }
            }
            meta.num_rows += group.num_rows;
            meta.row_groups.push(group);
        }
    }
    let start = out.len();
    let mut protocol = TCompactOutputProtocol::new(&mut out);
    meta.write_to_out_protocol(&mut protocol)
        .map_err(|e| format!("cannot write the footer: {e}"))?;
    let len = u32::try_from(out.len() - start).map_err(|_| "the footer is too large")?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(MAGIC);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn parquet(df: &mut DataFrame, row_group: usize) -> Vec<u8> {
        let mut out = Vec::new();
        ParquetWriter::new(&mut out)
            .with_row_group_size(Some(row_group))
            .finish(df)
            .unwrap();
        out
    }

    fn frame(from: i64, n: i64) -> DataFrame {
        let ids: Vec<i64> = (from..from + n).collect();
        let names: Vec<String> = ids.iter().map(|i| format!("row {i}")).collect();
        let costs: Vec<f64> = ids.iter().map(|&i| i as f64 * 0.1).collect();
        df!("id" => ids, "name" => names, "cost" => costs).unwrap()
    }

    #[test]
    fn joined_parts_read_as_the_parts_one_after_the_other() {
        let (mut a, mut b) = (frame(0, 2500), frame(2500, 700));
        let (pa, pb) = (parquet(&mut a, 1000), parquet(&mut b, 1000));
        let parts = vec![
            (pa.as_slice(), footer(&pa).unwrap()),
            (pb.as_slice(), footer(&pb).unwrap()),
        ];
        assert!(joinable(&[footer(&pa).unwrap(), footer(&pb).unwrap()]));
        let joined = join(&parts).unwrap();
        let back = ParquetReader::new(std::io::Cursor::new(joined.clone()))
            .finish()
            .unwrap();
        assert_eq!(back, a.vstack(&b).unwrap());
        // The same parts give the same bytes.
        assert_eq!(join(&parts).unwrap(), joined);
    }

    #[test]
    fn parts_of_different_schemas_are_not_joined() {
        let mut a = frame(0, 10);
        let mut b = frame(10, 10).drop("name").unwrap();
        let (pa, pb) = (parquet(&mut a, 1000), parquet(&mut b, 1000));
        assert!(!joinable(&[footer(&pa).unwrap(), footer(&pb).unwrap()]));
        assert!(footer(b"PAR1 not a footer PAR1").is_err());
        assert!(footer(&pa[..pa.len() - 1]).is_err());
    }
}
