//! How commands print: text for people, `--json` for scripts (one object,
//! or an array for lists, with the record's id under `id`).

use std::io::{self, Write};

use serde::Serialize;

/// Writes one line to standard output.
pub fn line(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")
}

/// Writes a value as pretty JSON to standard output.
pub fn json<T: Serialize + ?Sized>(value: &T) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    line(&text)
}

/// Writes a note for the person at the terminal to standard error, leaving
/// standard output to the result a script may capture.
pub fn note(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// A list of records: the records themselves as JSON, or a table with one
/// row per record.
pub fn list<T: Serialize>(
    as_json: bool,
    records: &[T],
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> io::Result<()> {
    if as_json {
        return json(records);
    }
    let rows: Vec<Vec<String>> = records.iter().map(row).collect();
    table(header, &rows)
}

/// Lays rows out in aligned columns under a header.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            if i + 1 < widths.len() {
                text.push_str(&" ".repeat(width - cell.chars().count()));
            }
        }
        text.trim_end().to_owned()
    };
    line(&render(&mut header.iter().copied()))?;
    for row in rows {
        line(&render(&mut row.iter().map(String::as_str)))?;
    }
    Ok(())
}
