//! Bar charts laid out by the server (SVG, no script), for the figures pages
//! (SAU-8, DATA-3). The page shows the same figures in a table: the chart is
//! an image with a title, the table its text alternative (RGAA).

/// Height of the bars' area, in SVG units.
pub const HEIGHT: i64 = 160;
/// Width of a bar, and the gap after it.
pub const BAR_WIDTH: i64 = 36;
const GAP: i64 = 12;

/// A bar: its label and value, and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub x: i64,
    pub y: i64,
    pub height: i64,
}

/// Bars for `values`, the tallest filling [`HEIGHT`].
pub fn bars(values: &[(String, i64)]) -> Vec<Bar> {
    let max = values.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    values
        .iter()
        .enumerate()
        .map(|(i, (label, n))| {
            let height = n * HEIGHT / max;
            Bar {
                label: label.clone(),
                value: *n,
                x: 10 + i as i64 * (BAR_WIDTH + GAP),
                y: 10 + HEIGHT - height,
                height,
            }
        })
        .collect()
}

/// The chart's width for `n` bars.
pub fn width(n: usize) -> i64 {
    20 + n as i64 * (BAR_WIDTH + GAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tallest_bar_fills_the_height() {
        let b = bars(&[("a".into(), 5), ("b".into(), 10), ("c".into(), 0)]);
        assert_eq!((b[0].height, b[1].height, b[2].height), (80, 160, 0));
        assert_eq!((b[0].x, b[1].x), (10, 58));
        assert_eq!(b[1].y, 10);
        assert_eq!(width(3), 164);
        assert!(bars(&[]).is_empty());
    }
}
