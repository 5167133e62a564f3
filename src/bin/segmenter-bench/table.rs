//! A small table that renders as aligned text for the terminal and as Markdown for a file,
//! and the number formats and target verdicts its cells use.

use std::time::Duration;

pub enum Row {
    Section(String),
    Cells(Vec<String>),
}

pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
}

impl Table {
    pub fn new(headers: Vec<String>) -> Table {
        Table {
            headers,
            rows: Vec::new(),
        }
    }

    pub fn section(&mut self, title: impl Into<String>) {
        self.rows.push(Row::Section(title.into()));
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(Row::Cells(cells));
    }

    pub fn text(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            if let Row::Cells(cells) = row {
                for (i, cell) in cells.iter().enumerate() {
                    if i < widths.len() {
                        widths[i] = widths[i].max(width(cell));
                    }
                }
            }
        }
        let total = widths.iter().sum::<usize>() + 3 * widths.len().saturating_sub(1);
        let line = |cells: &[String]| {
            let padded: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let cell = cells.get(i).map_or("", String::as_str);
                    format!("{cell}{}", " ".repeat(w.saturating_sub(width(cell))))
                })
                .collect();
            format!("{}\n", padded.join(" | ").trim_end())
        };
        let mut out = line(&self.headers);
        out.push_str(&format!("{}\n", "=".repeat(total)));
        for row in &self.rows {
            match row {
                Row::Section(title) => {
                    let dashes = total.saturating_sub(width(title) + 4);
                    out.push_str(&format!("-- {title} {}\n", "-".repeat(dashes)));
                }
                Row::Cells(cells) => out.push_str(&line(cells)),
            }
        }
        out
    }

    pub fn markdown(&self) -> String {
        let escape = |cell: &str| cell.replace('|', "\\|");
        let mut out = format!(
            "| {} |\n|{}\n",
            self.headers
                .iter()
                .map(|h| escape(h))
                .collect::<Vec<_>>()
                .join(" | "),
            "---|".repeat(self.headers.len())
        );
        for row in &self.rows {
            let cells: Vec<String> = match row {
                Row::Section(title) => {
                    let mut cells = vec![format!("**{}**", escape(title))];
                    cells.resize(self.headers.len(), String::new());
                    cells
                }
                Row::Cells(cells) => cells.iter().map(|c| escape(c)).collect(),
            };
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// Digits grouped by thousands: 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn micros(us: u64) -> String {
    if us >= 10_000_000 {
        format!("{:.1} s", us as f64 / 1e6)
    } else {
        format!("{} µs", thousands(us))
    }
}

pub fn seconds(duration: Duration) -> String {
    let s = duration.as_secs_f64();
    if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

pub fn rate(per_second: f64, unit: &str) -> String {
    format!("{} {unit}/s", thousands(per_second.round().max(0.0) as u64))
}

pub fn bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = n as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

/// "pass", or "MISS by <excess>" for a value that must stay at or under `limit`.
pub fn at_most(value: f64, limit: f64, show: impl Fn(f64) -> String) -> String {
    if value <= limit {
        "pass".to_owned()
    } else {
        format!(
            "MISS by {} ({:.2}x target)",
            show(value - limit),
            value / limit
        )
    }
}

/// "pass", or "MISS by <shortfall>" for a value that must reach at least `limit`.
pub fn at_least(value: f64, limit: f64, show: impl Fn(f64) -> String) -> String {
    if value >= limit {
        "pass".to_owned()
    } else {
        format!(
            "MISS by {} ({:.0} % of target)",
            show(limit - value),
            100.0 * value / limit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn verdicts_say_by_how_much() {
        assert_eq!(at_most(900.0, 1000.0, |v| format!("{v}")), "pass");
        assert_eq!(
            at_most(1500.0, 1000.0, |v| format!("{v}")),
            "MISS by 500 (1.50x target)"
        );
        assert_eq!(at_least(100.0, 100.0, |v| format!("{v}")), "pass");
        assert_eq!(
            at_least(75.0, 100.0, |v| format!("{v}")),
            "MISS by 25 (75 % of target)"
        );
    }

    #[test]
    fn markdown_has_a_row_per_line() {
        let mut table = Table::new(vec!["a".into(), "b".into()]);
        table.section("s");
        table.row(vec!["1".into(), "x|y".into()]);
        assert_eq!(
            table.markdown(),
            "| a | b |\n|---|---|\n| **s** |  |\n| 1 | x\\|y |\n"
        );
    }
}
