//! Small-count suppression for published tables (DATA-4: any figure published
//! outside the platform hides cells under 11, with secondary suppression so
//! that totals cannot give them away).
//!
//! A table is R rows × C columns of counts, published with its row totals,
//! its column totals and its grand total. Together they form the
//! (R+1)×(C+1) *augmented* table: row R holds the column totals, column C
//! holds the row totals and (R, C) holds the grand total.
//!
//! **Primary suppression.** Every figure (cell or total) from 1 to 10 is
//! hidden. Zero is shown: it stands for nobody, so there is nobody to
//! protect, and hiding it would only cost information.
//!
//! **Secondary suppression.** Read each figure of the augmented table as an
//! edge between a row node (R data rows + the totals row) and a column node
//! (C data columns + the totals column). Every node carries one published
//! equation (a row adds up to its total, the column totals add up to the grand
//! total, ...), so the shown figures give, for each node, the signed sum of
//! its hidden edges. A hidden figure can then be recomputed exactly if and
//! only if its edge is a *bridge* of the graph of hidden edges (on no cycle):
//! a cycle lets one add +1/−1 alternately along it and keep every equation.
//! So we hide more figures until no hidden edge is a bridge: for a bridge
//! (r, c) we close the cheapest 4-cycle r–c–r'–c' (cost = sum of the values
//! newly hidden). Only figures ≥ 1 are ever hidden; with every hidden figure
//! ≥ 1, shifting by ±1 along a cycle keeps all values non-negative, so
//! non-negativity cannot pin a value either.
//!
//! What this does not promise: an attacker still learns bounds (a hidden cell
//! is at most its row total when that is shown, ...), and the greedy choice of
//! cycles is not a minimum-cost suppression. DATA-4 asks that no hidden figure
//! can be *recomputed*; that is what is guaranteed.
//!
//! An empty table (no row, or rows of no column) has no figure to hide: its
//! totals are all zero and shown, e.g. `suppress(&[])` has no cells, no row or
//! column totals and a grand total of `Some(0)`.

/// DATA-4: figures under this value (and above zero) are never published.
pub const THRESHOLD: u64 = 11;

/// A table ready to leave the platform: `None` is a hidden figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// `cells[i][j]`, R rows of C columns.
    pub cells: Vec<Vec<Option<u64>>>,
    /// One total per row.
    pub row_totals: Vec<Option<u64>>,
    /// One total per column.
    pub column_totals: Vec<Option<u64>>,
    /// The grand total.
    pub total: Option<u64>,
}

/// Computes the totals of `cells` and hides what DATA-4 requires.
///
/// # Panics
/// If the rows do not all have the same length (a programming error), or if a
/// total overflows `u64`.
pub fn suppress(cells: &[Vec<u64>]) -> Published {
    let columns = cells.first().map_or(0, Vec::len);
    assert!(
        cells.iter().all(|row| row.len() == columns),
        "DATA-4 suppression: ragged table"
    );
    let figures = augment(cells, columns);
    // Primary suppression (DATA-4): 1 to 10 is hidden, 0 is shown.
    let mut hidden: Vec<Vec<bool>> = figures
        .iter()
        .map(|row| row.iter().map(|&v| (1..THRESHOLD).contains(&v)).collect())
        .collect();
    // Secondary suppression: each round hides at least one more figure
    // (a bridge's 4-cycle cannot be fully hidden already, or the bridge would
    // be on a cycle), so this ends.
    while let Some((r, c)) = first_bridge(&hidden) {
        let (r2, c2) = cheapest_cycle(&figures, &hidden, r, c);
        for (i, j) in [(r, c2), (r2, c), (r2, c2)] {
            hidden[i][j] = true;
        }
    }
    publish(&figures, &hidden)
}

/// The (R+1)×(C+1) table: cells, row totals in the last column, column totals
/// in the last row, grand total in the corner.
fn augment(cells: &[Vec<u64>], columns: usize) -> Vec<Vec<u64>> {
    let add = |a: u64, b: u64| a.checked_add(b).expect("DATA-4: total overflows u64");
    let mut figures: Vec<Vec<u64>> = cells
        .iter()
        .map(|row| {
            let mut row = row.clone();
            row.push(row.iter().copied().fold(0, add));
            row
        })
        .collect();
    let totals = (0..=columns)
        .map(|j| figures.iter().map(|row| row[j]).fold(0, add))
        .collect();
    figures.push(totals);
    figures
}

