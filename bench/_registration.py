"""The registration dialog both benchmarks replay: onboarding, then an idea with a tap for every
choice (12 messages)."""

from __future__ import annotations

STEPS: list[tuple[str, str]] = [
    ("say", "/start"),
    ("tap", "Tiếng Việt"),
    ("tap", "Chủ thể sản xuất"),
    ("tap", "Tôi đồng ý"),
    ("contact", "+84912345678"),
    ("tap", "Đăng ký sản phẩm"),
    ("tap", "Hợp tác xã"),
    ("say", "HTX Ong mật"),
    ("say", "binh lu"),
    ("say", "Mật ong bạc hà"),
    ("tap", "Đúng"),
    ("tap", "Lần đầu"),
    ("tap", "Xác nhận"),
]
