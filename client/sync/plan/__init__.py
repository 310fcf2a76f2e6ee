"""The pure planner: the tree node, the reconciler over the three trees, its actions, conflict names."""
