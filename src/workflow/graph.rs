//! The node graph: edges from connections, a topological order, and the cycle an order cannot
//! be found for.

/// Edges between nodes `0..n`, by connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    /// For each node, the connections (by index) that end at it.
    pub(crate) incoming: Vec<Vec<usize>>,
    /// For each node, the connections (by index) that start at it.
    pub(crate) outgoing: Vec<Vec<usize>>,
    /// Every node in an order where each comes after the nodes it depends on; ties keep the
    /// declaration order.
    pub(crate) order: Vec<usize>,
}

impl Graph {
    /// Builds the graph of `n` nodes from `(from, to)` edges. On a cycle, returns its nodes in
    /// order, the first repeated at the end.
    pub(crate) fn new(n: usize, edges: &[(usize, usize)]) -> Result<Graph, Vec<usize>> {
        let mut incoming = vec![Vec::new(); n];
        let mut outgoing = vec![Vec::new(); n];
        for (i, &(from, to)) in edges.iter().enumerate() {
            outgoing[from].push(i);
            incoming[to].push(i);
        }
        let mut indegree: Vec<usize> = incoming.iter().map(Vec::len).collect();
        let mut ready: std::collections::BTreeSet<usize> =
            (0..n).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(node) = ready.pop_first() {
            order.push(node);
            for &c in &outgoing[node] {
                let to = edges[c].1;
                indegree[to] -= 1;
                if indegree[to] == 0 {
                    ready.insert(to);
                }
            }
        }
        if order.len() < n {
            return Err(find_cycle(n, edges, &indegree));
        }
        Ok(Graph {
            incoming,
            outgoing,
            order,
        })
    }
}

/// A cycle among the nodes Kahn's algorithm could not order (those with indegree left).
fn find_cycle(n: usize, edges: &[(usize, usize)], indegree: &[usize]) -> Vec<usize> {
    // Every node left has a predecessor that is also left; walking predecessors must repeat.
    let left: Vec<bool> = (0..n).map(|i| indegree[i] > 0).collect();
    let start = (0..n).find(|&i| left[i]).expect("a node is left");
    let pred = |node: usize| {
        edges
            .iter()
            .find(|&&(from, to)| to == node && left[from])
            .map(|&(from, _)| from)
            .expect("a left node has a left predecessor")
    };
    let mut seen = vec![usize::MAX; n];
    let mut walk = Vec::new();
    let mut cur = start;
    while seen[cur] == usize::MAX {
        seen[cur] = walk.len();
        walk.push(cur);
        cur = pred(cur);
    }
    let mut cycle: Vec<usize> = walk[seen[cur]..].to_vec();
    // The walk followed edges backwards; present them forwards.
    cycle.reverse();
    // Start at the first declared node of the cycle, so the message does not depend on the walk.
    let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
    cycle.rotate_left(first);
    cycle.push(cycle[0]);
    cycle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_dependencies_first() {
        let g = Graph::new(4, &[(2, 0), (0, 1), (3, 1)]).unwrap();
        assert_eq!(g.order, vec![2, 0, 3, 1]);
        assert_eq!(g.incoming[1], vec![1, 2]);
    }

    #[test]
    fn finds_a_cycle() {
        let cycle = Graph::new(4, &[(0, 1), (1, 2), (2, 1), (3, 0)]).unwrap_err();
        assert_eq!(cycle, vec![1, 2, 1]);
        let cycle = Graph::new(3, &[(0, 1), (1, 2), (2, 0)]).unwrap_err();
        assert_eq!(cycle.len(), 4);
        assert_eq!(cycle.first(), cycle.last());
    }
}
