"""The registration dialog both benchmarks replay: onboarding, then an idea with a tap for every
choice (25 messages)."""

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
    ("say", "Lò Văn A"),
    ("tap", "Bỏ qua"),
    ("tap", "Lai Châu"),
    ("say", "binh lu"),
    ("tap", "Xã Bình Lư"),
    ("say", "Mật ong bạc hà"),
    ("tap", "Thực phẩm"),
    ("tap", "Mật ong"),
    ("say", "Mật ong hoa bạc hà."),
    ("tap", "Trên 75%"),
    ("say", "12"),
    ("tap", "truyền thống"),
    ("say", "Nghề nuôi ong"),
    ("tap", "Trong tỉnh"),
    ("tap", "Bao bì"),
    ("tap", "Lần đầu"),
    ("tap", "Xác nhận"),
]