/// The first bridge (row-major order) of the bipartite graph whose edges are
/// the hidden figures, found with Tarjan's low-link algorithm (iterative, so
/// that a long table cannot overflow the stack).
fn first_bridge(hidden: &[Vec<bool>]) -> Option<(usize, usize)> {
    const UNSEEN: usize = usize::MAX;
    let rows = hidden.len();
    let columns = hidden[0].len();
    // Row node i is i, column node j is rows + j. The graph is simple: one
    // figure per (row, column) pair.
    let mut edges = Vec::new();
    let mut adjacency = vec![Vec::new(); rows + columns];
    for (i, row) in hidden.iter().enumerate() {
        for (j, _) in row.iter().enumerate().filter(|(_, h)| **h) {
            adjacency[i].push((rows + j, edges.len()));
            adjacency[rows + j].push((i, edges.len()));
            edges.push((i, j));
        }
    }
    let mut order = vec![UNSEEN; rows + columns];
    let mut low = vec![0; rows + columns];
    let mut is_bridge = vec![false; edges.len()];
    let mut time = 0;
    for root in 0..rows + columns {
        if order[root] != UNSEEN {
            continue;
        }
        order[root] = time;
        low[root] = time;
        time += 1;
        // Frames: (node, edge it was entered by, next adjacency index).
        let mut stack = vec![(root, UNSEEN, 0)];
        while let Some(frame) = stack.last_mut() {
            let (node, via) = (frame.0, frame.1);
            if let Some(&(next, edge)) = adjacency[node].get(frame.2) {
                frame.2 += 1;
                if edge == via {
                    continue;
                }
                if order[next] == UNSEEN {
                    order[next] = time;
                    low[next] = time;
                    time += 1;
                    stack.push((next, edge, 0));
                } else {
                    low[node] = low[node].min(order[next]);
                }
            } else {
                stack.pop();
                if let Some(&(parent, _, _)) = stack.last() {
                    low[parent] = low[parent].min(low[node]);
                    if low[node] > order[parent] {
                        is_bridge[via] = true;
                    }
                }
            }
        }
    }
    edges
        .into_iter()
        .zip(is_bridge)
        .find_map(|(edge, bridge)| bridge.then_some(edge))
}

