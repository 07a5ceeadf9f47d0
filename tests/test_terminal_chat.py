"""`ocop-bot chat` as a real subprocess: register an idea and upload a photo by typing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.transcript import document_photo

BIN = Path(sys.executable).parent / "ocop-bot"


def test_chat_registers_and_uploads(tmp_path: Path) -> None:
    photo = tmp_path / "mau01.jpg"
    photo.write_bytes(document_photo(4))
    lines = [
        "/start",
        "1",  # Tiếng Việt
        "1",  # producer
        "1",  # agree
        "0912345678",
        "1",  # menu: register
        "2",  # Hợp tác xã
        "HTX Ong mật Bình Lư",
        "Lò Văn A",
        "bo qua",  # skip the registration number, typed
        "lai chau",
        "binh lu",
        "1",
        "Mật ong bạc hà",
        "1",  # Thực phẩm
        "4",  # Mật ong…
        "Mật ong hoa bạc hà.",
        "3",
        "12",
        "2",
        "bo qua",
        "2",
        "1",
        "1",  # new
        "1",  # confirm
        "2",  # menu: send documents
        "1",  # Mẫu 01
        f"/file {photo}",
        "/trangthai",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCOP_")}
    env["OCOP_DATA_DIR"] = str(tmp_path / "var")
    done = subprocess.run(
        [str(BIN), "chat", "--user", "an"],
        input="\n".join(lines) + "\n",
        text=True,
        capture_output=True,
        env=env,
        timeout=180,
        cwd=tmp_path,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Mã hồ sơ của bạn: 1226-" in out or "Mã hồ sơ của bạn: 12" in out, out[-3000:]
    assert "Đã nhận 1 trang" in out, out[-3000:]
    assert "Giấy tờ bắt buộc: 1/" in out
    stored = list((tmp_path / "var" / "media").rglob("*.jpg"))
    assert len(stored) == 1
