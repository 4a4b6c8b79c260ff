"""Starting and supervising the datapath processes."""
