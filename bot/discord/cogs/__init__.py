"""One cog per feature, each loaded as an extension by :class:`bot.discord.bot.CiteBot`."""
