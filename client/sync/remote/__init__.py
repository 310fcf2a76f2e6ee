"""The server side of sync: the change feed pulled into the remote tree, and the prefetch of large
files other devices are still uploading."""
