"""The web side for officers (the desk), served by the same aiohttp app as the webhooks."""

from bot.web.desk import Desk

__all__ = ["Desk"]
