"""A namespace's tree: its entries, the changes to them (mkdir, delete, move, restore), the
history of its files, and the journal every change is written to (and the change feed reads).
"""
