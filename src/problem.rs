//! Problems in the user's data: located values, collected rather than thrown,
//! that decide the exit code at the end of a command.

use std::fmt;

/// One thing wrong in an input file, with where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    pub file: String,
    pub line: Option<u64>,
    /// Character column, for YAML files.
    pub col: Option<u64>,
    /// Column name, for CSV files.
    pub column: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            file: file.into(),
            line: None,
            col: None,
            column: None,
            message: message.into(),
        }
    }

    pub fn at(file: impl Into<String>, line: u64, message: impl Into<String>) -> Self {
        Problem {
            line: Some(line),
            ..Problem::file(file, message)
        }
    }

    pub fn cell(
        file: impl Into<String>,
        line: u64,
        column: &str,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            column: Some(column.to_string()),
            ..Problem::at(file, line, message)
        }
    }

    /// A problem from a YAML parser error, which knows its own line and column.
    pub fn yaml(file: impl Into<String>, err: &serde_yaml::Error) -> Self {
        let loc = err.location();
        // serde_yaml repeats the location at the end of its message; keep the cause only.
        let text = err.to_string();
        let message = match text.find(" at line ") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        let message = readable_path(&message);
        Problem {
            file: file.into(),
            line: loc.as_ref().map(|l| l.line() as u64),
            col: loc.as_ref().map(|l| l.column() as u64),
            column: None,
            message,
        }
    }
}

/// One problem, one line: a quoted newline in a cell, a header or a file
/// name must not split it.
fn one_line(text: &str) -> String {
    text.replace('\n', "\\n").replace('\r', "\\r")
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", one_line(&self.file))?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.col {
                write!(f, ":{col}")?;
            }
        }
        if let Some(column) = &self.column {
            write!(f, ": column `{}`", one_line(column))?;
        }
        write!(f, ": {}", one_line(&self.message))
    }
}

/// serde_yaml names where it was as `.[0].decision: …`; say `item 1, decision: …`.
fn readable_path(message: &str) -> String {
    let Some(rest) = message.strip_prefix('.') else {
        return message.to_string();
    };
    let Some((path, tail)) = rest.split_once(": ") else {
        return message.to_string();
    };
    // `allocations[0]` is a key and an index: `allocations, item 1`.
    let parts: Vec<String> = path
        .split('.')
        .flat_map(|p| p.split_inclusive(']'))
        .flat_map(|p| match p.split_once('[') {
            Some((key, rest)) if !key.is_empty() => vec![key.to_string(), format!("[{rest}")],
            _ => vec![p.to_string()],
        })
        .map(|p| {
            match p
                .strip_prefix('[')
                .and_then(|p| p.strip_suffix(']'))
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(n) => format!("item {}", n + 1),
                None => p,
            }
        })
        .collect();
    format!("{}: {tail}", parts.join(", "))
}

/// Quote a value for an error message, shortened so a 10 MB cell stays readable.
pub fn shown(value: &str) -> String {
    const MAX: usize = 60;
    if value.chars().count() <= MAX {
        format!("`{value}`")
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("`{head}…` ({} bytes)", value.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_file_line_and_column() {
        let p = Problem::cell(
            "periods/2025-01/aws.csv",
            1832,
            "BilledCost",
            "invalid decimal `1,2`",
        );
        assert_eq!(
            p.to_string(),
            "periods/2025-01/aws.csv:1832: column `BilledCost`: invalid decimal `1,2`"
        );
    }

    #[test]
    fn yaml_paths_read_as_words() {
        assert_eq!(
            readable_path(".[0].decision: unknown variant `maybe`"),
            "item 1, decision: unknown variant `maybe`"
        );
        assert_eq!(
            readable_path(".[0].allocations[1].amount: -5 is negative"),
            "item 1, allocations, item 2, amount: -5 is negative"
        );
        assert_eq!(
            readable_path("site: unknown field `titel`"),
            "site: unknown field `titel`"
        );
    }

    #[test]
    fn shortens_long_values() {
        let long = "x".repeat(1000);
        assert!(shown(&long).ends_with("(1000 bytes)"));
        assert_eq!(shown("ab"), "`ab`");
    }
}