/// The row r' ≠ r and column c' ≠ c whose 4-cycle (r,c), (r,c'), (r',c'),
/// (r',c) hides the least: smallest sum of newly hidden values, then fewest
/// newly hidden figures, then lowest (r', c'), for a deterministic output.
///
/// Zero figures are never chosen (see the module doc). A cycle always exists
/// through the totals, as (r, c) is hidden so ≥ 1:
/// - a cell (r, c): its row total, column total and the grand total are ≥ it;
/// - a row total (r, C): some cell (r, j) ≥ 1, then column total j and the
///   grand total are ≥ it (and symmetrically for a column total);
/// - the grand total: some cell (i, j) ≥ 1, then row total i and column
///   total j are ≥ it.
fn cheapest_cycle(
    figures: &[Vec<u64>],
    hidden: &[Vec<bool>],
    r: usize,
    c: usize,
) -> (usize, usize) {
    let mut best: Option<(u128, usize, usize, usize)> = None;
    for r2 in (0..figures.len()).filter(|&i| i != r) {
        for c2 in (0..figures[0].len()).filter(|&j| j != c) {
            let corners = [(r, c2), (r2, c), (r2, c2)];
            if corners.iter().any(|&(i, j)| figures[i][j] == 0) {
                continue;
            }
            let new = corners.iter().filter(|&&(i, j)| !hidden[i][j]);
            let cost = new.clone().map(|&(i, j)| u128::from(figures[i][j])).sum();
            let key = (cost, new.count(), r2, c2);
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
    }
    let (_, _, r2, c2) = best.expect("DATA-4: a 4-cycle through the totals always exists");
    (r2, c2)
}

fn publish(figures: &[Vec<u64>], hidden: &[Vec<bool>]) -> Published {
    let shown: Vec<Vec<Option<u64>>> = figures
        .iter()
        .zip(hidden)
        .map(|(row, hid)| {
            row.iter()
                .zip(hid)
                .map(|(&v, &h)| (!h).then_some(v))
                .collect()
        })
        .collect();
    let (totals_row, data_rows) = shown.split_last().expect("the totals row is always there");
    let (&total, column_totals) = totals_row
        .split_last()
        .expect("the totals column is always there");
    Published {
        cells: data_rows
            .iter()
            .map(|row| row[..row.len() - 1].to_vec())
            .collect(),
        row_totals: data_rows.iter().map(|row| row[row.len() - 1]).collect(),
        column_totals: column_totals.to_vec(),
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn shown(cells: &[&[Option<u64>]]) -> Vec<Vec<Option<u64>>> {
        cells.iter().map(|row| row.to_vec()).collect()
    }

    #[test]
    fn data_4_one_small_cell_gets_the_cheapest_rectangle() {
        // 20 30 40 |  90
        // 25  5 35 |  65
        // 50 45 60 | 155
        // 95 80 135| 310
        // 5 is hidden. 4-cycles through (1,1): with row 0 and column 0 they
        // add 25+30+20 = 75, the cheapest (row 0, column 2: 105; row 2,
        // column 0: 120; anything through a total: more).
        let published = suppress(&[vec![20, 30, 40], vec![25, 5, 35], vec![50, 45, 60]]);
        assert_eq!(
            published,
            Published {
                cells: shown(&[
                    &[None, None, Some(40)],
                    &[None, None, Some(35)],
                    &[Some(50), Some(45), Some(60)]
                ]),
                row_totals: vec![Some(90), Some(65), Some(155)],
                column_totals: vec![Some(95), Some(80), Some(135)],
                total: Some(310),
            }
        );
    }

    #[test]
    fn data_4_table_without_small_figure_is_untouched() {
        let published = suppress(&[vec![11, 0, 40], vec![25, 12, 0]]);
        assert_eq!(
            published,
            Published {
                cells: shown(&[
                    &[Some(11), Some(0), Some(40)],
                    &[Some(25), Some(12), Some(0)]
                ]),
                row_totals: vec![Some(51), Some(37)],
                column_totals: vec![Some(36), Some(12), Some(40)],
                total: Some(88),
            }
        );
    }

    #[test]
    fn data_4_zeros_stay_visible_and_are_never_chosen() {
        //  5 0 20 | 25
        // 30 0 40 | 70
        // 35 0 60 | 95
        // Through column 1 the rectangle would be free, but zeros are never
        // hidden; the cheapest is row 1, column 2: 20+30+40 = 90.
        let published = suppress(&[vec![5, 0, 20], vec![30, 0, 40]]);
        assert_eq!(
            published,
            Published {
                cells: shown(&[&[None, Some(0), None], &[None, Some(0), None]]),
                row_totals: vec![Some(25), Some(70)],
                column_totals: vec![Some(35), Some(0), Some(60)],
                total: Some(95),
            }
        );
    }

    #[test]
    fn data_4_small_row_total_is_hidden() {
        //  3  4 |  7
        // 20 30 | 50
        // 23 34 | 57
        // 3, 4 and 7 are hidden (a star: three bridges). Bridge (0,0): row 1,
        // column 1 adds 20+30 = 50, the cheapest. Then (0,2) is still a
        // bridge: row 1 with column 0 adds only the 50 of row total 1.
        let published = suppress(&[vec![3, 4], vec![20, 30]]);
        assert_eq!(
            published,
            Published {
                cells: shown(&[&[None, None], &[None, None]]),
                row_totals: vec![None, None],
                column_totals: vec![Some(23), Some(34)],
                total: Some(57),
            }
        );
    }

    #[test]
    fn data_4_single_small_cell_hides_its_totals() {
        let published = suppress(&[vec![5]]);
        assert_eq!(
            published,
            Published {
                cells: vec![vec![None]],
                row_totals: vec![None],
                column_totals: vec![None],
                total: None
            }
        );
        let published = suppress(&[vec![11]]);
        assert_eq!(published.total, Some(11));
        assert_eq!(published.cells, vec![vec![Some(11)]]);
    }

    #[test]
    fn data_4_empty_tables_publish_zero_totals() {
        let empty = Published {
            cells: vec![],
            row_totals: vec![],
            column_totals: vec![],
            total: Some(0),
        };
        assert_eq!(suppress(&[]), empty);
        let no_column = suppress(&[vec![], vec![]]);
        assert_eq!(no_column.cells, vec![Vec::<Option<u64>>::new(); 2]);
        assert_eq!(no_column.row_totals, vec![Some(0), Some(0)]);
        assert!(no_column.column_totals.is_empty());
        assert_eq!(no_column.total, Some(0));
    }

    #[test]
    #[should_panic(expected = "ragged")]
    fn data_4_ragged_table_is_a_programming_error() {
        suppress(&[vec![1, 2], vec![3]]);
    }

    // ----- Independent check by linear algebra (no graph, no float). -----

    /// The augmented published table: (R+1)×(C+1), totals last.
    fn augmented(published: &Published) -> Vec<Vec<Option<u64>>> {
        let mut rows: Vec<Vec<Option<u64>>> = published
            .cells
            .iter()
            .zip(&published.row_totals)
            .map(|(row, &total)| row.iter().copied().chain([total]).collect())
            .collect();
        rows.push(
            published
                .column_totals
                .iter()
                .copied()
                .chain([published.total])
                .collect(),
        );
        rows
    }

    /// For each hidden figure (row-major order), whether the published
    /// equations determine it. The equations, over the hidden unknowns only
    /// (shown values go to the right-hand side, which plays no part in
    /// whether an unknown is determined):
    /// - data row i: Σ_j x_ij − r_i = 0; data column j: Σ_i x_ij − c_j = 0;
    /// - totals row: Σ_j c_j − g = 0; totals column: Σ_i r_i − g = 0.
    ///
    /// An unknown is determined iff its unit vector is in the row space,
    /// i.e. appending it does not raise the rank.
    fn determined(published: &Published) -> Vec<bool> {
        let table = augmented(published);
        let (last_row, last_column) = (table.len() - 1, table[0].len() - 1);
        let unknowns: Vec<(usize, usize)> = (0..=last_row)
            .flat_map(|i| (0..=last_column).map(move |j| (i, j)))
            .filter(|&(i, j)| table[i][j].is_none())
            .collect();
        let mut equations = Vec::new();
        for i in 0..=last_row {
            // Row i: its figures sum to its last one (row total, or grand total).
            let coefficient = |&(ui, uj): &(usize, usize)| match (ui == i, uj == last_column) {
                (false, _) => 0,
                (true, false) => 1,
                (true, true) => -1,
            };
            equations.push(unknowns.iter().map(coefficient).collect::<Vec<i128>>());
        }
        for j in 0..=last_column {
            let coefficient = |&(ui, uj): &(usize, usize)| match (uj == j, ui == last_row) {
                (false, _) => 0,
                (true, false) => 1,
                (true, true) => -1,
            };
            equations.push(unknowns.iter().map(coefficient).collect::<Vec<i128>>());
        }
        let base = rank(equations.clone());
        (0..unknowns.len())
            .map(|k| {
                let mut with_unit = equations.clone();
                with_unit.push((0..unknowns.len()).map(|l| i128::from(l == k)).collect());
                rank(with_unit) == base
            })
            .collect()
    }

    fn gcd(a: i128, b: i128) -> i128 {
        if b == 0 { a.abs() } else { gcd(b, a % b) }
    }

    /// Exact rank: integer Gaussian elimination, each row divided by the gcd
    /// of its entries to keep them small (checked, never silently wrong).
    fn rank(mut m: Vec<Vec<i128>>) -> usize {
        let width = m.first().map_or(0, Vec::len);
        let mut rank = 0;
        for column in 0..width {
            let Some(p) = (rank..m.len()).find(|&i| m[i][column] != 0) else {
                continue;
            };
            m.swap(rank, p);
            let pivot = m[rank].clone();
            for row in m.iter_mut().skip(rank + 1) {
                let factor = row[column];
                if factor == 0 {
                    continue;
                }
                for (x, &y) in row.iter_mut().zip(&pivot) {
                    *x = x
                        .checked_mul(pivot[column])
                        .and_then(|a| a.checked_sub(y.checked_mul(factor)?))
                        .expect("rank: overflow");
                }
                let g = row.iter().fold(0, |g, &x| gcd(g, x));
                if g > 1 {
                    row.iter_mut().for_each(|x| *x /= g);
                }
            }
            rank += 1;
        }
        rank
    }

    #[test]
    fn data_4_checker_sees_a_recomputable_cell() {
        // Primary suppression alone: 5 = 25 − 20 from its row total.
        let only_primary = Published {
            cells: shown(&[&[None, Some(20)], &[Some(20), Some(20)]]),
            row_totals: vec![Some(25), Some(40)],
            column_totals: vec![Some(25), Some(40)],
            total: Some(65),
        };
        assert_eq!(determined(&only_primary), vec![true]);
        // A rectangle protects all four.
        let rectangle = Published {
            cells: shown(&[&[None, None], &[None, None]]),
            row_totals: vec![Some(25), Some(40)],
            column_totals: vec![Some(25), Some(40)],
            total: Some(65),
        };
        assert_eq!(determined(&rectangle), vec![false; 4]);
    }

    /// Counts where zeros and small values are frequent.
    fn count() -> impl Strategy<Value = u64> {
        prop_oneof![2 => Just(0u64), 5 => 1..=12u64, 3 => 0..=30u64]
    }

    fn table() -> impl Strategy<Value = Vec<Vec<u64>>> {
        (1..=6usize, 1..=6usize).prop_flat_map(|(rows, columns)| vec(vec(count(), columns), rows))
    }

    /// The true augmented table, computed here independently.
    fn truth(cells: &[Vec<u64>]) -> Vec<Vec<u64>> {
        let mut rows: Vec<Vec<u64>> = cells
            .iter()
            .map(|row| row.iter().copied().chain([row.iter().sum()]).collect())
            .collect();
        let totals = (0..rows[0].len())
            .map(|j| rows.iter().map(|row| row[j]).sum())
            .collect();
        rows.push(totals);
        rows
    }

    proptest! {
        #[test]
        fn data_4_every_small_figure_is_hidden(cells in table()) {
            let published = augmented(&suppress(&cells));
            for (row, true_row) in published.iter().zip(truth(&cells)) {
                for (&figure, value) in row.iter().zip(true_row) {
                    if (1..=10).contains(&value) {
                        prop_assert_eq!(figure, None);
                    }
                }
            }
        }

        #[test]
        fn data_4_hidden_figures_are_at_least_one(cells in table()) {
            let published = augmented(&suppress(&cells));
            for (row, true_row) in published.iter().zip(truth(&cells)) {
                for (&figure, value) in row.iter().zip(true_row) {
                    if figure.is_none() {
                        prop_assert!(value >= 1);
                    }
                }
            }
        }

        #[test]
        fn data_4_no_hidden_figure_can_be_recomputed(cells in table()) {
            let published = suppress(&cells);
            prop_assert!(determined(&published).iter().all(|&d| !d), "{:?} -> {:?}", cells, published);
        }

        #[test]
        fn data_4_shown_figures_are_true(cells in table()) {
            let published = suppress(&cells);
            prop_assert_eq!(published.cells.len(), cells.len());
            let shown = augmented(&published);
            for (row, true_row) in shown.iter().zip(truth(&cells)) {
                prop_assert_eq!(row.len(), true_row.len());
                for (&figure, value) in row.iter().zip(true_row) {
                    if let Some(figure) = figure {
                        prop_assert_eq!(figure, value);
                    }
                }
            }
        }

        #[test]
        fn data_4_suppression_is_deterministic(cells in table()) {
            prop_assert_eq!(suppress(&cells), suppress(&cells));
        }
    }
}
