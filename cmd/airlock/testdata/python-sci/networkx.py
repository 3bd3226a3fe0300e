# NetworkX: shortest paths, components, a generated graph.
import networkx as nx

n = int(input())
g = nx.Graph()
g.add_weighted_edges_from([(0, 1, 4), (0, 2, 1), (2, 1, 2), (1, 3, 5)])
assert nx.shortest_path(g, 0, 3, weight="weight") == [0, 2, 1, 3]
assert nx.shortest_path_length(g, 0, 3, weight="weight") == 8
g.add_node(99)
assert nx.number_connected_components(g) == 2
assert nx.cycle_graph(n).number_of_edges() == n
print("OK networkx", nx.__version__)
