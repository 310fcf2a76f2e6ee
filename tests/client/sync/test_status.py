"""The status file the daemon writes and `tessera status` reads."""

from __future__ import annotations

from client.sync.status import SyncStatus, read_status, write_status


def test_status_file_round_trip(tmp_path):
    status = SyncStatus(root="/x", device="laptop")
    status.pending_uploads = [f"/f{i}" for i in range(60)]
    with status.transfer("/big.bin", "download") as progress:
        progress.phase("download", 100)
        progress.advance(40)
        write_status(tmp_path / "status.json", status.to_json())
    doc = read_status(tmp_path / "status.json")
    assert doc["pending"]["uploads"] == 60 and len(doc["pending"]["upload_paths"]) == 50
    assert doc["transfers"] == [
        {"path": "/big.bin", "direction": "download", "phase": "download", "done": 40, "total": 100}
    ]
    assert status.transfers == {}
    (tmp_path / "bad.json").write_text("{not json")
    assert read_status(tmp_path / "bad.json") is None and read_status(tmp_path / "none.json") is None
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
