//! The file formats ocb reads FOCUS data from: `.csv`, `.csv.gz` and `.parquet`,
//! told apart by name, and the reader that undoes the compression.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    CsvGz,
    Parquet,
}

impl Format {
    /// The format a file name says, or None for any other file.
    pub fn of(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        Format::split(&name).map(|(_, f)| f)
    }

    /// A file name's stem and format: `aws.csv.gz` → (`aws`, CsvGz).
    pub fn split(name: &str) -> Option<(&str, Format)> {
        let lower = name.to_ascii_lowercase();
        for (ext, f) in [
            (".csv.gz", Format::CsvGz),
            (".csv", Format::Csv),
            (".parquet", Format::Parquet),
        ] {
            if lower.ends_with(ext) && lower.len() > ext.len() {
                return Some((&name[..name.len() - ext.len()], f));
            }
        }
        None
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::CsvGz => "csv.gz",
            Format::Parquet => "parquet",
        }
    }
}

/// The text of a CSV file, decompressed when it is gzip (every member of a
/// multi-member stream, as `cat a.gz b.gz` and some exporters write).
pub fn open_text(
    path: &Path,
    gz: bool,
    progress: &indicatif::ProgressBar,
) -> std::io::Result<Box<dyn std::io::Read + Send>> {
    let file = crate::progress::wrap(std::fs::File::open(path)?, progress);
    Ok(if gz {
        Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::with_capacity(1 << 16, file),
        ))
    } else {
        file
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_name() {
        assert_eq!(Format::split("aws.csv.gz"), Some(("aws", Format::CsvGz)));
        assert_eq!(Format::split("AWS.CSV"), Some(("AWS", Format::Csv)));
        assert_eq!(
            Format::split("part_0_0001.snappy.parquet"),
            Some(("part_0_0001.snappy", Format::Parquet))
        );
        assert_eq!(Format::split("notes.txt"), None);
        assert_eq!(Format::split(".csv"), None);
    }
}
