//! One data file of a report being filled: gzip CSV, or Parquet compressed with Snappy (the
//! compressions AWS uses). Memory is bounded by one file's compressed bytes plus, for
//! Parquet, one row group's values.

use super::rows::{Columns, Kind, Value, csv_line};
use crate::EngineResult;
use holdfast_meta::{InventoryFormat, MetaError};
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::io::Write as _;
use std::sync::Arc;

/// Rows in one data file; a larger report is split into several files.
pub const ROWS_PER_FILE: usize = 100_000;

/// Rows in one Parquet row group: what is held in memory before it is encoded.
pub const ROWS_PER_GROUP: usize = 10_000;

fn internal(what: &str, e: impl std::fmt::Display) -> MetaError {
    MetaError::Internal(format!("inventory {what}: {e}"))
}

pub enum DataFile {
    Csv { gz: flate2::write::GzEncoder<Vec<u8>>, rows: usize },
    Parquet(ParquetFile),
}

impl DataFile {
    pub fn new(format: InventoryFormat, columns: &Columns) -> EngineResult<Self> {
        Ok(match format {
            InventoryFormat::Csv => {
                Self::Csv { gz: flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()), rows: 0 }
            }
            InventoryFormat::Parquet => Self::Parquet(ParquetFile::new(columns)?),
        })
    }

    /// `.csv.gz` or `.parquet`, as AWS names its data files.
    pub fn extension(&self) -> &'static str {
        match self {
            Self::Csv { .. } => "csv.gz",
            Self::Parquet(_) => "parquet",
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Self::Csv { .. } => "application/x-gzip",
            Self::Parquet(_) => "application/octet-stream",
        }
    }

    pub fn rows(&self) -> usize {
        match self {
            Self::Csv { rows, .. } => *rows,
            Self::Parquet(p) => p.rows,
        }
    }

    pub fn push(&mut self, row: Vec<Value>) -> EngineResult<()> {
        match self {
            Self::Csv { gz, rows } => {
                gz.write_all(csv_line(&row).as_bytes()).map_err(|e| internal("gzip", e))?;
                *rows += 1;
                Ok(())
            }
            Self::Parquet(p) => p.push(row),
        }
    }

    /// The file's bytes as stored.
    pub fn finish(self) -> EngineResult<Vec<u8>> {
        match self {
            Self::Csv { gz, .. } => Ok(gz.finish().map_err(|e| internal("gzip", e))?),
            Self::Parquet(p) => p.finish(),
        }
    }
}

/// A Parquet file written row group by row group into memory.
pub struct ParquetFile {
    writer: SerializedFileWriter<Vec<u8>>,
    kinds: Vec<Kind>,
    /// The current row group, column by column.
    pending: Vec<Vec<Value>>,
    rows: usize,
}

impl ParquetFile {
    fn new(columns: &Columns) -> EngineResult<Self> {
        let schema = parquet::schema::parser::parse_message_type(&columns.parquet_schema())
            .map_err(|e| internal("parquet schema", e))?;
        let props =
            WriterProperties::builder().set_compression(Compression::SNAPPY).set_created_by("holdfast".into()).build();
        let writer = SerializedFileWriter::new(Vec::new(), Arc::new(schema), Arc::new(props))
            .map_err(|e| internal("parquet", e))?;
        Ok(Self { writer, kinds: columns.kinds().collect(), pending: vec![Vec::new(); columns.len()], rows: 0 })
    }

    fn push(&mut self, row: Vec<Value>) -> EngineResult<()> {
        for (col, value) in self.pending.iter_mut().zip(row) {
            col.push(value);
        }
        self.rows += 1;
        if self.pending[0].len() >= ROWS_PER_GROUP {
            self.flush_group()?;
        }
        Ok(())
    }

    fn flush_group(&mut self) -> EngineResult<()> {
        if self.pending.first().is_none_or(Vec::is_empty) {
            return Ok(());
        }
        let mut group = self.writer.next_row_group().map_err(|e| internal("parquet", e))?;
        for (i, values) in self.pending.iter_mut().enumerate() {
            let values = std::mem::take(values);
            let mut col = group
                .next_column()
                .map_err(|e| internal("parquet", e))?
                .ok_or_else(|| internal("parquet", "fewer columns in the schema than in the row"))?;
            // Bucket and key are required: no definition levels.
            let required = i < 2;
            let defs: Vec<i16> = values.iter().map(|v| i16::from(*v != Value::Null)).collect();
            let defs = (!required).then_some(defs.as_slice());
            let written = match self.kinds[i] {
                Kind::Str => {
                    let data: Vec<ByteArray> = values
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::Str(s) => Some(ByteArray::from(s.into_bytes())),
                            _ => None,
                        })
                        .collect();
                    col.typed::<ByteArrayType>().write_batch(&data, defs, None)
                }
                Kind::Bool => {
                    let data: Vec<bool> = values
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::Bool(b) => Some(b),
                            _ => None,
                        })
                        .collect();
                    col.typed::<BoolType>().write_batch(&data, defs, None)
                }
                Kind::Int | Kind::Time => {
                    let data: Vec<i64> = values
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::Int(n) | Value::Time(n) => Some(n),
                            _ => None,
                        })
                        .collect();
                    col.typed::<Int64Type>().write_batch(&data, defs, None)
                }
            };
            written.map_err(|e| internal("parquet", e))?;
            col.close().map_err(|e| internal("parquet", e))?;
        }
        group.close().map_err(|e| internal("parquet", e))?;
        Ok(())
    }

    fn finish(mut self) -> EngineResult<Vec<u8>> {
        self.flush_group()?;
        Ok(self.writer.into_inner().map_err(|e| internal("parquet", e))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdfast_meta::{InventoryConfig, InventoryFrequency, InventoryVersions};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn parquet_rows_are_grouped_and_read_back() {
        let config = InventoryConfig {
            id: "r".into(),
            enabled: true,
            prefix: None,
            versions: InventoryVersions::All,
            frequency: InventoryFrequency::Daily,
            optional_fields: vec!["Size".into(), "ObjectLockMode".into()],
            destination_bucket: "d".into(),
            destination_account: None,
            destination_prefix: None,
            format: InventoryFormat::Parquet,
        };
        let columns = Columns::of(&config);
        let mut file = DataFile::new(InventoryFormat::Parquet, &columns).unwrap();
        let n = ROWS_PER_GROUP + 5;
        for i in 0..n {
            let marker = i % 2 == 1;
            file.push(vec![
                Value::Str("b".into()),
                Value::Str(format!("k{i}")),
                Value::Null,
                Value::Bool(true),
                Value::Bool(marker),
                if marker { Value::Null } else { Value::Int(i as i64) },
                Value::Null,
            ])
            .unwrap();
        }
        assert_eq!(file.rows(), n);
        let bytes = bytes::Bytes::from(file.finish().unwrap());
        let reader = SerializedFileReader::new(bytes).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows(), n as i64);
        assert_eq!(meta.num_row_groups(), 2);
        assert_eq!(meta.row_group(0).column(0).compression(), Compression::SNAPPY);
    }
}
