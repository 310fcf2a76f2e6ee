"""Uploads: one file (hash, open a session, send the missing blocks, commit), a big file sent
while it is hashed, many small files in a batch, and the journal that resumes interrupted ones."""
