"""CiteBot on Discord (discord.py 2.x): cogs that turn slash commands, @mentions, replies, DMs
and the "Ask CiteBot" message menu into :class:`bot.service.Question` and render the answer.

``import discord`` inside this package still means the library: imports are absolute.
"""
