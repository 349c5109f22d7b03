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
//! **Insiders.** Each data row is a commune, and a commune knows its own row
//! exactly (its staff see their own figures on the dashboard); each data
//! column is a service, which knows its own column (it sent the events). For
//! such a reader the figures of its line are known: their edges leave the
//! hidden graph, and the same argument says it can recompute a hidden figure
//! iff that edge is a bridge of what remains. So, after the public pass, each
//! data row and each data column in turn is taken as the reader, and every
//! bridge it leaves is closed by the cheapest 4-cycle that avoids its line
//! (a cycle through its line would be known to it). A cycle hidden against
//! one insider may run through another's line, so all readers are gone over
//! again until a round hides nothing; figures are only ever added (which
//! never breaks an earlier cycle), so it ends. The totals row and column
//! belong to no insider, and always offer such a cycle (see
//! `cheapest_cycle`) — except for a total made only of the insider's own
//! figures, every other contribution being a published zero (a column
//! where the commune holds the only non-zero cell, the grand total when
//! every other row is zero): the insider recomputes it, but it is its own
//! number and tells it nothing about anyone else, and as only zeros
//! surround it no suppression could hide it.
//!
//! What is guaranteed: no hidden figure can be recomputed from the published
//! table, neither by the public nor by one commune knowing its own row nor
//! by one service knowing its own column (apart from the insider's own
//! figures and totals just described). What is not: two insiders pooling
//! what they know (two communes, two services, a commune and a service) may
//! recompute figures; bounds are still learnt (a hidden cell is at most its
//! row total when that is shown, ...), and an insider's bounds are tighter;
//! and the greedy choice of cycles is not a minimum-cost suppression. The
//! price is high for small tables: with two data rows, one commune knows
//! the other row from the column totals, so these go, and with them often
//! everything (see the tests). DATA-4 asks that no hidden figure can be
//! *recomputed*; that is what is guaranteed, insiders included.
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
    // Secondary suppression, for the public first (the original phase), then
    // for each insider. A figure hidden for one reader may open a bridge for
    // another (a cycle closed against commune A may run through commune B's
    // row, and B knows it), so the readers are gone over again until a whole
    // round hides nothing. Figures are only ever added, so this ends.
    let readers: Vec<Reader> = std::iter::once(Reader::Public)
        .chain((0..cells.len()).map(Reader::Row))
        .chain((0..columns).map(Reader::Column))
        .collect();
    loop {
        let mut changed = false;
        for &reader in &readers {
            // Each closing hides at least one more figure: were the three
            // other corners already hidden (and, as the cycle avoids the
            // insider's line, still unknown to the reader), the bridge would
            // be on a cycle.
            while let Some((r, c)) = first_exposed(&figures, &hidden, reader) {
                let (r2, c2) = cheapest_cycle(&figures, &hidden, r, c, reader);
                for (i, j) in [(r, c2), (r2, c), (r2, c2)] {
                    hidden[i][j] = true;
                }
                changed = true;
            }
        }
        if !changed {
            break;
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

/// Who reads a published table: anyone, or an insider who also knows one
/// data line of the augmented table exactly (DATA-4, see the module doc).
#[derive(Debug, Clone, Copy)]
enum Reader {
    Public,
    /// A commune: data row `r`, its cells and its row total.
    Row(usize),
    /// A service: data column `c`, its cells and its column total.
    Column(usize),
}

impl Reader {
    /// Whether figure (i, j) of the augmented table is in the reader's line.
    fn knows(self, i: usize, j: usize) -> bool {
        match self {
            Reader::Public => false,
            Reader::Row(r) => i == r,
            Reader::Column(c) => j == c,
        }
    }

    /// The part of figure (i, j) that comes from the reader's own line: all
    /// of it for a figure of the line, the line's cell for the total across
    /// the line (a commune's cell in a column total, a service's cell in a
    /// row total, its own total in the grand total), nothing otherwise.
    fn share(self, figures: &[Vec<u64>], i: usize, j: usize) -> u64 {
        let (totals_row, totals_column) = (figures.len() - 1, figures[0].len() - 1);
        match self {
            Reader::Public => 0,
            Reader::Row(r) if i == r || i == totals_row => figures[r][j],
            Reader::Column(c) if j == c || j == totals_column => figures[i][c],
            Reader::Row(_) | Reader::Column(_) => 0,
        }
    }
}

/// The first hidden figure (row-major order) that `reader` can recompute and
/// that is not the reader's own, if any.
///
/// The reader's line is known to it: its edges leave the hidden graph, its
/// equation says nothing more, and the other equations keep their shape (the
/// known values go to the right-hand side). So, as for the public, a hidden
/// figure is recomputable by the reader iff its edge is a bridge of the
/// hidden graph without the reader's line.
///
/// A figure worth no more than the reader's share of it is the reader's own
/// (e.g. a column total where every other cell is a published 0): it tells
/// the reader nothing it does not know, needs no protection from it, and
/// could get none, as only zeros surround it. Such an edge is a pendant
/// edge of that graph (its other end meets only shown zeros and the
/// reader's line), so leaving it in changes no other bridge.
fn first_exposed(
    figures: &[Vec<u64>],
    hidden: &[Vec<bool>],
    reader: Reader,
) -> Option<(usize, usize)> {
    bridges(hidden, |i, j| !reader.knows(i, j))
        .into_iter()
        .find(|&(i, j)| figures[i][j] > reader.share(figures, i, j))
}

/// The bridges (row-major order) of the bipartite graph whose edges are the
/// hidden figures where `keep` holds, found with Tarjan's low-link algorithm
/// (iterative, so that a long table cannot overflow the stack).
fn bridges(hidden: &[Vec<bool>], keep: impl Fn(usize, usize) -> bool) -> Vec<(usize, usize)> {
    const UNSEEN: usize = usize::MAX;
    let rows = hidden.len();
    let columns = hidden[0].len();
    // Row node i is i, column node j is rows + j. The graph is simple: one
    // figure per (row, column) pair.
    let mut edges = Vec::new();
    let mut adjacency = vec![Vec::new(); rows + columns];
    for (i, row) in hidden.iter().enumerate() {
        for (j, _) in row.iter().enumerate().filter(|&(j, &h)| h && keep(i, j)) {
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
        .filter_map(|(edge, bridge)| bridge.then_some(edge))
        .collect()
}

/// The row r' ≠ r and column c' ≠ c, outside the reader's line, whose
/// 4-cycle (r,c), (r,c'), (r',c'), (r',c) hides the least: smallest sum of
/// newly hidden values, then fewest newly hidden figures, then lowest
/// (r', c'), for a deterministic output. A cycle through the reader's line
/// would not protect (r, c) from it: the reader knows those figures.
///
/// Zero figures are never chosen (see the module doc). For (r, c) hidden
/// (so ≥ 1), outside the reader's line and worth more than the reader's
/// share of it (see [`first_exposed`]), a cycle always exists through the
/// totals row R or the totals column C, which are no insider's line:
/// - a cell (r, c): (r, C), (R, c) and (R, C) are ≥ it;
/// - a row total (r, C): it exceeds the reader's share (0, or the cell of a
///   service reader), so some cell (r, j) ≥ 1 outside the reader's column;
///   then (R, j) and (R, C) are ≥ it (symmetrically for a column total);
/// - the grand total: it exceeds the reader's share (0, or the reader's own
///   total), so some cell (i, j) ≥ 1 lies outside the reader's line; then
///   (i, C) and (R, j) are ≥ it.
fn cheapest_cycle(
    figures: &[Vec<u64>],
    hidden: &[Vec<bool>],
    r: usize,
    c: usize,
    reader: Reader,
) -> (usize, usize) {
    let mut best: Option<(u128, usize, usize, usize)> = None;
    // (r, c) is outside the reader's line, so the cycle avoids it iff r' is
    // not the commune's row and c' not the service's column.
    for r2 in (0..figures.len()).filter(|&i| i != r && !reader.knows(i, c)) {
        for c2 in (0..figures[0].len()).filter(|&j| j != c && !reader.knows(r, j)) {
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
    let (_, _, r2, c2) = best
        .expect("DATA-4: a 4-cycle through the totals, outside the reader's line, always exists");
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
    fn data_4_one_small_cell_gets_the_cheapest_rectangle_for_each_reader() {
        // 20 30 40 |  90
        // 25  5 35 |  65
        // 50 45 60 | 155
        // 95 80 135| 310
        // Public: 5 is hidden. 4-cycles through (1,1): with row 0 and column
        // 0 they add 25+30+20 = 75, the cheapest (row 0, column 2: 105; row
        // 2, column 0: 120; anything through a total: more).
        // Commune 0 knows 20 30 | 90: without its row, 25 and 5 are bridges.
        // For 25, avoiding row 0: row 2 with column 1 adds 50+45 = 95
        // (column 2: 145; the totals row: 175 or more). Communes 1 and 2 then
        // see a rectangle each.
        // Service 0 knows 20 25 50 | 95: 30, 5 and 45 hang on column 1 alone.
        // For 30, avoiding column 0: row 1 with column 2 adds 40+35 = 75
        // (row 2: 100; totals: 155 or more). 45 is still a bridge (row 2
        // has nothing else hidden outside column 0): rows 0 and 1 with
        // column 2 both add the 60 only, row 0 comes first.
        // Services 1 and 2, and a second round, find no bridge left.
        let published = suppress(&[vec![20, 30, 40], vec![25, 5, 35], vec![50, 45, 60]]);
        assert_eq!(
            published,
            Published {
                cells: shown(&[&[None; 3], &[None; 3], &[None; 3]]),
                row_totals: vec![Some(90), Some(65), Some(155)],
                column_totals: vec![Some(95), Some(80), Some(135)],
                total: Some(310),
            }
        );
    }

    #[test]
    fn data_4_a_commune_cannot_recompute_the_other_row() {
        //                 laclasse toodego | total
        // Lyon                  40     500 |   540
        // Villeurbanne           7     300 |   307
        // total                 47     800 |   847
        // Public: 7 is hidden. Cycles through (1,0): Lyon with toodego adds
        // 40+500+300 = 840; Lyon with the totals column 887; the totals row
        // with toodego 1147, with the totals column 1201. So the four cells
        // go; the totals stay, which the public alone cannot undo.
        // Lyon knows 40 500 | 540: 7 and 300 would then be bridges (7 = 47 −
        // 40). Avoiding Lyon's row: totals row with toodego adds 47+800 =
        // 847 (300 is hidden already), with the totals column 307+47+847 =
        // 1201. The column totals go.
        // Villeurbanne (the gap this guards against: 500 = 800 − 300) now
        // sees Lyon's cells and the column totals on a cycle: nothing to do.
        // laclasse knows 40 7 | 47: 500, 300 and 800 hang on toodego alone.
        // For 500, avoiding laclasse: Villeurbanne with the totals column
        // adds 540+307 = 847, the totals row with it 540+847 = 1387. The
        // row totals go. 800 is still a bridge (800 = 847 − 47): Lyon and
        // Villeurbanne with the totals column both add the 847 only, Lyon
        // comes first. The grand total goes.
        // So everything is hidden, and it has to be: a commune knowing its
        // row forces the column totals out, a service knowing its column
        // the row totals, and then the grand total gives the other line's
        // total. toodego and a second round find no bridge.
        let published = suppress(&[vec![40, 500], vec![7, 300]]);
        assert_eq!(
            published,
            Published {
                cells: shown(&[&[None, None], &[None, None]]),
                row_totals: vec![None, None],
                column_totals: vec![None, None],
                total: None,
            }
        );
    }

    #[test]
    fn data_4_an_insider_may_recompute_what_is_only_its_own() {
        //               État civil  Voirie | total
        // Lyon                   3       0 |     3
        // Villeurbanne          12      20 |    32
        // total                 15      20 |    35
        // Public: 3 and 3 are hidden. For (0,0): column Voirie is a zero;
        // Villeurbanne with the totals column adds 12+32 = 44, the totals
        // row with it 15+35 = 50. A rectangle: 3, 3, 12, 32.
        // Lyon knows 3 0 | 3: 12 = 15 − 3. Avoiding Lyon: the totals row
        // with Voirie adds 20+15+20 = 55, with the totals column 15+35 = 50
        // (32 is hidden already). 15 and 35 go.
        // Villeurbanne: Lyon's figures and 15, 35 are on a cycle. The
        // Voirie total 20 hangs alone, but it is Villeurbanne's own 20 (Lyon
        // published 0): nothing to protect.
        // État civil knows 3 12 | 15: Lyon's total 3 is its own 3 (same
        // reason). 32 is a bridge (32 = 12 + 20 along Villeurbanne's row):
        // avoiding État civil, Lyon with Voirie is a zero, the totals row
        // with Voirie adds 20+20 = 40 (35 is hidden already). Villeurbanne's
        // 20 and the Voirie total go.
        // Voirie and a second round find nothing more: only Lyon's 0 stays.
        let published = suppress(&[vec![3, 0], vec![12, 20]]);
        assert_eq!(
            published,
            Published {
                cells: shown(&[&[None, Some(0)], &[None, None]]),
                row_totals: vec![None, None],
                column_totals: vec![None, None],
                total: None,
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
        // Public: through column 1 the rectangle would be free, but zeros
        // are never hidden; the cheapest is row 1, column 2: 20+30+40 = 90.
        // Commune 0 knows 5 0 20 | 25: avoiding its row, for 30 the totals
        // row with column 2 adds 35+60 = 95 (with the totals column 200).
        // Commune 1 then sees a rectangle.
        // Service 0 knows 5 30 | 35: 20, 40 and 60 hang on column 2. For 20:
        // row 1 with the totals column adds 25+70 = 95 (the totals row:
        // 120). 60 is still a bridge (95 − 35): rows 0 and 1 with the totals
        // column both add the 95 only, row 0 first. The grand total goes.
        // Services 1 and 2, and a second round, find nothing more.
        let published = suppress(&[vec![5, 0, 20], vec![30, 0, 40]]);
        assert_eq!(
            published,
            Published {
                cells: shown(&[&[None, Some(0), None], &[None, Some(0), None]]),
                row_totals: vec![None, None],
                column_totals: vec![None, Some(0), None],
                total: None,
            }
        );
    }

    #[test]
    fn data_4_small_row_total_is_hidden() {
        //  3  4 |  7
        // 20 30 | 50
        // 23 34 | 57
        // Public: 3, 4 and 7 are hidden (a star: three bridges). Bridge
        // (0,0): row 1, column 1 adds 20+30 = 50, the cheapest. Then (0,2) is
        // still a bridge: row 1 with column 0 adds only the 50 of row total
        // 1.
        // Commune 0 knows 3 4 | 7: 20, 30 and 50 hang on row 1. For 20,
        // avoiding row 0: the totals row with column 1 adds 23+34 = 57 (with
        // the totals column 80). 50 is still a bridge (its column meets
        // only the shown 57): the totals row with column 0 or 1 adds the 57
        // only, column 0 first. Everything is hidden.
        let published = suppress(&[vec![3, 4], vec![20, 30]]);
        assert_eq!(
            published,
            Published {
                cells: shown(&[&[None, None], &[None, None]]),
                row_totals: vec![None, None],
                column_totals: vec![None, None],
                total: None,
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
        determined_knowing(published, |_, _| false)
    }

    /// As [`determined`], for a reader who also knows exactly the figures of
    /// the augmented table where `known(i, j)` holds: one more equation
    /// x = value for each of them that is hidden (the value itself, again,
    /// plays no part).
    fn determined_knowing(
        published: &Published,
        known: impl Fn(usize, usize) -> bool,
    ) -> Vec<bool> {
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
        for (k, _) in unknowns
            .iter()
            .enumerate()
            .filter(|&(_, &(i, j))| known(i, j))
        {
            equations.push((0..unknowns.len()).map(|l| i128::from(l == k)).collect());
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
        // The same rectangle before insiders were considered: Villeurbanne
        // knows its 7, 300 and 307, so Lyon's 40 = 47 − 7 and 500 = 800 − 300.
        let lyon_villeurbanne = Published {
            cells: shown(&[&[None, None], &[None, None]]),
            row_totals: vec![Some(540), Some(307)],
            column_totals: vec![Some(47), Some(800)],
            total: Some(847),
        };
        assert_eq!(determined(&lyon_villeurbanne), vec![false; 4]);
        assert_eq!(
            determined_knowing(&lyon_villeurbanne, |i, _| i == 1),
            vec![true; 4]
        );
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
        fn data_4_no_insider_can_recompute_another_figure(cells in table()) {
            // A commune knows its own data row, a service its own data column
            // (figures and total). What it may recompute: its own line, and a
            // total made only of its own line (every other contribution is a
            // published zero), e.g. the total of a column where it is the
            // only non-zero cell. Nothing else.
            let published = suppress(&cells);
            let true_table = truth(&cells);
            let (last_row, last_column) = (cells.len(), cells[0].len());
            let hidden: Vec<(usize, usize)> = augmented(&published)
                .iter()
                .enumerate()
                .flat_map(|(i, row)| row.iter().enumerate().filter(|(_, f)| f.is_none()).map(move |(j, _)| (i, j)))
                .collect();
            for insider in 0..last_row {
                let known = |i: usize, _: usize| i == insider;
                let own = |i: usize, j: usize| i == last_row && true_table[i][j] == true_table[insider][j];
                for (&(i, j), d) in hidden.iter().zip(determined_knowing(&published, known)) {
                    prop_assert!(!d || known(i, j) || own(i, j), "row {} recomputes ({}, {}) of {:?} -> {:?}", insider, i, j, cells, published);
                }
            }
            for insider in 0..last_column {
                let known = |_: usize, j: usize| j == insider;
                let own = |i: usize, j: usize| j == last_column && true_table[i][j] == true_table[i][insider];
                for (&(i, j), d) in hidden.iter().zip(determined_knowing(&published, known)) {
                    prop_assert!(!d || known(i, j) || own(i, j), "column {} recomputes ({}, {}) of {:?} -> {:?}", insider, i, j, cells, published);
                }
            }
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
