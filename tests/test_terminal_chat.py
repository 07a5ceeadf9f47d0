"""`ocop-bot chat` as a real subprocess: register an idea and upload a photo by typing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.transcript import document_photo

BIN = Path(sys.executable).parent / "ocop-bot"
# The log format of bot/logging_setup.py: "2026-12-01 09:00:00,123 INFO name: message".
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ", re.MULTILINE)


def test_chat_registers_and_uploads(tmp_path: Path) -> None:
    photo = tmp_path / "mau01.jpg"
    photo.write_bytes(document_photo(4))
    lines = [
        "/start",
        "1",  # Tiếng Việt
        "1",  # producer
        "1",  # agree
        "0912345678",
        "1",  # menu: register the idea (who, where, which product, which kind)
        "2",  # Hợp tác xã
        "HTX Ong mật Bình Lư",
        "binh lu",  # the province is guessed from the commune
        "Mật ong bạc hà",
        "1",  # the guessed criteria set: yes
        "1",  # Đánh giá lần đầu
        "1",  # the check screen: confirm
        "2",  # menu: send documents
        "1",  # the rest of Mẫu 01, from the checklist
        "Lò Văn A",
        "bo qua",  # skip the registration number, typed
        "Mật ong hoa bạc hà.",
        "3",  # over 75% local
        "12",  # workers
        "2",  # a local tradition
        "bo qua",
        "2",  # sold in the province
        "1",  # packaging
        "2",  # back at the checklist: Phiếu đăng ký (Mẫu 01)
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
    assert "Kiểm tra lại thông tin đăng ký" in out and "Xã Bình Lư, Lai Châu" in out, out[-3000:]
    assert "Mã hồ sơ của bạn: 12" in out, out[-3000:]
    assert "Đã lưu thông tin Mẫu 01" in out, out[-3000:]
    assert "Hãy chọn một trong các lựa chọn" not in out, out[-3000:]  # every line understood
    assert "Đã nhận 1 trang" in out, out[-3000:]
    assert "Giấy tờ bắt buộc: 1/" in out
    stored = list((tmp_path / "var" / "media").rglob("*.jpg"))
    assert len(stored) == 1
    # A quiet terminal: no log line between the bot's prompt and the person's typing...
    assert not LOG_LINE.search(out), LOG_LINE.findall(out)
    assert not LOG_LINE.search(done.stderr), done.stderr[-2000:]
    # ...they went to a file under the data directory, whose path was printed once.
    log_file = tmp_path / "var" / "logs" / "ocop-bot.log"
    assert done.stderr.count("Logs go to") == 1 and str(log_file) in done.stderr
    assert LOG_LINE.search(log_file.read_text(encoding="utf-8"))


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCOP_")}
    env["OCOP_DATA_DIR"] = str(tmp_path / "var")
    return env


def test_chat_verbose_shows_logs(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN), "chat", "-v", "--user", "an"],
        input="/start\n",
        text=True,
        capture_output=True,
        env=_env(tmp_path),
        timeout=180,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert LOG_LINE.search(done.stderr) and "Logs go to" not in done.stderr
    assert not (tmp_path / "var" / "logs").exists()


def test_run_in_a_terminal_is_quiet(tmp_path: Path) -> None:
    """``run`` with no channel and a terminal on stdin: a conversation, logs in the file."""
    import pty

    leader, follower = pty.openpty()
    transcript = tmp_path / "out.txt"
    with transcript.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN), "run"],
            stdin=follower,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**_env(tmp_path), "OCOP_WEB_PORT": "0"},
            cwd=tmp_path,
        )
        os.close(follower)
        try:
            os.write(leader, b"/start\n")
            os.write(leader, b"\x04")  # Ctrl+D: the chat ends, and with it the bot
            assert proc.wait(timeout=180) == 0, transcript.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(leader)
    text = transcript.read_text(encoding="utf-8")
    assert "No chat channel configured: talking in this terminal" in text
    assert "Logs go to" in text and not LOG_LINE.search(text), text
    assert LOG_LINE.search((tmp_path / "var" / "logs" / "ocop-bot.log").read_text())
