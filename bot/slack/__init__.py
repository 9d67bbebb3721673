"""CiteBot on Slack: slack-bolt's AsyncApp as a thin adapter over :class:`bot.service.AnswerService`.

``app`` builds and runs the bolt app (Socket Mode or HTTP), ``http`` translates aiohttp requests,
``listeners`` turns events, commands, the shortcut and button clicks into plain questions and
votes, ``render`` turns answers into Block Kit within Slack's limits, and ``text`` converts Slack's
markup to plain text and back without ever pinging anyone.
"""
