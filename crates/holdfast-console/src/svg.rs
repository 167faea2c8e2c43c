//! Charts as inline SVG, drawn here (no script): horizontal bars per bucket and mode, and a
//! column chart of a histogram. Each has a title and description for screen readers; the
//! pages print the same figures in a table beside it.

use crate::html::esc;

/// One row of a bar chart: a label and its values, one per series.
pub struct Row {
    pub label: String,
    pub values: Vec<u64>,
}

/// Grouped horizontal bars: one group per row, one bar per series (`classes` colour them).
pub fn bars(title: &str, rows: &[Row], classes: &[&str], fmt: fn(u64) -> String) -> String {
    let max = rows.iter().flat_map(|r| r.values.iter().copied()).max().unwrap_or(0).max(1);
    let (label_w, bar_w, bar_h, gap) = (160.0, 420.0, 14.0, 10.0);
    let group_h = classes.len() as f64 * (bar_h + 2.0) + gap;
    let height = (rows.len() as f64 * group_h).max(group_h) + 10.0;
    let mut out = format!(
        "<svg role=\"img\" aria-labelledby=\"t-{id}\" viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"t-{id}\">{t}</title>",
        id = slug(title),
        w = label_w + bar_w + 120.0,
        t = esc(title)
    );
    for (i, row) in rows.iter().enumerate() {
        let y0 = i as f64 * group_h + 5.0;
        out.push_str(&format!("<text x=\"0\" y=\"{}\">{}</text>", y0 + bar_h, esc(&truncate(&row.label, 22))));
        for (j, v) in row.values.iter().enumerate() {
            let y = y0 + j as f64 * (bar_h + 2.0);
            let w = (*v as f64 / max as f64 * bar_w).max(if *v > 0 { 2.0 } else { 0.0 });
            out.push_str(&format!(
                "<rect class=\"{}\" x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bar_h}\"></rect>\
                 <text x=\"{}\" y=\"{}\">{}</text>",
                classes.get(j).copied().unwrap_or("bar-month"),
                label_w + w + 4.0,
                y + bar_h - 3.0,
                esc(&fmt(*v))
            ));
        }
    }
    out.push_str("</svg>");
    out
}

/// A column chart: one column per (label, value), e.g. versions whose retention ends that month.
pub fn columns(title: &str, cols: &[(String, u64)]) -> String {
    let max = cols.iter().map(|c| c.1).max().unwrap_or(0).max(1);
    let (col_w, gap, plot_h) = (34.0, 8.0, 160.0);
    let width = (cols.len() as f64 * (col_w + gap)).max(200.0) + 10.0;
    let mut out = format!(
        "<svg role=\"img\" aria-labelledby=\"t-{id}\" viewBox=\"0 0 {width} {h}\" width=\"{width}\" height=\"{h}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"t-{id}\">{t}</title>",
        id = slug(title),
        h = plot_h + 60.0,
        t = esc(title)
    );
    for (i, (label, v)) in cols.iter().enumerate() {
        let x = 5.0 + i as f64 * (col_w + gap);
        let h = (*v as f64 / max as f64 * plot_h).max(if *v > 0 { 2.0 } else { 0.0 });
        let y = 20.0 + plot_h - h;
        out.push_str(&format!(
            "<rect class=\"bar-month\" x=\"{x}\" y=\"{y:.1}\" width=\"{col_w}\" height=\"{h:.1}\"></rect>\
             <text x=\"{x}\" y=\"{:.1}\">{v}</text>\
             <text x=\"{x}\" y=\"{}\" transform=\"rotate(40 {x} {})\">{}</text>",
            y - 4.0,
            plot_h + 34.0,
            plot_h + 34.0,
            esc(label)
        ));
    }
    out.push_str("</svg>");
    out
}

fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_owned() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_and_scale() {
        let s = bars("t", &[Row { label: "<b>".into(), values: vec![10, 5, 0] }], &["a", "b", "c"], |v| v.to_string());
        assert!(s.contains("&lt;b&gt;") && s.contains("width=\"420.0\"") && s.contains("width=\"210.0\""));
        let c = columns("m", &[("2027-01".into(), 3)]);
        assert!(c.contains("2027-01") && c.starts_with("<svg"));
    }
}
