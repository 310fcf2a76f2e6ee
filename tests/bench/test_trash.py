"""bench/trash.py: trees with many files are removed at the end of the run, their big files at once."""

from __future__ import annotations

import os

from bench import trash


def test_a_tree_is_moved_aside_at_once_and_removed_at_the_end(tmp_path):
    tree = tmp_path / "stack"
    (tree / "blocks" / "ab").mkdir(parents=True)
    for i in range(50):
        (tree / "blocks" / "ab" / f"b{i}").write_bytes(b"x" * 4096)
    big = tree / "blocks" / "big"
    big.write_bytes(b"y" * trash.BIG_FILE)
    os.symlink(big, tree / "link-to-big")
    inode_of_small = (tree / "blocks" / "ab" / "b0").stat().st_ino

    trash.remove_later(tree)

    assert not tree.exists()
    [bin_] = [p for p in tmp_path.iterdir() if p.name.startswith(".bench-trash-")]
    assert bin_ in trash.pending()
    [moved] = list(bin_.iterdir())
    assert (moved / "blocks" / "ab" / "b0").stat().st_ino == inode_of_small  # renamed, not copied
    assert len(list((moved / "blocks" / "ab").iterdir())) == 50  # small files wait for the end
    assert not (moved / "blocks" / "big").exists()  # big files go at once (disk, page cache)
    assert (moved / "link-to-big").is_symlink()  # a link is not followed

    trash.empty()
    assert not bin_.exists()
    assert bin_ not in trash.pending()


def test_files_and_missing_paths(tmp_path):
    small, big = tmp_path / "small", tmp_path / "big"
    small.write_bytes(b"s")
    big.write_bytes(b"b" * (trash.BIG_FILE + 1))
    trash.remove_later(small)
    trash.remove_later(big)
    trash.remove_later(tmp_path / "never-was")
    assert not small.exists() and not big.exists()
    [bin_] = [p for p in tmp_path.iterdir() if p.name.startswith(".bench-trash-")]
    assert [p.name.split("-", 1)[1] for p in bin_.iterdir()] == ["small"]
    trash.empty()
    assert list(tmp_path.iterdir()) == []
