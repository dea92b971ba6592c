//! The one CSV writer of dcrobust: rows of any flat serde type to CSV bytes, through the `csv`
//! crate. The report's tables use it, and so can any crate that writes a table.

use serde::Serialize;

/// Why rows could not be written as CSV: a row that is not flat (a field holding a nested
/// struct, map or sequence), or rows of different lengths.
pub type CsvError = csv::Error;

/// Writes `rows` as CSV: a header row of the rows' field names, then one line per row.
///
/// Each row is one flat serde struct (or tuple); the header comes from the first row's field
/// names, so no rows give empty output, header included. Lines end in `\n`; a field is quoted
/// only when it holds a comma, a double quote or a line break, with its quotes doubled
/// (RFC 4180). `None` is an empty field, `bool` is `true` / `false`. Floats are written as serde
/// hands them to the `csv` crate, in the shortest form that reads back exactly with a decimal
/// point (`0.0`, `0.125`, `1e-7`); a field type that serialises through `Display` (e.g. with
/// `Serializer::collect_str`) keeps Rust's `Display` form (`0`, `0.125`, `0.0000001`) instead.
///
/// ```ignore
/// #[derive(serde::Serialize)]
/// struct Row<'a> { model: &'a str, accuracy: f64 }
/// let bytes = dcrobust_reports::write_csv(&[Row { model: "a,b", accuracy: 0.5 }])?;
/// assert_eq!(bytes, b"model,accuracy\n\"a,b\",0.5\n");
/// ```
pub fn write_csv<I>(rows: I) -> Result<Vec<u8>, CsvError>
where
    I: IntoIterator,
    I::Item: Serialize,
{
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    for row in rows {
        w.serialize(row)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row<'a> {
        name: &'a str,
        value: Option<f64>,
        count: u32,
        ok: bool,
    }

    fn one(name: &str) -> String {
        let row = Row {
            name,
            value: None,
            count: 1,
            ok: true,
        };
        let bytes = write_csv([row]).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        text.lines().nth(1).unwrap().to_string()
    }

    /// Oracle: RFC 4180 quoting, by hand: only fields with a comma, quote or line break are
    /// quoted, and their quotes are doubled.
    #[test]
    fn quotes_fields_that_need_it() {
        assert_eq!(one("plain"), "plain,,1,true");
        assert_eq!(one("a,b"), "\"a,b\",,1,true");
        assert_eq!(one("say \"hi\""), "\"say \"\"hi\"\"\",,1,true");
        let bytes = write_csv([Row {
            name: "two\nlines",
            value: None,
            count: 0,
            ok: false,
        }])
        .unwrap();
        assert_eq!(bytes, b"name,value,count,ok\n\"two\nlines\",,0,false\n");
    }

    /// Oracle: the header from the field names, one `\n`-terminated line per row, floats in
    /// their shortest exact form (0.5, 0.0), by hand; no rows, no bytes.
    #[test]
    fn writes_a_header_then_one_line_per_row() {
        let rows = [
            Row {
                name: "a",
                value: Some(0.5),
                count: 2,
                ok: true,
            },
            Row {
                name: "b",
                value: Some(0.0),
                count: 3,
                ok: false,
            },
        ];
        assert_eq!(
            write_csv(&rows).unwrap(),
            b"name,value,count,ok\na,0.5,2,true\nb,0.0,3,false\n"
        );
        assert!(write_csv(Vec::<Row>::new()).unwrap().is_empty());
    }

    /// Oracle: a nested sequence is not a flat row; the writer says so instead of writing it.
    #[test]
    fn refuses_rows_that_are_not_flat() {
        #[derive(Serialize)]
        struct Nested {
            inner: std::collections::BTreeMap<String, u8>,
        }
        let row = Nested {
            inner: [("k".to_string(), 1)].into(),
        };
        assert!(write_csv([row]).is_err());
    }
}
