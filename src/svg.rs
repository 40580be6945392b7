//! Small inline SVG charts drawn at build time: no JavaScript chart library,
//! colours from CSS variables so they follow light and dark mode.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// One labelled point per period, with up to two series (e.g. list and billed).
pub struct Series<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub values: Vec<Decimal>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line chart with axis labels; `label` formats a value for the axis and titles.
pub fn lines(
    labels: &[String],
    series: &[Series],
    label: &dyn Fn(Decimal) -> String,
    title: &str,
) -> String {
    let (w, h, left, bottom, top, right) = (720.0, 240.0, 84.0, 28.0, 12.0, 36.0);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter())
        .copied()
        .max()
        .unwrap_or_default()
        .max(Decimal::ONE);
    let max = nice(max);
    let n = labels.len().max(1);
    let x = |i: usize| {
        if n == 1 {
            left + (w - left - right) / 2.0
        } else {
            left + (w - left - right) * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: Decimal| {
        top + (h - top - bottom) * (1.0 - (v / max).to_f64().unwrap_or(0.0).clamp(-0.2, 1.0))
    };
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\"><title>{}</title>",
        esc(title),
        esc(title)
    );
    for k in 0..=4 {
        let v = max * Decimal::from(k) / Decimal::from(4);
        let yy = y(v);
        out.push_str(&format!("<line class=\"grid\" x1=\"{left}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/><text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>", w - right, left - 6.0, yy + 4.0, esc(&label(v))));
    }
    let step = n.div_ceil(12).max(1);
    for (i, l) in labels.iter().enumerate() {
        if i % step == 0 || i == n - 1 {
            out.push_str(&format!(
                "<text class=\"axis\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x(i),
                h - 8.0,
                esc(l)
            ));
        }
    }
    for s in series {
        let pts: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        out.push_str(&format!(
            "<polyline class=\"{}\" fill=\"none\" points=\"{}\"/>",
            esc(s.class),
            pts.join(" ")
        ));
        for (i, v) in s.values.iter().enumerate() {
            out.push_str(&format!("<circle class=\"{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"><title>{} {}: {}</title></circle>", esc(s.class), x(i), y(*v), esc(&labels[i]), esc(s.name), esc(&label(*v))));
        }
    }
    out.push_str("</svg>");
    out
}

/// A round axis maximum at or above `v`: 1, 2 or 5 times a power of ten.
fn nice(v: Decimal) -> Decimal {
    let mut p = Decimal::ONE;
    while p * Decimal::TEN <= v {
        p *= Decimal::TEN;
    }
    for m in [1, 2, 5, 10] {
        let c = p * Decimal::from(m);
        if c >= v {
            return c;
        }
    }
    p * Decimal::TEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_scales() {
        let s = lines(
            &["<a>".into()],
            &[Series {
                name: "billed",
                class: "billed",
                values: vec![Decimal::from(1234)],
            }],
            &|d| d.to_string(),
            "t",
        );
        assert!(s.contains("&lt;a&gt;") && !s.contains("<a>"));
        assert_eq!(nice(Decimal::from(1234)), Decimal::from(2000));
    }
}
