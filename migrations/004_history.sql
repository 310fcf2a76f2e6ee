-- File history (metaserver/history.py): the revisions a path has had are its file rows in the
-- journal (commits, restores, moves onto it, and deletions, which keep the last rev).
CREATE INDEX journal_file_history ON journal (ns_id, path_key, seq) WHERE kind = 'file';
