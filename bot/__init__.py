"""CiteBot's chat-facing side: CLI, console, rendering and (later) the Slack and Discord apps."""
