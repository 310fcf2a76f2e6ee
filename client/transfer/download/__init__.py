"""Downloads: one file version into a verified temp file renamed into place, blocks copied from
local files, a staged head start, and many small files in a batch."""
